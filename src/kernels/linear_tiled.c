/* linear_tiled.c — ISA-independent blocking for mv_linear: splits the product into
 * (M-block × N-block) work items for the pool, converts each weight block to f32 panels once per item
 * and runs the ISA's register-tiled micro-kernel over it. Small M uses the ISA's direct GEMV instead,
 * since packing would cost more than the single pass over x it is reused for. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant.h"

enum {
    /* M up to this uses the direct kernel (weights read once per 4 rows of x). Batched decode lives
     * here: on InternVL2-1B a 4-row step took 4.6x a 2-row one through the packed path (the BF16->F32
     * panel conversion is paid per call), 1.4x through this one; still ahead at 16 rows. */
    GEMV_MAX_M = 16,
    QGEMV_MAX_M = 3,   /* quantized weights: M up to this takes the integer kernel (quant.c) */
    GEMV_MIN_ROWS = 64, /* weight rows per GEMV work item, at least */
    /* x rows per work item, at most: the packed weights are reused this often; M is cut into equal
     * blocks. At 512 a vision tile's 1025 rows packed every weight 3 times (pack ~4.9% of an f32
     * tile's samples; one block: ~2.0%) */
    BLOCK_M = 1536,
    ITEMS_PER_THREAD = 4, /* fewer column blocks than this per thread: M is cut further, for balance */
    PANELS_N = 2, /* nr-column panels per work item */
    /* k per packed block. Each block of k adds into the outputs: at 256 (a panel in L1) that round
     * trip of the sums through L2 cost more than reading 1024-k panels from L2 does. With BLOCK_M 256
     * → 512 as well: FP32 prefill (BF16 weights) ~207 → ~246 tok/s, f32 vision tile ~5.0 → ~4.4 s. */
    BLOCK_K = 1024,
};

typedef struct tiled_job {
    const mv_gemm_isa *isa;
    float *y;
    const float *x;
    int M, N, K;
    const mv_matrix *w;
    const float *bias;
    int blocks_n, rows_per_block;
    int gemv_rows; /* weight rows per GEMV work item */
    float *packs;  /* one packed block per pool thread */
} tiled_job;

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static void gemv_item(void *ctx, int block, int thread) {
    (void)thread;
    const tiled_job *j = ctx;
    int n0 = block * j->gemv_rows, n1 = imin(j->N, n0 + j->gemv_rows);
    j->isa->gemv(j->x, j->M, j->K, j->w->data, j->w->dtype, (size_t)j->K, n0, n1, j->bias, j->y, j->N);
}

static void tiled_item(void *ctx, int item, int thread) {
    const tiled_job *j = ctx;
    const int nr = j->isa->nr, mr = j->isa->mr, nc = nr * PANELS_N;
    int m0 = (item / j->blocks_n) * j->rows_per_block, m1 = imin(j->M, m0 + j->rows_per_block);
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
    tiled_job j = { isa, y, x, M, w->rows, w->cols, w, bias, 0, 0,
                    mv_stream_rows_per_item(w->rows, mv_pool_threads(pool), GEMV_MIN_ROWS), NULL };
    if (M <= 0 || j.N <= 0) return;
    if (j.K <= 0) { /* empty sum: y is the bias */
        for (int m = 0; m < M; m++)
            for (int n = 0; n < j.N; n++) y[(size_t)m * j.N + n] = bias ? bias[n] : 0.f;
        return;
    }
    if (w->qtype != MV_Q_NONE && M <= QGEMV_MAX_M) {
        mv_linear_q(pool, y, x, M, w, bias);
        return;
    }
    if (w->qtype == MV_Q_NONE && M <= GEMV_MAX_M) { /* the direct kernel reads plain dtypes only */
        mv_pool_for(pool, (j.N + j.gemv_rows - 1) / j.gemv_rows, gemv_item, &j);
        return;
    }
    const int nc = isa->nr * PANELS_N;
    j.blocks_n = (j.N + nc - 1) / nc;
    const int want_m = (ITEMS_PER_THREAD * mv_pool_threads(pool) + j.blocks_n - 1) / j.blocks_n;
    const int blocks_m = imin(imax((M + BLOCK_M - 1) / BLOCK_M, want_m), (M + isa->mr - 1) / isa->mr);
    j.rows_per_block = ((M + blocks_m - 1) / blocks_m + isa->mr - 1) / isa->mr * isa->mr;
    size_t per_thread = (size_t)nc * BLOCK_K * sizeof(float);
    j.packs = aligned_alloc(64, per_thread * (size_t)mv_pool_threads(pool));
    if (!j.packs && w->qtype != MV_Q_NONE) {
        mv_linear_q(pool, y, x, M, w, bias);
        return;
    }
    if (!j.packs) { /* no memory for the panels: the direct kernel needs none */
        mv_pool_for(pool, (j.N + j.gemv_rows - 1) / j.gemv_rows, gemv_item, &j);
        return;
    }
    mv_pool_for(pool, j.blocks_n * ((M + j.rows_per_block - 1) / j.rows_per_block), tiled_item, &j);
    free(j.packs);
}
