/* testutil.h — tiny assertion and golden-file helpers shared by every test program. */
#ifndef MV_TESTUTIL_H
#define MV_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/safetensors.h"
#include "minivl.h"

extern int mvt_failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            mvt_failures++;                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
        }                                                                                 \
    } while (0)

/* Abort the test (counted as failure) when a call does not return MV_OK. */
#define CHECK_OK(call, err)                                                               \
    do {                                                                                  \
        mv_status rc_ = (call);                                                           \
        if (rc_ != MV_OK) {                                                               \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #call,           \
                    mv_status_name(rc_), (err)->message);                                 \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* Exit code for main(): prints a summary. */
int mvt_done(const char *test_name);

/* Path under ../shared, or under the build tree (static buffer rotation: valid for a few calls). */
const char *mvt_shared(const char *rel);
const char *mvt_build(const char *rel);
const char *mvt_source(const char *rel);

/* Compare |got-ref| <= atol + rtol*|ref| elementwise; reports the worst element and counts a failure. */
int mvt_allclose(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol);

/* Open a golden safetensors file and fetch a tensor as freshly malloc'd float / int64 arrays
 * (F32/F16/BF16 or I64/I32/U8 sources). Returns NULL (and a failure) when absent. */
float *mvt_tensor_f32(const mv_safetensors *st, const char *name, size_t *n);
int64_t *mvt_tensor_i64(const mv_safetensors *st, const char *name, size_t *n);

/* Run a shell command, capturing stdout (malloc'd) and returning its exit status (-1 on failure). */
int mvt_run(const char *cmd, char **out);

/* Write bytes to a file; returns 0 on success. */
int mvt_write_file(const char *path, const void *data, size_t n);

/* Make build/<dir_rel>/ and write name there holding data[0..n); returns the directory (static
 * buffer, valid until the next call). */
const char *mvt_build_dir_file(const char *dir_rel, const char *name, const void *data, size_t n);

/* sha256 of a file as 64 lowercase hex digits + NUL; returns 0 on success. */
int mvt_sha256_file(const char *path, char hex[65]);

#endif
