/* error.h — internal error reporting: every failing call fills an mv_error (may be NULL). */
#ifndef MV_BASE_ERROR_H
#define MV_BASE_ERROR_H

#include "minivl.h"

#if defined(__GNUC__)
#define MV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MV_PRINTF(a, b)
#endif

/* Fill err (if not NULL) with code and a formatted message; returns code so callers can
 * `return mv_set_error(err, MV_ERR_FORMAT, "...")`. */
mv_status mv_set_error(mv_error *err, mv_status code, const char *fmt, ...) MV_PRINTF(3, 4);

/* Prefix an existing message with context ("model.safetensors: ") keeping the code. */
mv_status mv_error_prefix(mv_error *err, const char *fmt, ...) MV_PRINTF(2, 3);

#endif
