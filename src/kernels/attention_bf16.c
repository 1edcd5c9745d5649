/* attention_bf16.c — multi-head attention of precision bf16: the vision encoder's (full) and the
 * language model's prefill (causal, grouped-query, over an F32 or F16 KV cache). Per head,
 * S = bf16(Q)·bf16(K)ᵀ and O = bf16(P)·bf16(V) / Σ P with the BF16 GEMM's block kernel (FP32 sums;
 * AMX where the CPU has it), P = exp(scale·S − max) in FP32 between them, rounded to BF16 unnormalized
 * and each output row divided by its sum — the arithmetic of PyTorch's BF16 CPU
 * scaled_dot_product_attention (flash kernel). Each KV head's K and Vᵀ are rounded to BF16 and
 * packed into the GEMM's panel layout once (packing them per query block, through mv_linear_bf16,
 * repeated the work 17 times a head), shared by the GQA heads of its group; then work items of
 * (head, block of queries) run in parallel, each with its own score block small enough to stay in
 * L2 (a whole head's 1025 × 1056 scores did not, and writing and re-reading them from memory made
 * the BF16 path no faster than FP32). Under a causal mask a block computes scores only up to the
 * keys its last query sees, and the heaviest blocks are handed out first. In FP32 the vision
 * attention was a fifth of a 448 tile's time. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"

enum {
    QUERY_BLOCK = 64, /* queries per work item: 64 × 1056 scores are 270 KB */
};

/* Keys and head size padded for the BF16 converter and packer, which work in whole MV_BF16_KA runs. */
static size_t pad_bf16(size_t n) { return (n + MV_BF16_KA - 1) / MV_BF16_KA * MV_BF16_KA; }

/* Columns [0, d) of n rows of dtype t (F32 or F16) `stride` elements apart as a dense f32 [n, ld]
 * block (ld ≥ d), zero padded. */
static void gather(float *dst, size_t ld, const void *src, mv_dtype t, int stride, int n, int d) {
    const size_t es = mv_dtype_size(t);
    for (int i = 0; i < n; i++) {
        const void *at = (const char *)src + (size_t)i * (size_t)stride * es;
        float *row = dst + (size_t)i * ld;
        mv_to_f32(t, at, row, (size_t)d);
        memset(row + d, 0, (ld - (size_t)d) * sizeof *row);
    }
}

/* The same rounded to BF16 (ld a multiple of 32; tmp holds n·ld floats, dst is 64-byte aligned). */
static void gather_bf16(uint16_t *dst, float *tmp, size_t ld, const void *src, mv_dtype t, int stride, int n, int d) {
    gather(tmp, ld, src, t, stride, n, d);
    mv_bf16_convert_avx512(dst, ld, tmp, ld, (int)ld, (int)ld, 0, n);
}

typedef struct att_job {
    const float *q;
    const void *k, *v;
    mv_dtype kv_t;
    float *out;
    int q_stride, kv_stride, out_stride, n_heads, group, d, nq, nk, n_blocks, causal, q_offset;
    size_t kv_head_stride; /* elements from one KV head's first row to the next's */
    size_t dp, nkp, dvp;   /* head_dim and keys padded (pad_bf16), head_dim padded to whole panels */
    float scale;
    mv_bf16_block_fn block;
    uint32_t *kpan, *vpan; /* per KV head: K as panels of 32 keys over dp, Vᵀ as panels of 32 dims over nkp */
    float *scratch;        /* per thread, see item_scratch / prepare_head */
    size_t scratch_len;    /* floats */
} att_job;

static size_t kpan_words(const att_job *j) { return j->nkp * j->dp / 2; }
static size_t vpan_words(const att_job *j) { return j->dvp * j->nkp / 2; }

/* KV head g's first row of k or v. */
static const void *kv_head(const att_job *j, const void *base, int g) {
    return (const char *)base + (size_t)g * j->kv_head_stride * mv_dtype_size(j->kv_t);
}

/* Packs KV head g: K rounded to BF16 (zero padded) in the thread's scratch, then panels of MV_BF16_NR
 * keys; Vᵀ as panels of MV_BF16_NR head dimensions straight from V's rows (its transpose used to be
 * gathered element by element first: ~0.8% of a q8-vision tile). */
static void prepare_head(void *ctx, int g, int thread) {
    const att_job *j = ctx;
    float *tmp = j->scratch + (size_t)thread * j->scratch_len; /* nkp·dp floats, then nkp·dp BF16 */
    uint16_t *b16 = (uint16_t *)(tmp + j->nkp * j->dp);
    uint32_t *kp = j->kpan + (size_t)g * kpan_words(j), *vp = j->vpan + (size_t)g * vpan_words(j);
    gather_bf16(b16, tmp, j->dp, kv_head(j, j->k, g), j->kv_t, j->kv_stride, j->nk, j->d);
    memset(b16 + (size_t)j->nk * j->dp, 0, (j->nkp - (size_t)j->nk) * j->dp * sizeof *b16);
    for (size_t n0 = 0; n0 < j->nkp; n0 += MV_BF16_NR)
        mv_bf16_pack_avx512(b16 + n0 * j->dp, j->dp, MV_BF16_NR, (int)j->dp / 2, kp + n0 * j->dp / 2);
    mv_bf16_pack_vt_avx512(kv_head(j, j->v, g), j->kv_t, j->kv_stride, j->nk, j->d, (int)j->nkp, vp);
}

/* y[rows, :n_used] = xb[:, :k_used] · Wᵀ over the packed panels of W (Kp wide; xb rows ldx apart, y
 * rows N apart), in slices of MV_BF16_KC as the GEMM driver cuts them, so the sums round as they did
 * through it. k_used and n_used are multiples of 32. */
static void panel_product(const att_job *j, const uint16_t *xb, int ldx, int rows, int Kp, int k_used,
                          const uint32_t *panels, int N, int n_used, float *y) {
    const mv_bf16_job job = { xb, NULL, y, rows, N, ldx, MV_BF16_KC }; /* row-major */
    for (int n0 = 0; n0 < n_used; n0 += MV_BF16_NR) {
        const uint32_t *panel = panels + (size_t)n0 * (size_t)Kp / 2;
        for (int k0 = 0; k0 < k_used; k0 += MV_BF16_KC) {
            const int kc = k_used - k0 < MV_BF16_KC ? k_used - k0 : MV_BF16_KC;
            const uint32_t *slice = panel + (size_t)k0 / 2 * MV_BF16_NR;
            if (!j->block(&job, 0, rows, slice, n0, k0, kc)) /* AMX refused: the AVX-512 kernel always runs */
                mv_bf16_block_avx512(&job, 0, rows, slice, n0, k0, kc);
        }
    }
}

/* Scratch of one item: queries in BF16, scores, probabilities in BF16 (rows pld apart), outputs (rows
 * padded to MV_BF16_MA with zeros where the kernel reads them). */
typedef struct item_scratch {
    float *s, *o;
    uint16_t *qb, *pb;
} item_scratch;

/* BF16 elements between rows of P (see mv_bf16_row_stride: with 2048 keys they were 4 KB apart). */
static size_t prob_stride(size_t nkp) { return (size_t)mv_bf16_row_stride((int)nkp); }

static size_t item_floats(size_t dp, size_t nkp, size_t d) {
    return QUERY_BLOCK * (dp / 2 + nkp + prob_stride(nkp) / 2 + d);
}

static item_scratch item_scratch_at(const att_job *j, int thread) {
    item_scratch t;
    float *base = j->scratch + (size_t)thread * j->scratch_len;
    t.qb = (uint16_t *)base;
    t.s = base + QUERY_BLOCK * j->dp / 2;
    t.pb = (uint16_t *)(t.s + QUERY_BLOCK * j->nkp);
    t.o = t.s + QUERY_BLOCK * (j->nkp + prob_stride(j->nkp) / 2);
    return t;
}

/* Keys query i of the job sees (causal: up to its own absolute position). */
static int visible_keys(const att_job *j, int i) {
    return j->causal && j->q_offset + i + 1 < j->nk ? j->q_offset + i + 1 : j->nk;
}

static void attend_block(void *ctx, int item, int thread) {
    const att_job *j = ctx;
    /* the last query blocks first: under a causal mask they see the most keys */
    const int h = item / j->n_blocks, i0 = (j->n_blocks - 1 - item % j->n_blocks) * QUERY_BLOCK;
    const int rows = j->nq - i0 < QUERY_BLOCK ? j->nq - i0 : QUERY_BLOCK, g = h / j->group;
    const int padded = (rows + MV_BF16_MA - 1) / MV_BF16_MA * MV_BF16_MA;
    const int keys = (int)pad_bf16((size_t)visible_keys(j, i0 + rows - 1)); /* score columns computed */
    const item_scratch t = item_scratch_at(j, thread);
    /* the queries straight from their rows (a copy into a dense block first was ~1% of a tile) */
    mv_bf16_convert_avx512(t.qb, j->dp, j->q + (size_t)i0 * j->q_stride + (size_t)h * j->d, (size_t)j->q_stride,
                           j->d, (int)j->dp, 0, rows);
    memset(t.qb + (size_t)rows * j->dp, 0, (size_t)(padded - rows) * j->dp * sizeof *t.qb);
    panel_product(j, t.qb, (int)j->dp, rows, (int)j->dp, (int)j->dp, j->kpan + (size_t)g * kpan_words(j), (int)j->nkp,
                  keys, t.s);
    /* P unnormalized (padding and masked keys 0); each output row is divided by its sum after P·V,
     * d values instead of a row of keys */
    float inv_sum[QUERY_BLOCK];
    const size_t pld = prob_stride(j->nkp);
    for (int r = 0; r < rows; r++)
        inv_sum[r] = 1.f / mv_softmax_bf16_avx512(t.s + (size_t)r * j->nkp, visible_keys(j, i0 + r), keys, j->scale,
                                                  t.pb + (size_t)r * pld);
    memset(t.pb + (size_t)rows * pld, 0, (size_t)(padded - rows) * pld * sizeof *t.pb);
    panel_product(j, t.pb, (int)pld, rows, (int)j->nkp, keys, j->vpan + (size_t)g * vpan_words(j), j->d, (int)j->dvp,
                  t.o);
    for (int i = 0; i < rows; i++) {
        float *dst = j->out + (size_t)(i0 + i) * j->out_stride + (size_t)h * j->d;
        const float *o = t.o + (size_t)i * j->d;
        for (int c = 0; c < j->d; c++) dst[c] = o[c] * inv_sum[i];
    }
}

/* Keys and head dimensions are zero-padded (pad_bf16): zero rows of K score 0 and get probability 0
 * (the softmax zeroes them), zero columns add nothing. */
int mv_attention_bf16_with(mv_bf16_block_fn block, mv_pool *pool, float *out, int out_stride, const float *q,
                           int q_stride, const void *k, const void *v, mv_dtype kv_t, int kv_stride,
                           size_t kv_head_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk,
                           float scale, int causal, int q_offset) {
    if (!block || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads || head_dim <= 0 || nq <= 0 || nk <= 0 ||
        (kv_t != MV_F32 && kv_t != MV_F16))
        return 0;
    att_job j = { q, k, v, kv_t, out, q_stride, kv_stride, out_stride, n_heads, n_heads / n_kv_heads, head_dim, nq, nk,
                  (nq + QUERY_BLOCK - 1) / QUERY_BLOCK, causal, q_offset, kv_head_stride, pad_bf16((size_t)head_dim),
                  pad_bf16((size_t)nk), ((size_t)head_dim + MV_BF16_NR - 1) / MV_BF16_NR * MV_BF16_NR, scale, block,
                  NULL, NULL, NULL, 0 };
    /* both multiples of 16 floats (dp and nkp are of 32): each thread's part stays 64-byte aligned */
    const size_t item = item_floats(j.dp, j.nkp, (size_t)head_dim), prep = j.nkp * j.dp * 3 / 2;
    j.scratch_len = item > prep ? item : prep;
    j.kpan = mv_alloc64((size_t)n_kv_heads * kpan_words(&j) * sizeof *j.kpan);
    j.vpan = mv_alloc64((size_t)n_kv_heads * vpan_words(&j) * sizeof *j.vpan);
    j.scratch = mv_alloc64((size_t)mv_pool_threads(pool) * j.scratch_len * sizeof *j.scratch);
    const int ready = j.kpan && j.vpan && j.scratch;
    if (ready) {
        mv_pool_for(pool, n_kv_heads, prepare_head, &j);
        mv_pool_for(pool, n_heads * j.n_blocks, attend_block, &j);
    }
    free(j.kpan);
    free(j.vpan);
    free(j.scratch);
    return ready;
}

int mv_attention_bf16_kv(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const void *k,
                         const void *v, mv_dtype kv_t, int kv_stride, size_t kv_head_stride, int n_heads,
                         int n_kv_heads, int head_dim, int nq, int nk, float scale, int causal, int q_offset) {
    return mv_attention_bf16_with(mv_bf16_block_kernel(), pool, out, out_stride, q, q_stride, k, v, kv_t, kv_stride,
                                  kv_head_stride, n_heads, n_kv_heads, head_dim, nq, nk, scale, causal, q_offset);
}

int mv_attention_bf16(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                      const float *v, int kv_stride, int n_heads, int head_dim, int nq, int nk, float scale) {
    return mv_attention_bf16_kv(pool, out, out_stride, q, q_stride, k, v, MV_F32, kv_stride, (size_t)head_dim,
                                n_heads, n_heads, head_dim, nq, nk, scale, 0, 0);
}
