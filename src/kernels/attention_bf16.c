/* attention_bf16.c — full (non-causal) multi-head attention of precision bf16, as the vision encoder
 * runs it: per head, S = bf16(Q)·bf16(K)ᵀ and O = bf16(P)·bf16(V) with the BF16 GEMM's block kernel
 * (FP32 sums), the scaled softmax in FP32 between them — the arithmetic of PyTorch's BF16
 * scaled_dot_product_attention. Each head's K and Vᵀ are rounded to BF16 and packed into the GEMM's
 * panel layout once (packing them per query block, through mv_linear_bf16, repeated the work 17
 * times a head); then work items of (head, block of queries) run in parallel, each with its own score
 * block small enough to stay in L2 (a whole head's 1025 × 1056 scores did not, and writing and
 * re-reading them from memory made the BF16 path no faster than FP32). In FP32 this attention was a
 * fifth of a 448 tile's time. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"

enum { QUERY_BLOCK = 64 }; /* queries per work item: 64 × 1056 scores are 270 KB */

/* Keys and head size padded for the BF16 converter and packer, which work in whole MV_BF16_KA runs. */
static size_t pad_bf16(size_t n) { return (n + MV_BF16_KA - 1) / MV_BF16_KA * MV_BF16_KA; }

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
    size_t dp, nkp, dvp; /* head_dim and keys padded (pad_bf16), head_dim padded to whole panels */
    float scale;
    mv_bf16_block_fn block;
    uint32_t *kpan, *vpan; /* per head: K as panels of 32 keys over dp, Vᵀ as panels of 32 dims over nkp */
    float *scratch;        /* per thread, see item_scratch / prepare_head */
    size_t scratch_len;    /* floats */
} att_job;

static size_t kpan_words(const att_job *j) { return j->nkp * j->dp / 2; }
static size_t vpan_words(const att_job *j) { return j->dvp * j->nkp / 2; }

/* Rounds head h's K [nk, d] and Vᵀ [d, nk] to BF16 (zero padded) in the thread's scratch and packs
 * them: K panels of MV_BF16_NR keys, Vᵀ panels of MV_BF16_NR head dimensions. */
static void prepare_head(void *ctx, int h, int thread) {
    const att_job *j = ctx;
    float *tmp = j->scratch + (size_t)thread * j->scratch_len; /* nkp·dp floats, then nkp·dp BF16 */
    uint16_t *b16 = (uint16_t *)(tmp + j->nkp * j->dp);
    uint32_t *kp = j->kpan + (size_t)h * kpan_words(j), *vp = j->vpan + (size_t)h * vpan_words(j);
    gather_bf16(b16, tmp, j->dp, j->k, j->kv_stride, j->nk, h * j->d, j->d, 0);
    memset(b16 + (size_t)j->nk * j->dp, 0, (j->nkp - (size_t)j->nk) * j->dp * sizeof *b16);
    for (size_t n0 = 0; n0 < j->nkp; n0 += MV_BF16_NR)
        mv_bf16_pack_avx512(b16 + n0 * j->dp, j->dp, MV_BF16_NR, (int)j->dp / 2, kp + n0 * j->dp / 2);
    gather_bf16(b16, tmp, j->nkp, j->v, j->kv_stride, j->nk, h * j->d, j->d, 1);
    for (int n0 = 0; n0 < j->d; n0 += MV_BF16_NR)
        mv_bf16_pack_avx512(b16 + (size_t)n0 * j->nkp, j->nkp, j->d - n0, (int)j->nkp / 2, vp + (size_t)n0 * j->nkp / 2);
}

/* y[rows, N] = xb · Wᵀ over the packed panels of W (N columns, Kp wide; slices of MV_BF16_KC as the
 * GEMM driver cuts them, so the sums round as they did through it). */
static void panel_product(const att_job *j, const uint16_t *xb, int rows, int Kp, const uint32_t *panels, int N,
                          float *y) {
    const mv_bf16_job job = { xb, NULL, y, rows, N, Kp };
    for (int n0 = 0; n0 < N; n0 += MV_BF16_NR) {
        const uint32_t *panel = panels + (size_t)n0 * (size_t)Kp / 2;
        for (int k0 = 0; k0 < Kp; k0 += MV_BF16_KC) {
            const int kc = Kp - k0 < MV_BF16_KC ? Kp - k0 : MV_BF16_KC;
            const uint32_t *slice = panel + (size_t)k0 / 2 * MV_BF16_NR;
            if (!j->block(&job, 0, rows, slice, n0, k0, kc)) /* AMX refused: the AVX-512 kernel always runs */
                mv_bf16_block_avx512(&job, 0, rows, slice, n0, k0, kc);
        }
    }
}

/* Scratch of one item: queries in f32 and BF16, scores, probabilities in BF16, outputs (rows padded
 * to MV_BF16_MA with zeros where the kernel reads them). */
typedef struct item_scratch {
    float *qf, *s, *o;
    uint16_t *qb, *pb;
} item_scratch;

static size_t item_floats(size_t dp, size_t nkp, size_t d) {
    return QUERY_BLOCK * (dp + dp / 2 + nkp + nkp / 2 + d);
}

static item_scratch item_scratch_at(const att_job *j, int thread) {
    item_scratch t;
    t.qf = j->scratch + (size_t)thread * j->scratch_len;
    t.qb = (uint16_t *)(t.qf + QUERY_BLOCK * j->dp);
    t.s = t.qf + QUERY_BLOCK * (j->dp + j->dp / 2);
    t.pb = (uint16_t *)(t.s + QUERY_BLOCK * j->nkp);
    t.o = t.s + QUERY_BLOCK * (j->nkp + j->nkp / 2);
    return t;
}

static void attend_block(void *ctx, int item, int thread) {
    const att_job *j = ctx;
    const int h = item / j->n_blocks, i0 = (item % j->n_blocks) * QUERY_BLOCK;
    const int rows = j->nq - i0 < QUERY_BLOCK ? j->nq - i0 : QUERY_BLOCK;
    const int padded = (rows + MV_BF16_MA - 1) / MV_BF16_MA * MV_BF16_MA;
    const item_scratch t = item_scratch_at(j, thread);
    gather(t.qf, j->dp, j->q + (size_t)i0 * j->q_stride, j->q_stride, rows, h * j->d, j->d, 0);
    mv_bf16_convert_avx512(t.qb, t.qf, (int)j->dp, (int)j->dp, 0, rows);
    memset(t.qb + (size_t)rows * j->dp, 0, (size_t)(padded - rows) * j->dp * sizeof *t.qb);
    panel_product(j, t.qb, rows, (int)j->dp, j->kpan + (size_t)h * kpan_words(j), (int)j->nkp, t.s);
    for (int r = 0; r < rows; r++) /* padding keys (zero rows of K) get probability 0 */
        mv_softmax_scaled_avx512(t.s + (size_t)r * j->nkp, j->nk, (int)j->nkp, j->scale);
    mv_bf16_convert_avx512(t.pb, t.s, (int)j->nkp, (int)j->nkp, 0, rows);
    memset(t.pb + (size_t)rows * j->nkp, 0, (size_t)(padded - rows) * j->nkp * sizeof *t.pb);
    panel_product(j, t.pb, rows, (int)j->nkp, j->vpan + (size_t)h * vpan_words(j), j->d, t.o);
    for (int i = 0; i < rows; i++)
        memcpy(j->out + (size_t)(i0 + i) * j->out_stride + (size_t)h * j->d, t.o + (size_t)i * j->d, (size_t)j->d * sizeof *t.o);
}

/* Keys and head dimensions are zero-padded (pad_bf16): zero rows of K score 0 and get probability 0
 * (the softmax zeroes them), zero columns add nothing. */
int mv_attention_bf16(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                      const float *v, int kv_stride, int n_heads, int head_dim, int nq, int nk, float scale) {
    const mv_bf16_block_fn block = mv_bf16_block_kernel();
    if (!block || n_heads <= 0 || head_dim <= 0 || nq <= 0 || nk <= 0) return 0;
    att_job j = { q, k, v, out, q_stride, kv_stride, out_stride, n_heads, head_dim, nq, nk,
                  (nq + QUERY_BLOCK - 1) / QUERY_BLOCK, pad_bf16((size_t)head_dim), pad_bf16((size_t)nk),
                  ((size_t)head_dim + MV_BF16_NR - 1) / MV_BF16_NR * MV_BF16_NR, scale, block, NULL, NULL, NULL, 0 };
    /* both multiples of 16 floats (dp and nkp are of 32): each thread's part stays 64-byte aligned */
    const size_t item = item_floats(j.dp, j.nkp, (size_t)head_dim), prep = j.nkp * j.dp * 3 / 2;
    j.scratch_len = item > prep ? item : prep;
    j.kpan = mv_alloc64((size_t)n_heads * kpan_words(&j) * sizeof *j.kpan);
    j.vpan = mv_alloc64((size_t)n_heads * vpan_words(&j) * sizeof *j.vpan);
    j.scratch = mv_alloc64((size_t)mv_pool_threads(pool) * j.scratch_len * sizeof *j.scratch);
    const int ready = j.kpan && j.vpan && j.scratch;
    if (ready) {
        mv_pool_for(pool, n_heads, prepare_head, &j);
        mv_pool_for(pool, n_heads * j.n_blocks, attend_block, &j);
    }
    free(j.kpan);
    free(j.vpan);
    free(j.scratch);
    return ready;
}
