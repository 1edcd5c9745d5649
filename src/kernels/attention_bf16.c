/* attention_bf16.c — full (non-causal) multi-head attention of precision bf16, as the vision encoder
 * runs it: per head, S = bf16(Q)·bf16(K)ᵀ and O = bf16(P)·bf16(V) on the BF16 GEMM (FP32 sums), the
 * scaled softmax in FP32 between them — the arithmetic of PyTorch's BF16 scaled_dot_product_attention.
 * Each head's K rows and Vᵀ are gathered and rounded to BF16 once (the GEMM's packer then copies BF16
 * pairs); then work items of (head, block of queries) run in parallel, each with its own score block
 * small enough to stay in L2 (a whole head's 1025 × 1056 scores did not, and writing and re-reading
 * them from memory made the BF16 path no faster than FP32), its two products on the calling thread.
 * In FP32 this attention was a fifth of a 448 tile's time. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"

enum { QUERY_BLOCK = 64 }; /* queries per work item: 64 × 1056 scores are 270 KB */

/* Keys and head size padded for the BF16 converter and packer, which work in whole MV_BF16_KA runs. */
static size_t pad_bf16(size_t n) { return (n + MV_BF16_KA - 1) / MV_BF16_KA * MV_BF16_KA; }

/* Scale the first `cols` scores of each of `rows` rows (ld apart) and softmax them; zero the padding
 * after them (keys that do not exist), so the P·V product may run over it. */
static void softmax_rows(float *s, int rows, int cols, int ld, float scale) {
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * ld;
        for (int c = 0; c < cols; c++) row[c] *= scale;
        mv_softmax(row, cols);
        memset(row + cols, 0, (size_t)(ld - cols) * sizeof *row);
    }
}

/* Columns [c0, c0 + d) of n rows `stride` apart as a dense [n, ld] block (ld ≥ d), or transposed as
 * [d, ld] (ld ≥ n), zero padded. Source rows are read in order either way. */
static void gather(float *dst, size_t ld, const float *src, int stride, int n, int c0, int d, int transpose) {
    for (int i = 0; i < n; i++) {
        const float *row = src + (size_t)i * stride + c0;
        if (transpose)
            for (int c = 0; c < d; c++) dst[(size_t)c * ld + i] = row[c];
        else {
            memcpy(dst + (size_t)i * ld, row, (size_t)d * sizeof *dst);
            memset(dst + (size_t)i * ld + d, 0, (ld - (size_t)d) * sizeof *dst);
        }
    }
    if (transpose)
        for (int c = 0; c < d; c++) memset(dst + (size_t)c * ld + n, 0, (ld - (size_t)n) * sizeof *dst);
}

/* The same rounded to BF16 (ld a multiple of 32; tmp holds rows·ld floats, dst is 64-byte aligned). */
static void gather_bf16(uint16_t *dst, float *tmp, size_t ld, const float *src, int stride, int n, int c0, int d,
                        int transpose) {
    const int rows = transpose ? d : n;
    gather(tmp, ld, src, stride, n, c0, d, transpose);
    mv_bf16_convert_avx512(dst, tmp, (int)ld, (int)ld, 0, rows);
}

typedef struct att_job {
    const float *q, *k, *v;
    float *out;
    int q_stride, kv_stride, out_stride, n_heads, d, nq, nk, n_blocks;
    size_t dp, nkp;    /* head_dim and keys padded (pad_bf16) */
    float scale;
    uint16_t *kb, *vtb; /* per head: K [nkp, dp] and Vᵀ [d, nkp] in BF16, zero padded */
    float *scratch;     /* per thread: queries [QUERY_BLOCK, dp], scores [QUERY_BLOCK, nkp], out [QUERY_BLOCK, d] */
    size_t scratch_len;
    atomic_int failed;  /* an item's product found no scratch memory */
} att_job;

static void prepare_head(void *ctx, int h, int thread) {
    const att_job *j = ctx;
    float *tmp = j->scratch + (size_t)thread * j->scratch_len; /* nkp·dp floats fit in the thread's scratch */
    uint16_t *kb = j->kb + (size_t)h * j->nkp * j->dp, *vtb = j->vtb + (size_t)h * j->d * j->nkp;
    gather_bf16(kb, tmp, j->dp, j->k, j->kv_stride, j->nk, h * j->d, j->d, 0);
    memset(kb + (size_t)j->nk * j->dp, 0, (j->nkp - (size_t)j->nk) * j->dp * sizeof *kb);
    gather_bf16(vtb, tmp, j->nkp, j->v, j->kv_stride, j->nk, h * j->d, j->d, 1);
}

static void attend_block(void *ctx, int item, int thread) {
    att_job *j = ctx;
    const int h = item / j->n_blocks, i0 = (item % j->n_blocks) * QUERY_BLOCK;
    const int rows = j->nq - i0 < QUERY_BLOCK ? j->nq - i0 : QUERY_BLOCK;
    const mv_matrix keys = { .dtype = MV_BF16, .data = j->kb + (size_t)h * j->nkp * j->dp, .rows = (int)j->nkp, .cols = (int)j->dp };
    const mv_matrix values_t = { .dtype = MV_BF16, .data = j->vtb + (size_t)h * j->d * j->nkp, .rows = j->d, .cols = (int)j->nkp };
    float *qb = j->scratch + (size_t)thread * j->scratch_len, *s = qb + QUERY_BLOCK * j->dp;
    float *ob = s + QUERY_BLOCK * j->nkp;
    gather(qb, j->dp, j->q + (size_t)i0 * j->q_stride, j->q_stride, rows, h * j->d, j->d, 0);
    if (!mv_linear_bf16(NULL, s, qb, rows, &keys, NULL)) {
        atomic_store(&j->failed, 1);
        return;
    }
    softmax_rows(s, rows, j->nk, (int)j->nkp, j->scale);
    if (!mv_linear_bf16(NULL, ob, s, rows, &values_t, NULL)) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int i = 0; i < rows; i++)
        memcpy(j->out + (size_t)(i0 + i) * j->out_stride + (size_t)h * j->d, ob + (size_t)i * j->d, (size_t)j->d * sizeof *ob);
}

/* Keys and head dimensions are zero-padded (pad_bf16): zero rows of K score 0 and get probability 0
 * (softmax_rows zeroes them), zero columns add nothing. */
int mv_attention_bf16(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                      const float *v, int kv_stride, int n_heads, int head_dim, int nq, int nk, float scale) {
    if (strcmp(mv_bf16_kernel(), "none") == 0 || n_heads <= 0 || head_dim <= 0 || nq <= 0 || nk <= 0) return 0;
    att_job j = { q, k, v, out, q_stride, kv_stride, out_stride, n_heads, head_dim, nq, nk,
                  (nq + QUERY_BLOCK - 1) / QUERY_BLOCK, pad_bf16((size_t)head_dim), pad_bf16((size_t)nk), scale,
                  NULL, NULL, NULL, 0, 0 };
    const size_t block = QUERY_BLOCK * (j.dp + j.nkp + (size_t)head_dim), prep = j.nkp * j.dp;
    j.scratch_len = block > prep ? block : prep;
    j.kb = mv_alloc64((size_t)n_heads * j.nkp * j.dp * sizeof *j.kb);
    j.vtb = mv_alloc64((size_t)n_heads * (size_t)head_dim * j.nkp * sizeof *j.vtb);
    j.scratch = malloc((size_t)mv_pool_threads(pool) * j.scratch_len * sizeof *j.scratch);
    const int ready = j.kb && j.vtb && j.scratch;
    if (ready) {
        mv_pool_for(pool, n_heads, prepare_head, &j);
        mv_pool_for(pool, n_heads * j.n_blocks, attend_block, &j);
    }
    free(j.kb);
    free(j.vtb);
    free(j.scratch);
    return ready && !atomic_load(&j.failed);
}
