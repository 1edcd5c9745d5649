/* test_attention.c — multi-head mv_attention against a loop of mv_attention_head_ref calls, on
 * vision-like (16 heads, 1025 tokens, d=64, non-causal, rows of a fused qkv buffer) and LLM-like (14
 * heads over 2 KV heads, d=64, causal, decode and prefill continuing a cache) shapes, with 1 and 2
 * threads, for each ISA's micro-kernels, the reference path and the dispatcher; the same LLM shapes
 * reading a KV cache laid out [kv_head][capacity][d] through mv_attention_kv's head stride; every shape
 * but the large vision one again with K/V in float16 (against the reference on the same values widened);
 * the scratch-free fallback against the reference; and shapes that must leave the output untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "ktest.h"
#include "testutil.h"

typedef struct att_case {
    const char *name;
    int n_heads, n_kv_heads, d, nq, nk, causal, q_offset;
    int cache_cap; /* 0: KV heads side by side in padded rows; else per-head blocks of cache_cap rows of d */
} att_case;

typedef struct isa_case { const char *name; const mv_gemm_isa *gemm; void (*softmax)(float *, int); } isa_case;

/* Buffers laid out like a model's: q rows hold all query heads (then padding); k/v rows all KV heads
 * (then padding), or one block of cache_cap rows per KV head as in the LLM's KV cache. */
typedef struct att_bufs {
    int q_stride, kv_stride, out_stride;
    size_t kv_head_stride, kv_len;
    float *q, *k, *v, *ref, *got;
    uint16_t *kh, *vh; /* k and v as float16 (after to_f16, k and v hold the same values widened) */
} att_bufs;

static void bufs_init(att_bufs *b, const att_case *c) {
    b->q_stride = c->n_heads * c->d + 3;
    b->out_stride = c->n_heads * c->d + 1;
    if (c->cache_cap) {
        b->kv_stride = c->d;
        b->kv_head_stride = (size_t)c->cache_cap * c->d;
        b->kv_len = (size_t)c->n_kv_heads * b->kv_head_stride;
    } else {
        b->kv_stride = c->n_kv_heads * c->d + 5;
        b->kv_head_stride = (size_t)c->d;
        b->kv_len = (size_t)c->nk * b->kv_stride;
    }
    b->q = malloc((size_t)c->nq * b->q_stride * sizeof(float));
    b->k = malloc(b->kv_len * sizeof(float));
    b->v = malloc(b->kv_len * sizeof(float));
    b->ref = calloc((size_t)c->nq * b->out_stride, sizeof(float));
    b->got = malloc((size_t)c->nq * b->out_stride * sizeof(float));
    fill(b->q, (size_t)c->nq * b->q_stride, 2.f);
    fill(b->k, b->kv_len, 2.f);
    fill(b->v, b->kv_len, 1.f);
    b->kh = b->vh = NULL;
}

/* K/V to float16, and k/v to the same values widened: the reference then sees what the kernels see. */
static void to_f16(att_bufs *b) {
    b->kh = malloc(b->kv_len * sizeof *b->kh);
    b->vh = malloc(b->kv_len * sizeof *b->vh);
    for (size_t i = 0; i < b->kv_len; i++) {
        b->kh[i] = mv_f32_to_f16(b->k[i]);
        b->vh[i] = mv_f32_to_f16(b->v[i]);
        b->k[i] = mv_f16_to_f32(b->kh[i]);
        b->v[i] = mv_f16_to_f32(b->vh[i]);
    }
}

static void bufs_free(att_bufs *b) {
    free(b->q); free(b->k); free(b->v); free(b->ref); free(b->got); free(b->kh); free(b->vh);
}

/* The ground truth: one reference call per head, GQA mapping written out here independently. */
static void reference(const att_case *c, att_bufs *b, float scale) {
    float *scratch = malloc((size_t)c->nk * sizeof *scratch);
    const int group = c->n_heads / c->n_kv_heads;
    for (int h = 0; h < c->n_heads; h++)
        mv_attention_head_ref(b->ref + h * c->d, b->out_stride, b->q + h * c->d, b->q_stride,
                              b->k + (h / group) * b->kv_head_stride, b->v + (h / group) * b->kv_head_stride,
                              b->kv_stride, c->nq, c->nk, c->d,
                              scale, c->causal, c->q_offset, scratch);
    free(scratch);
}

/* Outputs compared on head columns; the padding column of each out row must stay untouched. */
static void compare(const char *what, const att_case *c, const att_bufs *b) {
    const size_t n = (size_t)c->nq * b->out_stride;
    float *got = malloc(n * sizeof *got);
    memcpy(got, b->got, n * sizeof *got);
    int pad_ok = 1;
    for (int i = 0; i < c->nq; i++) {
        float *pad = got + (size_t)i * b->out_stride + c->n_heads * c->d;
        pad_ok &= *pad == 12345.f;
        *pad = 0.f; /* the reference leaves it 0 */
    }
    CHECK(pad_ok, "%s: wrote outside the head columns", what);
    mvt_allclose(what, got, b->ref, n, 2e-6, 1e-5);
    free(got);
}

static void reset_out(const att_case *c, att_bufs *b) {
    const size_t n = (size_t)c->nq * b->out_stride;
    for (size_t i = 0; i < n; i++) b->got[i] = NAN; /* unwritten outputs show */
    for (int i = 0; i < c->nq; i++) b->got[(size_t)i * b->out_stride + c->n_heads * c->d] = 12345.f;
}

/* Every ISA's kernels, the reference path and the dispatcher on K/V of dtype t (b's k/v or kh/vh). */
enum { N_POOLS = 3 }; /* no pool, 2 threads, and for decode 6 threads (more than (KV head, query) pairs) */

static void run_case(const att_case *c, att_bufs *b, mv_dtype t, const isa_case *isas, int n_isas,
                     mv_pool *pools[N_POOLS]) {
    const float scale = 1.f / sqrtf((float)c->d);
    const void *k = t == MV_F16 ? (const void *)b->kh : b->k, *v = t == MV_F16 ? (const void *)b->vh : b->v;
    reference(c, b, scale);
    char what[160];
    /* isas[0..n_isas) are the SIMD kernels; then the reference path (NULL) and the dispatcher. */
    for (int is = 0; is <= n_isas + 1; is++)
        for (int th = is == n_isas; th < (c->nq <= 3 ? N_POOLS : 2); th++) { /* the slow reference path only threaded */
            reset_out(c, b);
            if (is <= n_isas)
                mv_attention_mh(is < n_isas ? isas[is].gemm : NULL, is < n_isas ? isas[is].softmax : NULL, pools[th],
                                b->got, b->out_stride, b->q, b->q_stride, k, v, t, b->kv_stride, b->kv_head_stride,
                                c->n_heads, c->n_kv_heads, c->d, c->nq, c->nk, scale, c->causal, c->q_offset);
            else if (c->cache_cap || t != MV_F32)
                mv_attention_kv(pools[th], b->got, b->out_stride, b->q, b->q_stride, k, v, t, b->kv_stride,
                                b->kv_head_stride, c->n_heads, c->n_kv_heads, c->d, c->nq, c->nk, scale, c->causal,
                                c->q_offset);
            else
                mv_attention(pools[th], b->got, b->out_stride, b->q, b->q_stride, b->k, b->v, b->kv_stride,
                             c->n_heads, c->n_kv_heads, c->d, c->nq, c->nk, scale, c->causal, c->q_offset);
            snprintf(what, sizeof what, "attention %s %s %s threads=%d", c->name, t == MV_F16 ? "f16" : "f32",
                     is < n_isas ? isas[is].name : is == n_isas ? "ref" : "dispatch", mv_pool_threads(pools[th]));
            compare(what, c, b);
        }
}

static void test_case(const att_case *c, const isa_case *isas, int n_isas, mv_pool *pools[N_POOLS]) {
    att_bufs b;
    bufs_init(&b, c);
    run_case(c, &b, MV_F32, isas, n_isas, pools);
    if ((size_t)c->nq * (size_t)c->nk <= 100000) { /* the vision shape only ever sees f32 */
        to_f16(&b);
        run_case(c, &b, MV_F16, isas, n_isas, pools);
    }
    bufs_free(&b);
}

/* The scratch-free fallback (used when memory runs out) against the reference, one head. */
static void test_stream(void) {
    static const att_case cases[] = {
        { "stream causal", 1, 1, 40, 37, 50, 1, 13, 0 },
        { "stream full", 1, 1, 64, 20, 130, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const att_case *c = &cases[i];
        att_bufs b;
        bufs_init(&b, c);
        const float scale = 1.f / sqrtf((float)c->d);
        for (int half = 0; half < 2; half++) {
            if (half) to_f16(&b);
            reference(c, &b, scale);
            reset_out(c, &b);
            mv_attention_stream_ref(b.got, b.out_stride, b.q, b.q_stride, half ? (const void *)b.kh : b.k,
                                    half ? (const void *)b.vh : b.v, half ? MV_F16 : MV_F32, b.kv_stride, c->nq, c->nk,
                                    c->d, scale, c->causal, c->q_offset);
            compare(half ? "stream f16" : "stream f32", c, &b);
        }
        bufs_free(&b);
    }
}

/* Shapes with nothing to do, or an inconsistent head grouping, write nothing. */
static void test_degenerate(void) {
    float out[8] = { 7.f, 7.f, 7.f, 7.f, 7.f, 7.f, 7.f, 7.f }, q[8] = { 0 }, k[8] = { 0 }, v[8] = { 0 };
    mv_attention(NULL, out, 4, q, 4, k, v, 4, 3, 2, 2, 1, 1, 1.f, 0, 0); /* 3 heads over 2 KV heads */
    mv_attention(NULL, out, 4, q, 4, k, v, 4, 2, 1, 2, 0, 1, 1.f, 0, 0); /* no queries */
    mv_attention(NULL, out, 4, q, 4, k, v, 4, 2, 1, 2, 1, 0, 1.f, 0, 0); /* no keys */
    mv_attention(NULL, out, 4, q, 4, k, v, 4, 2, 0, 2, 1, 1, 1.f, 0, 0); /* no KV heads */
    int same = 1;
    for (int i = 0; i < 8; i++) same &= out[i] == 7.f;
    CHECK(same, "degenerate attention shapes wrote output");
}

int main(void) {
    static const att_case cases[] = {
        { "vision 16x1025 d64", 16, 16, 64, 1025, 1025, 0, 0, 0 },
        { "llm decode 14/2 d64", 14, 2, 64, 1, 51, 1, 50, 0 },
        { "llm decode3 14/2 d64", 14, 2, 64, 3, 80, 1, 77, 0 },
        { "llm prefill 14/2 d64", 14, 2, 64, 100, 100, 1, 0, 0 },
        { "llm prefill+cache 14/2 d64", 14, 2, 64, 37, 60, 1, 23, 0 },
        { "odd 6/3 d24", 6, 3, 24, 45, 33, 0, 0, 0 },
        { "odd decode2 6/3 d24", 6, 3, 24, 2, 33, 1, 31, 0 },
        { "mha decode 5/5 d96", 5, 5, 96, 1, 70, 1, 69, 0 },
        { "gqa decode 16/2 d40 (two gemv blocks + 8-row tiles)", 16, 2, 40, 1, 300, 1, 299, 0 },
        { "cache decode 14/2 d64", 14, 2, 64, 1, 51, 1, 50, 70 },
        { "cache decode3 14/2 d64", 14, 2, 64, 3, 80, 1, 77, 96 },
        /* long decode: with 6 threads each (KV head, query) pair's keys are cut into parts; the last
         * case's first query sees 1 key, so one of its parts is empty */
        { "llm long decode 14/2 d64", 14, 2, 64, 1, 1000, 1, 999, 0 },
        { "cache long decode2 14/2 d64", 14, 2, 64, 2, 700, 1, 698, 720 },
        { "cache decode2 early rows 14/2 d64", 14, 2, 64, 2, 600, 1, 0, 640 },
        { "cache prefill 14/2 d64", 14, 2, 64, 100, 100, 1, 0, 128 },
        { "cache prefill+cache 14/2 d64", 14, 2, 64, 37, 60, 1, 23, 61 },
        /* three chunks of keys (256) on a cache; the first query block's first rows see none of the third */
        { "cache long prefill 14/2 d64", 14, 2, 64, 100, 600, 1, 500, 640 },
    };
    isa_case isas[2];
    int n_isas = 0;
    if (cpu_has_avx2()) isas[n_isas++] = (isa_case){ "avx2", &mv_gemm_avx2, mv_softmax_avx2 };
    if (cpu_has_avx512()) isas[n_isas++] = (isa_case){ "avx512", &mv_gemm_avx512, mv_softmax_avx512 };
    mv_pool *pools[N_POOLS] = { NULL, mv_pool_create(2), mv_pool_create(6) };
    printf("kernels ISA in use: %s\n", mv_kernels_isa());
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_case(&cases[i], isas, n_isas, pools);
    test_stream();
    test_degenerate();
    mv_pool_free(pools[1]);
    mv_pool_free(pools[2]);
    return mvt_done("test_attention");
}
