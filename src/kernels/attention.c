/* attention.c — scaled dot-product attention on the ISA micro-kernels of kernels_isa.h: one head
 * (mv_attention_tiled) and all heads of a layer in parallel over (head, query block) (mv_attention_mh),
 * the latter over K/V in f32 or half precision (a KV cache; decode reads it in place and widens in
 * registers, prefill widens it once into its packed K and contiguous V).
 * Many queries (prefill, vision): flash style, per block of queries and chunk of keys S = QKᵀ by
 * register tiles against Kᵀ packed once per KV head (shared by every query block and every GQA head
 * of the group), an online softmax (running row maxima and sums, earlier outputs rescaled when the
 * maximum rises), O += P·V with V in contiguous rows per KV head; the rows are divided by their sums
 * at the end. A block's scores and outputs stay in L1/L2 whatever the context (whole score rows of
 * 32 queries × every key grew with it; the chunks measured 3–8% faster, docs/DESIGN-NOTES.md).
 * Few queries (decode): a plain softmax over all keys, read in place.
 * KV heads sit at any head stride (side by side in a row, or a cache's per-head blocks).
 * Scratch is allocated once per call. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"

enum {
    ATT_BLOCK_Q = 32,     /* queries per block */
    ATT_BLOCK_K = 256,    /* keys per chunk (a multiple of every ISA's nr): 32 KB of scores */
    ATT_DIRECT_MAX_Q = 3, /* up to this many queries (decode) the direct kernel beats packing K */
    ATT_SPLIT_MIN_KEYS = 128, /* decode cuts a row's keys into parts of at least this many for idle threads */
};

typedef void (*softmax_fn)(float *x, int n);

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* Keys query i of a block whose first query sits at absolute position q_offset may see. */
static int att_keys(int i, int nk, int causal, int q_offset) {
    return causal ? imin(nk, q_offset + i + 1) : nk;
}

/* Scale, softmax over the visible keys and zero the rest up to `width`, so P·V can run over the block. */
static void att_probs(float *s, int width, int n, float scale, softmax_fn softmax) {
    for (int t = 0; t < n; t++) s[t] *= scale;
    softmax(s, n);
    if (width > n) memset(s + n, 0, (size_t)(width - n) * sizeof *s);
}

/* Few queries (decode): scores by the direct kernel, keys read in place, no packing. scratch: nk floats. */
static void att_direct(const mv_gemm_isa *isa, softmax_fn softmax, float *out, int out_stride, const float *q,
                       int q_stride, const float *k, const float *v, int kv_stride, int nq, int nk, int d, float scale,
                       int causal, int q_offset, float *scratch) {
    for (int i = 0; i < nq; i++) {
        int n = att_keys(i, nk, causal, q_offset);
        isa->gemv(q + (size_t)i * q_stride, 1, d, k, MV_F32, (size_t)kv_stride, 0, n, NULL, scratch, n);
        att_probs(scratch, n, n, scale, softmax);
        isa->pv(scratch, n, 1, v, MV_F32, (size_t)kv_stride, n, d, out + (size_t)i * out_stride, out_stride);
    }
}

static int padded_keys(const mv_gemm_isa *isa, int nk) { return (nk + isa->nr - 1) / isa->nr * isa->nr; }

/* Kᵀ of one head (keys of dtype t) as f32 panels of nr keys (nk_pad × d): the right-hand side of S = QKᵀ. */
static void pack_keys(const mv_gemm_isa *isa, const void *k, mv_dtype t, int kv_stride, int nk, int d, float *kp) {
    const mv_matrix km = { .dtype = t, .data = k, .rows = nk, .cols = kv_stride };
    isa->pack(&km, 0, nk, 0, d, kp);
}

/* Floats of scratch one block needs: scores of a key chunk, then running outputs, one chunk's P·V and
 * a copy of the queries (ATT_BLOCK_Q × d each). */
static size_t block_floats(int d) { return (size_t)ATT_BLOCK_Q * (ATT_BLOCK_K + 3 * (size_t)d); }

/* Up to ATT_BLOCK_Q queries (the first at absolute position q_offset) against packed Kᵀ (panels of
 * all keys) and V rows, a chunk of keys at a time. s is block_floats(d) of scratch. */
static void att_block(const mv_gemm_isa *isa, float *out, int out_stride, const float *q, int q_stride,
                      const float *kp, const float *v, int kv_stride, int rows, int nk, int d, float scale, int causal,
                      int q_offset, float *s) {
    float *o = s + (size_t)ATT_BLOCK_Q * ATT_BLOCK_K, *chunk_o = o + (size_t)ATT_BLOCK_Q * d;
    float mx[ATT_BLOCK_Q], sum[ATT_BLOCK_Q], rescale[ATT_BLOCK_Q];
    const int nr = isa->nr, keys = att_keys(rows - 1, nk, causal, q_offset);
    for (int m = 0; m < rows; m++) mx[m] = -INFINITY, sum[m] = 0.f;
    for (int c0 = 0; c0 < keys; c0 += ATT_BLOCK_K) {
        const int ck = imin(ATT_BLOCK_K, keys - c0);
        for (int j0 = 0; j0 < ck; j0 += nr)
            for (int m = 0; m < rows; m += isa->mr)
                isa->tile(q + (size_t)m * q_stride, q_stride, imin(isa->mr, rows - m), kp + (size_t)(c0 + j0) * d, nr,
                          d, s + (size_t)m * ATT_BLOCK_K + j0, ATT_BLOCK_K, imin(nr, ck - j0), NULL, 0);
        for (int m = 0; m < rows; m++) { /* keys of the chunk row m sees: none, some or all */
            float *row = s + (size_t)m * ATT_BLOCK_K;
            const int n = imin(ck, att_keys(m, nk, causal, q_offset) - c0);
            rescale[m] = 1.f;
            if (n > 0) {
                const float before = mx[m], part = isa->softmax_chunk(row, n, scale, &mx[m]);
                rescale[m] = expf(before - mx[m]); /* 0 on the first chunk: exp(−inf) */
                sum[m] = sum[m] * rescale[m] + part;
            }
            if (ck > imax(n, 0)) memset(row + imax(n, 0), 0, (size_t)(ck - imax(n, 0)) * sizeof *row);
        }
        isa->pv(s, ATT_BLOCK_K, rows, v + (size_t)c0 * kv_stride, MV_F32, (size_t)kv_stride, ck, d, c0 ? chunk_o : o, d);
        if (c0)
            for (size_t m = 0; m < (size_t)rows; m++)
                for (size_t c = 0; c < (size_t)d; c++) o[m * d + c] = o[m * d + c] * rescale[m] + chunk_o[m * d + c];
    }
    for (int m = 0; m < rows; m++) {
        const float inv = 1.f / sum[m];
        for (int c = 0; c < d; c++) out[(size_t)m * out_stride + c] = o[(size_t)m * d + c] * inv;
    }
}

void mv_attention_tiled(const mv_gemm_isa *isa, softmax_fn softmax, float *out, int out_stride, const float *q,
                        int q_stride, const float *k, const float *v, int kv_stride, int nq, int nk, int d, float scale,
                        int causal, int q_offset, float *scratch) {
    if (nq <= 0 || nk <= 0 || d <= 0) return;
    const int nk_pad = padded_keys(isa, nk);
    float *kp = NULL, *s = NULL;
    if (nq > ATT_DIRECT_MAX_Q) {
        kp = aligned_alloc(64, (size_t)nk_pad * (size_t)d * sizeof(float));
        s = mv_alloc64(block_floats(d) * sizeof(float));
    }
    if (!kp || !s) { /* decode, or no memory for the blocks: the direct kernel needs only the caller's scratch */
        free(kp);
        free(s);
        att_direct(isa, softmax, out, out_stride, q, q_stride, k, v, kv_stride, nq, nk, d, scale, causal, q_offset,
                   scratch);
        return;
    }
    pack_keys(isa, k, MV_F32, kv_stride, nk, d, kp);
    for (int i0 = 0; i0 < nq; i0 += ATT_BLOCK_Q)
        att_block(isa, out + (size_t)i0 * out_stride, out_stride, q + (size_t)i0 * q_stride, q_stride, kp, v, kv_stride,
                  imin(ATT_BLOCK_Q, nq - i0), nk, d, scale, causal, q_offset + i0, s);
    free(kp);
    free(s);
}

/* Element i of a K/V buffer of dtype t (F32 or F16: the KV cache's types). */
static float kv_elem(const void *p, mv_dtype t, size_t i) {
    return t == MV_F16 ? mv_f16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

void mv_attention_stream_ref(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v,
                             mv_dtype t, int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset) {
    for (int i = 0; i < nq; i++) {
        const float *qi = q + (size_t)i * q_stride;
        float *o = out + (size_t)i * out_stride, mx = -INFINITY;
        double sum = 0;
        memset(o, 0, (size_t)d * sizeof *o);
        for (int j = 0, n = att_keys(i, nk, causal, q_offset); j < n; j++) {
            const size_t row = (size_t)j * kv_stride;
            float sc = 0.f;
            for (int c = 0; c < d; c++) sc += qi[c] * kv_elem(k, t, row + c);
            sc *= scale;
            if (sc > mx) { /* new maximum: rescale what was summed so far (exp(-inf) = 0 on the first key) */
                float c = expf(mx - sc);
                for (int e = 0; e < d; e++) o[e] *= c;
                sum *= c;
                mx = sc;
            }
            float p = expf(sc - mx);
            sum += p;
            for (int c = 0; c < d; c++) o[c] += p * kv_elem(v, t, row + c);
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < d; c++) o[c] *= inv;
    }
}

typedef struct mh_job {
    const mv_gemm_isa *isa; /* NULL: the reference kernel */
    softmax_fn softmax;
    float *out;
    const float *q;
    const void *k, *v;     /* K/V rows of dtype kv_t */
    mv_dtype kv_t;         /* MV_F32 or MV_F16 (a half-precision KV cache) */
    int out_stride, q_stride, kv_stride;
    size_t kv_head_stride; /* elements from one KV head's first row to the next head's */
    int n_heads, group, d, nq, nk, nk_pad, n_blocks, causal, q_offset;
    float scale;
    float *kp;          /* packed Kᵀ per KV head (nk_pad × d each), NULL when not packing */
    float *vp;          /* V per KV head as contiguous f32 [nk, d] rows (with kp, unless V already is) */
    float *scratch;     /* scratch_len floats per pool thread; NULL: out of memory, stream */
    size_t scratch_len;
    int splits;         /* grouped decode: parts each (KV head, query)'s keys are cut into (1: not cut) */
    float *part;        /* with splits > 1: per part, group × d unnormalized outputs, group maxima, group sums */
} mh_job;

/* Rows [0, n) × columns [0, d) of src (dtype t, row stride ld) to contiguous f32 dst. */
static void copy_rows(float *dst, const void *src, mv_dtype t, int ld, int n, int d) {
    const size_t es = mv_dtype_size(t);
    for (int i = 0; i < n; i++) mv_to_f32(t, (const char *)src + (size_t)i * ld * es, dst + (size_t)i * d, (size_t)d);
}

/* KV head g's first row. */
static const void *kv_head(const mh_job *j, const void *base, int g) {
    return (const char *)base + (size_t)g * j->kv_head_stride * mv_dtype_size(j->kv_t);
}

/* K and V of one KV head out of the wide model rows, once: the kernels then stream contiguous memory
 * instead of rows a whole layer width apart (which alias in L1 and defeat the prefetcher). */
static void mh_pack(void *ctx, int g, int thread) {
    (void)thread;
    const mh_job *j = ctx;
    pack_keys(j->isa, kv_head(j, j->k, g), j->kv_t, j->kv_stride, j->nk, j->d, j->kp + (size_t)g * j->nk_pad * j->d);
    if (j->vp) copy_rows(j->vp + (size_t)g * j->nk * j->d, kv_head(j, j->v, g), j->kv_t, j->kv_stride, j->nk, j->d);
}

/* V rows of KV head g as the tiled path reads them: packed, or in place when already contiguous. */
static const float *mh_values(const mh_job *j, int g) {
    return j->vp ? j->vp + (size_t)g * j->nk * j->d : (const float *)kv_head(j, j->v, g); /* F32 when no vp */
}

static void mh_item(void *ctx, int item, int thread) {
    const mh_job *j = ctx;
    /* Head by head, so one head's K/V stay in cache across its blocks; within a head the last blocks
     * first: under a causal mask they see the most keys, and light items at the end balance the pool. */
    const int h = item / j->n_blocks, b = j->n_blocks - 1 - item % j->n_blocks, g = h / j->group;
    const int i0 = b * ATT_BLOCK_Q, rows = imin(ATT_BLOCK_Q, j->nq - i0), off = j->q_offset + i0;
    float *out = j->out + (size_t)i0 * j->out_stride + (size_t)h * j->d;
    const float *q = j->q + (size_t)i0 * j->q_stride + (size_t)h * j->d;
    const void *k = kv_head(j, j->k, g), *v = kv_head(j, j->v, g);
    float *s = j->scratch ? j->scratch + (size_t)thread * j->scratch_len : NULL;
    if (!s)
        mv_attention_stream_ref(out, j->out_stride, q, j->q_stride, k, v, j->kv_t, j->kv_stride, rows, j->nk, j->d,
                                j->scale, j->causal, off);
    else if (!j->isa) /* F32 rows here: mh_widen converted a half-precision cache first */
        mv_attention_head_ref(out, j->out_stride, q, j->q_stride, k, v, j->kv_stride, rows, j->nk, j->d, j->scale,
                              j->causal, off, s);
    else { /* the query block is copied after the block's scratch for the same reason as mh_pack */
        float *qb = s + block_floats(j->d);
        copy_rows(qb, q, MV_F32, j->q_stride, rows, j->d);
        att_block(j->isa, out, j->out_stride, qb, j->d, j->kp + (size_t)g * j->nk_pad * j->d, mh_values(j, g), j->d,
                  rows, j->nk, j->d, j->scale, j->causal, off, s);
    }
}

/* Part `item` of a split decode: group × d outputs, then group row maxima, then group row sums. */
static float *split_part(const mh_job *j, int item) { return j->part + (size_t)item * j->group * (j->d + 2); }

/* Decode (few queries): one item per (KV head, query) computes every GQA head of the group at once,
 * so the group's keys and values are read once per query rather than once per head — at long
 * contexts that read, not the arithmetic, is the cost. The group's query rows sit side by side
 * (head_dim apart), so they are the rows of one small gemv; the scores are group × keys.
 * With fewer (KV head, query) pairs than threads (InternVL2-1B has 2 KV heads) each pair's keys are cut
 * into `splits` parts (flash decoding): a part keeps its outputs unnormalized with its own row maxima
 * and sums, and mh_combine merges the parts. */
static void mh_item_grouped(void *ctx, int item, int thread) {
    const mh_job *j = ctx;
    const int unit = item / j->splits, part = item % j->splits, n_kv = j->n_heads / j->group;
    const int g = unit % n_kv, i = unit / n_kv, h0 = g * j->group, d = j->d;
    const int n = att_keys(i, j->nk, j->causal, j->q_offset), len = (n + j->splits - 1) / j->splits;
    const int k0 = imin(n, part * len), cnt = imin(n - k0, len);
    const size_t es = mv_dtype_size(j->kv_t), first = (size_t)k0 * (size_t)j->kv_stride * es;
    const char *k = (const char *)kv_head(j, j->k, g) + first, *v = (const char *)kv_head(j, j->v, g) + first;
    const float *q = j->q + (size_t)i * j->q_stride + (size_t)h0 * d;
    float *s = j->scratch + (size_t)thread * j->scratch_len;
    float *o = j->out + (size_t)i * j->out_stride + (size_t)h0 * d, *mx = NULL, *sum = NULL;
    if (j->splits > 1) { /* a part: unnormalized outputs with the rows' maxima and sums */
        o = split_part(j, item);
        mx = o + (size_t)j->group * d;
        sum = mx + j->group;
        for (int r = 0; r < j->group; r++) mx[r] = -INFINITY, sum[r] = 0.f;
        if (cnt <= 0) { /* past a short causal row: nothing to add */
            memset(o, 0, (size_t)j->group * d * sizeof *o);
            return;
        }
    }
    j->isa->gemv(q, j->group, d, k, j->kv_t, (size_t)j->kv_stride, 0, cnt, NULL, s, cnt);
    for (int r = 0; r < j->group; r++) {
        float *row = s + (size_t)r * cnt;
        if (sum) sum[r] = j->isa->softmax_chunk(row, cnt, j->scale, &mx[r]);
        else att_probs(row, cnt, cnt, j->scale, j->softmax); /* one part: normalized, straight to out */
    }
    j->isa->pv(s, cnt, j->group, v, j->kv_t, (size_t)j->kv_stride, cnt, d, o, d);
}

/* Outputs of one (KV head, query) pair from its parts: each rescaled to the overall row maximum. */
static void mh_combine(void *ctx, int unit, int thread) {
    (void)thread;
    const mh_job *j = ctx;
    const int n_kv = j->n_heads / j->group, g = unit % n_kv, i = unit / n_kv, d = j->d;
    for (int r = 0; r < j->group; r++) {
        float m = -INFINITY, total = 0.f;
        for (int p = 0; p < j->splits; p++) m = fmaxf(m, split_part(j, unit * j->splits + p)[(size_t)j->group * d + r]);
        float *dst = j->out + (size_t)i * j->out_stride + ((size_t)g * j->group + r) * d;
        memset(dst, 0, (size_t)d * sizeof *dst);
        for (int p = 0; p < j->splits; p++) {
            const float *o = split_part(j, unit * j->splits + p), *mx = o + (size_t)j->group * d;
            const float *sum = mx + j->group;
            if (mx[r] == -INFINITY) continue; /* an empty part */
            const float w = expf(mx[r] - m);
            total += w * sum[r];
            for (int c = 0; c < d; c++) dst[c] += w * o[(size_t)r * d + c];
        }
        for (int c = 0; c < d; c++) dst[c] /= total;
    }
}

/* Parts per (KV head, query) pair so that every thread has work (each part at least ATT_SPLIT_MIN
 * keys), and their buffer; 1 (no buffer) when the pairs already fill the pool or memory is short. */
static void mh_split(mh_job *j, int threads) {
    const int units = j->n_heads / j->group * j->nq;
    int splits = units >= threads ? 1 : (threads + units - 1) / units;
    splits = imin(splits, imax(1, j->nk / ATT_SPLIT_MIN_KEYS));
    if (splits > 1)
        j->part = malloc((size_t)units * (size_t)splits * (size_t)j->group * ((size_t)j->d + 2) * sizeof *j->part);
    j->splits = j->part ? splits : 1;
}

/* Packed K/V and per-thread score + query blocks for the tiled path; on failure (or for decode) j->kp
 * stays NULL and the scratch is the grouped path's group × nk floats per thread (nk for the
 * reference); if even that fails, j->scratch stays NULL and mh_item streams. */
static void mh_alloc(mh_job *j, int threads) {
    if (j->isa && j->nq > ATT_DIRECT_MAX_Q) {
        const size_t n_kv = (size_t)(j->n_heads / j->group), d = (size_t)j->d;
        j->nk_pad = padded_keys(j->isa, j->nk);
        j->scratch_len = block_floats(j->d) + (size_t)ATT_BLOCK_Q * d; /* and the query copy; 64-byte aligned */
        /* one block: all packed Kᵀ (nk_pad·d per head, a multiple of 16 floats), then all V unless its
         * rows are already contiguous (a per-head cache) */
        const size_t nv = j->kv_stride == j->d && j->kv_t == MV_F32 ? 0 : (size_t)j->nk;
        j->kp = mv_alloc64(n_kv * d * ((size_t)j->nk_pad + nv) * sizeof(float));
        j->vp = j->kp && nv ? j->kp + n_kv * (size_t)j->nk_pad * d : NULL;
        j->scratch = j->kp ? mv_alloc64((size_t)threads * j->scratch_len * sizeof(float)) : NULL;
        if (j->scratch) return;
        free(j->kp);
        j->kp = j->vp = NULL;
    }
    j->scratch_len = (size_t)j->nk * (size_t)(j->isa ? j->group : 1); /* grouped decode: group × nk scores */
    j->scratch = malloc((size_t)threads * j->scratch_len * sizeof(float));
}

/* The reference kernel reads f32 rows: a half-precision K/V is widened once, each KV head to
 * contiguous [nk, d] rows (all K heads, then all V heads), and the job then reads those. */
typedef struct widen_job {
    const mh_job *j;
    float *dst;
} widen_job;

static void mh_widen_head(void *ctx, int g, int thread) {
    (void)thread;
    const widen_job *w = ctx;
    const mh_job *j = w->j;
    const size_t head = (size_t)j->nk * j->d, n_kv = (size_t)(j->n_heads / j->group);
    copy_rows(w->dst + (size_t)g * head, kv_head(j, j->k, g), j->kv_t, j->kv_stride, j->nk, j->d);
    copy_rows(w->dst + (n_kv + (size_t)g) * head, kv_head(j, j->v, g), j->kv_t, j->kv_stride, j->nk, j->d);
}

/* Returns the buffer to free; NULL when there is nothing to widen, or no memory (the scratch is then
 * dropped, so mh_item streams the half-precision rows directly). */
static float *mh_widen(mh_job *j, mv_pool *pool) {
    if (j->isa || j->kv_t == MV_F32) return NULL;
    const size_t head = (size_t)j->nk * j->d, n_kv = (size_t)(j->n_heads / j->group);
    widen_job w = { j, malloc(2 * n_kv * head * sizeof(float)) };
    if (!w.dst) {
        free(j->scratch);
        j->scratch = NULL;
        return NULL;
    }
    mv_pool_for(pool, (int)n_kv, mh_widen_head, &w);
    j->k = w.dst;
    j->v = w.dst + n_kv * head;
    j->kv_t = MV_F32;
    j->kv_stride = j->d;
    j->kv_head_stride = head;
    return w.dst;
}

void mv_attention_mh(const mv_gemm_isa *isa, softmax_fn softmax, mv_pool *pool, float *out, int out_stride,
                     const float *q, int q_stride, const void *k, const void *v, mv_dtype kv_t, int kv_stride,
                     size_t kv_head_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk, float scale,
                     int causal, int q_offset) {
    if (nq <= 0 || nk <= 0 || head_dim <= 0 || n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads) return;
    mh_job j = { isa, softmax, out, q, k, v, kv_t, out_stride, q_stride, kv_stride, kv_head_stride, n_heads,
                 n_heads / n_kv_heads, head_dim, nq, nk, 0, (nq + ATT_BLOCK_Q - 1) / ATT_BLOCK_Q, causal, q_offset,
                 scale, NULL, NULL, NULL, 0, 1, NULL };
    mh_alloc(&j, mv_pool_threads(pool));
    float *wide = j.scratch ? mh_widen(&j, pool) : NULL;
    if (j.kp) mv_pool_for(pool, n_kv_heads, mh_pack, &j);
    if (isa && !j.kp && j.scratch) {
        mh_split(&j, mv_pool_threads(pool));
        mv_pool_for(pool, n_kv_heads * nq * j.splits, mh_item_grouped, &j);
        if (j.splits > 1) mv_pool_for(pool, n_kv_heads * nq, mh_combine, &j);
    } else
        mv_pool_for(pool, n_heads * j.n_blocks, mh_item, &j);
    free(j.part);
    free(j.kp);
    free(j.scratch);
    free(wide);
}
