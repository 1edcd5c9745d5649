#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mv_status mv_set_error(mv_error *err, mv_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

mv_status mv_error_prefix(mv_error *err, const char *fmt, ...) {
    if (!err) return MV_ERR_INTERNAL;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[sizeof err->message];
    size_t plen = strlen(prefix), cap = sizeof joined - 1;
    if (plen > cap) plen = cap;
    memcpy(joined, prefix, plen);
    size_t mlen = strnlen(err->message, sizeof err->message);
    if (mlen > cap - plen) mlen = cap - plen;
    memcpy(joined + plen, err->message, mlen);
    joined[plen + mlen] = 0;
    memcpy(err->message, joined, sizeof joined);
    return err->code;
}

const char *mv_status_name(mv_status s) {
    switch (s) {
    case MV_OK: return "MV_OK";
    case MV_ERR_ARG: return "MV_ERR_ARG";
    case MV_ERR_IO: return "MV_ERR_IO";
    case MV_ERR_FORMAT: return "MV_ERR_FORMAT";
    case MV_ERR_CONFIG: return "MV_ERR_CONFIG";
    case MV_ERR_UNSUPPORTED: return "MV_ERR_UNSUPPORTED";
    case MV_ERR_IMAGE: return "MV_ERR_IMAGE";
    case MV_ERR_CONTEXT: return "MV_ERR_CONTEXT";
    case MV_ERR_NOMEM: return "MV_ERR_NOMEM";
    case MV_ERR_CANCELLED: return "MV_ERR_CANCELLED";
    case MV_ERR_INTERNAL: return "MV_ERR_INTERNAL";
    }
    return "MV_ERR_UNKNOWN";
}

void mv_free(void *p) { free(p); }
