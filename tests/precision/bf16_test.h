/* bf16_test.h — helpers the BF16 precision tests share: a seeded uniform generator and BF16 rounding. */
#ifndef MV_TESTS_BF16_TEST_H
#define MV_TESTS_BF16_TEST_H

#include <stdlib.h>

#include "io/safetensors.h"
#include "kernels/quant.h"

/* xorshift64 step of *state, as a float uniform in [-1, 1). */
static inline float bf16_test_uniform(unsigned long long *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (float)((*state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* f rounded to BF16 (nearest even), as a float. */
static inline float bf16_round(float f) { return mv_bf16_to_f32(mv_f32_to_bf16(f)); }

/* A weight format: a plain dtype, or a block-quantized one (codes and scales). */
typedef struct wformat {
    mv_dtype dt;
    mv_qtype qt;
} wformat;

/* Weights of format f from wf (N rows of K) into *w; wf then holds the values the format stores.
 * Returns the allocation to free. */
static inline void *make_weights(wformat f, float *wf, int N, int K, mv_matrix *w) {
    const size_t n = (size_t)N * K;
    *w = (mv_matrix){ .dtype = f.dt, .rows = N, .cols = K, .qtype = f.qt };
    if (f.qt != MV_Q_NONE) { /* codes, then the F16 scales */
        const size_t row_bytes = mv_q_row_bytes(f.qt, K);
        char *buf = malloc((size_t)N * row_bytes + (size_t)N * (K / MV_QBLOCK) * 2);
        uint16_t *scales = (uint16_t *)(buf + (size_t)N * row_bytes);
        for (int r = 0; r < N; r++)
            mv_q_quantize_row(f.qt, MV_F32, wf + (size_t)r * K, K, buf + (size_t)r * row_bytes,
                              scales + (size_t)r * (K / MV_QBLOCK));
        w->dtype = mv_q_code_dtype(f.qt);
        w->data = buf;
        w->scales = scales;
        for (int r = 0; r < N; r++) mv_q_dequant(w, r, 0, K, wf + (size_t)r * K);
        return buf;
    }
    void *d = malloc(n * mv_dtype_size(f.dt));
    for (size_t i = 0; i < n; i++) {
        if (f.dt == MV_BF16) ((uint16_t *)d)[i] = mv_f32_to_bf16(wf[i]), wf[i] = mv_bf16_to_f32(((uint16_t *)d)[i]);
        else if (f.dt == MV_F16) ((uint16_t *)d)[i] = mv_f32_to_f16(wf[i]), wf[i] = mv_f16_to_f32(((uint16_t *)d)[i]);
        else ((float *)d)[i] = wf[i];
    }
    w->data = d;
    return d;
}

#endif
