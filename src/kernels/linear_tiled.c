/* linear_tiled.c — ISA-independent blocking for mv_linear and attention: splits the product into
 * (M-block × N-block) work items for the pool, converts each weight block to f32 panels once per item
 * and runs the ISA's register-tiled micro-kernel over it. Small M uses the ISA's direct GEMV instead,
 * since packing would cost more than the single pass over x it is reused for. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"

enum {
    GEMV_MAX_M = 3,    /* M up to this uses the direct kernel (weights read once per 4 rows of x) */
    GEMV_BLOCK_N = 64, /* weight rows per GEMV work item */
    BLOCK_M = 256,     /* x rows per work item: the packed weights are reused this often */
    PANELS_N = 2,      /* nr-column panels per work item */
    BLOCK_K = 256,     /* k per packed block: one panel stays in L1 while x rows stream past */
};

typedef struct tiled_job {
    const mv_gemm_isa *isa;
    float *y;
    const float *x;
    int M, N, K;
    const mv_matrix *w;
    const float *bias;
    int blocks_n;
    float *packs; /* one packed block per pool thread */
} tiled_job;

static int imin(int a, int b) { return a < b ? a : b; }

static void gemv_item(void *ctx, int block, int thread) {
    (void)thread;
    const tiled_job *j = ctx;
    int n0 = block * GEMV_BLOCK_N, n1 = imin(j->N, n0 + GEMV_BLOCK_N);
    j->isa->gemv(j->x, j->M, j->K, j->w->data, j->w->dtype, (size_t)j->K, n0, n1, j->bias, j->y, j->N);
}

static void tiled_item(void *ctx, int item, int thread) {
    const tiled_job *j = ctx;
    const int nr = j->isa->nr, mr = j->isa->mr, nc = nr * PANELS_N;
    int m0 = (item / j->blocks_n) * BLOCK_M, m1 = imin(j->M, m0 + BLOCK_M);
    int n0 = (item % j->blocks_n) * nc, ncols = imin(j->N - n0, nc);
    float *pack = j->packs + (size_t)thread * nc * BLOCK_K;
    for (int k0 = 0; k0 < j->K; k0 += BLOCK_K) {
        int kc = imin(BLOCK_K, j->K - k0);
        j->isa->pack(j->w, n0, ncols, k0, kc, pack);
        for (int p = 0; p * nr < ncols; p++) {
            int c0 = p * nr, cols = imin(nr, ncols - c0);
            const float *bias = j->bias ? j->bias + n0 + c0 : NULL;
            for (int m = m0; m < m1; m += mr)
                j->isa->tile(j->x + (size_t)m * j->K + k0, j->K, imin(mr, m1 - m), pack + (size_t)c0 * kc, nr, kc,
                             j->y + (size_t)m * j->N + n0 + c0, j->N, cols, bias, k0 > 0);
        }
    }
}

void mv_linear_tiled(const mv_gemm_isa *isa, mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w,
                     const float *bias) {
    tiled_job j = { isa, y, x, M, w->rows, w->cols, w, bias, 0, NULL };
    if (M <= 0 || j.N <= 0) return;
    if (j.K <= 0) { /* empty sum: y is the bias */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < j.N; n++) y[(size_t)m * j.N + n] = bias ? bias[n] : 0.f;
        return;
    }
    if (M <= GEMV_MAX_M) {
        mv_pool_for(pool, (j.N + GEMV_BLOCK_N - 1) / GEMV_BLOCK_N, gemv_item, &j);
        return;
    }
    const int nc = isa->nr * PANELS_N;
    j.blocks_n = (j.N + nc - 1) / nc;
    size_t per_thread = (size_t)nc * BLOCK_K * sizeof(float);
    j.packs = aligned_alloc(64, per_thread * (size_t)mv_pool_threads(pool));
    if (!j.packs) { /* no memory for the panels: the direct kernel needs none */
        mv_pool_for(pool, (j.N + GEMV_BLOCK_N - 1) / GEMV_BLOCK_N, gemv_item, &j);
        return;
    }
    mv_pool_for(pool, j.blocks_n * ((M + BLOCK_M - 1) / BLOCK_M), tiled_item, &j);
    free(j.packs);
}

enum { ATT_BLOCK_Q = 32 }; /* queries whose score rows are kept at once */

/* Keys query i (0-based in the call) may see. */
static int att_keys(int i, int nk, int causal, int q_offset) {
    return causal ? imin(nk, q_offset + i + 1) : nk;
}

/* Scale, softmax over the visible keys and zero the rest up to `width`, so P·V can run over the block. */
static void att_probs(float *s, int width, int n, float scale, void (*softmax)(float *, int)) {
    for (int t = 0; t < n; t++) s[t] *= scale;
    softmax(s, n);
    if (width > n) memset(s + n, 0, (size_t)(width - n) * sizeof *s);
}

/* out[rows, d] = P[rows, keys] · V[keys, d] with the register tile, V read in place. */
static void att_pv(const mv_gemm_isa *isa, float *out, int out_stride, const float *p, int ldp, int rows,
                   const float *v, int kv_stride, int keys, int d) {
    for (int t0 = 0; t0 < d; t0 += isa->nr)
        for (int m = 0; m < rows; m += isa->mr)
            isa->tile(p + (size_t)m * ldp, ldp, imin(isa->mr, rows - m), v + t0, kv_stride, keys,
                      out + (size_t)m * out_stride + t0, out_stride, imin(isa->nr, d - t0), NULL, 0);
}

/* Few queries (decode): scores by the direct kernel, keys read in place, no packing. */
static void att_direct(const mv_gemm_isa *isa, void (*softmax)(float *, int), float *out, int out_stride,
                       const float *q, int q_stride, const float *k, const float *v, int kv_stride, int nq, int nk,
                       int d, float scale, int causal, int q_offset, float *scratch) {
    for (int i = 0; i < nq; i++) {
        int n = att_keys(i, nk, causal, q_offset);
        isa->gemv(q + (size_t)i * q_stride, 1, d, k, MV_F32, (size_t)kv_stride, 0, n, NULL, scratch, n);
        att_probs(scratch, n, n, scale, softmax);
        att_pv(isa, out + (size_t)i * out_stride, out_stride, scratch, n, 1, v, kv_stride, n, d);
    }
}

void mv_attention_tiled(const mv_gemm_isa *isa, void (*softmax)(float *x, int n), float *out, int out_stride,
                        const float *q, int q_stride, const float *k, const float *v, int kv_stride, int nq, int nk,
                        int d, float scale, int causal, int q_offset, float *scratch) {
    if (nq <= 0 || nk <= 0 || d <= 0) return;
    if (nq <= GEMV_MAX_M) {
        att_direct(isa, softmax, out, out_stride, q, q_stride, k, v, kv_stride, nq, nk, d, scale, causal, q_offset,
                   scratch);
        return;
    }
    const int nr = isa->nr, nk_pad = (nk + nr - 1) / nr * nr;
    float *kp = aligned_alloc(64, (size_t)nk_pad * (size_t)d * sizeof(float));
    float *s = aligned_alloc(64, (size_t)ATT_BLOCK_Q * (size_t)nk_pad * sizeof(float));
    if (!kp || !s) {
        free(kp);
        free(s);
        att_direct(isa, softmax, out, out_stride, q, q_stride, k, v, kv_stride, nq, nk, d, scale, causal, q_offset,
                   scratch);
        return;
    }
    /* Kᵀ as panels of nr keys, packed once and reused by every query block. */
    const mv_matrix km = { MV_F32, k, nk, kv_stride };
    isa->pack(&km, 0, nk, 0, d, kp);
    for (int i0 = 0; i0 < nq; i0 += ATT_BLOCK_Q) {
        const int rows = imin(ATT_BLOCK_Q, nq - i0), keys = att_keys(i0 + rows - 1, nk, causal, q_offset);
        for (int j0 = 0; j0 < keys; j0 += nr)
            for (int m = 0; m < rows; m += isa->mr)
                isa->tile(q + (size_t)(i0 + m) * q_stride, q_stride, imin(isa->mr, rows - m), kp + (size_t)j0 * d,
                          nr, d, s + (size_t)m * nk_pad + j0, nk_pad, imin(nr, keys - j0), NULL, 0);
        for (int m = 0; m < rows; m++)
            att_probs(s + (size_t)m * nk_pad, keys, att_keys(i0 + m, nk, causal, q_offset), scale, softmax);
        att_pv(isa, out + (size_t)i0 * out_stride, out_stride, s, nk_pad, rows, v, kv_stride, keys, d);
    }
    free(kp);
    free(s);
}
