/* test_attention_bf16.c — precision bf16's vision attention (mv_attention_bf16) on model-like strided
 * rows (q | k | v side by side, heads within each part), odd key counts and head sizes that are not
 * multiples of 32, 1 and 2 threads:
 *   - against a double-precision reference on the same BF16-rounded q, k, v (scores in double, the
 *     softmax's numerators exp(scale·s − max) in double rounded to BF16, P·V divided by their sum):
 *     only FP32 summation order and, rarely, one BF16 rounding of a numerator differ, so
 *     |d| <= 2^-8 · Σ_j p_j |v̂_j| + 1e-5;
 *   - against the FP32 mv_attention: cosine >= 0.9999 over each case (BF16 inputs, FP32 sums);
 *   - the output's padding columns untouched; no BF16 kernel (MINIVL_BF16=none, a capped ISA) or no
 *     heads: returns 0 and leaves out untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/kernels.h"
#include "bf16_test.h"
#include "testutil.h"

static unsigned long long rng = 0x2545F4914F6CDD1DULL;
static float frand(void) { return bf16_test_uniform(&rng); }

enum { PAD = 3, SENTINEL_BITS = 0x7FC00123 }; /* extra columns per output row, and what they hold */

typedef struct att_case { int heads, d, n; float q_scale; } att_case;

/* Element c of row j of K or V (dtype F32 or F16, rows `stride` elements apart), BF16-rounded. */
static double kv_bf16(const void *base, mv_dtype t, int stride, int j, int c) {
    const size_t i = (size_t)j * stride + c;
    return bf16_round(t == MV_F16 ? mv_f16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i]);
}

/* Reference for query qi over keys [0, n): out[c] = Σ_j bf16(e_j) · v̂[j][c] / Σ_j bf16(e_j) with
 * e_j = exp(s_j − max s); tol[c] its bound. */
static void reference(const float *qi, const void *k, const void *v, mv_dtype t, int stride, int d, int n,
                      float scale, double *out, double *tol) {
    double *s = malloc((size_t)n * sizeof *s), mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double dot = 0;
        for (int c = 0; c < d; c++) dot += (double)bf16_round(qi[c]) * kv_bf16(k, t, stride, j, c);
        s[j] = dot * scale;
        mx = fmax(mx, s[j]);
    }
    double rounded_sum = 0;
    for (int j = 0; j < n; j++) {
        sum += (s[j] = exp(s[j] - mx));
        rounded_sum += bf16_round((float)s[j]);
    }
    for (int c = 0; c < d; c++) out[c] = tol[c] = 0;
    for (int j = 0; j < n; j++) {
        const double p = s[j] / sum, pb = bf16_round((float)s[j]) / rounded_sum;
        for (int c = 0; c < d; c++) {
            const double vj = kv_bf16(v, t, stride, j, c);
            out[c] += pb * vj;
            tol[c] += p * fabs(vj);
        }
    }
    for (int c = 0; c < d; c++) tol[c] = tol[c] / 256 + 1e-5;
    free(s);
}

static float sentinel(void) {
    float f;
    const unsigned bits = SENTINEL_BITS;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int is_sentinel(float f) { return memcmp(&f, &(float){ sentinel() }, sizeof f) == 0; }

/* How one call's outputs agree with the reference (within tol) and with the FP32 attention (cosine
 * over the call); want/tol hold one head's reference row at a time. */
typedef struct agreement {
    double want[512], tol[512];
    double worst, dot, gg, ff;
    int bad, pad_ok;
} agreement;

static void agree_add(agreement *a, const float *got, const float *f32, int d) {
    for (int e = 0; e < d; e++) {
        const double g = got[e], f = f32[e], r = fabs(g - a->want[e]) / a->tol[e];
        a->worst = fmax(a->worst, r);
        a->bad += !(r <= 1);
        a->dot += g * f;
        a->gg += g * g;
        a->ff += f * f;
    }
}

static void agree_check(const agreement *a, const char *what) {
    const double cosine = a->dot / sqrt(a->gg * a->ff);
    CHECK(a->bad == 0, "%s: %d outputs beyond the bound (worst %.3g of it)", what, a->bad, a->worst);
    CHECK(cosine >= 0.9999, "%s: cosine to FP32 attention %.6f < 0.9999", what, cosine);
    CHECK(a->pad_ok, "%s: padding columns written", what);
    printf("%s: worst %.3g of the bound, cosine to FP32 %.7f\n", what, a->worst, cosine);
}

static void run_case(const att_case *c, int threads) {
    const int C = c->heads * c->d, n = c->n, out_stride = C + PAD;
    const float scale = 1.0f / sqrtf((float)c->d);
    float *qkv = malloc((size_t)n * 3 * C * sizeof *qkv);
    float *got = malloc((size_t)n * out_stride * sizeof *got), *f32 = malloc((size_t)n * out_stride * sizeof *f32);
    for (size_t i = 0; i < (size_t)n * 3 * C; i++) qkv[i] = frand() * (i % (3 * (size_t)C) < (size_t)C ? c->q_scale : 1.0f);
    for (size_t i = 0; i < (size_t)n * out_stride; i++) got[i] = f32[i] = sentinel();
    mv_pool *pool = mv_pool_create(threads);
    const int has_kernel = strcmp(mv_bf16_kernel(), "none") != 0;
    const int ok = mv_attention_bf16(pool, got, out_stride, qkv, 3 * C, qkv + C, qkv + 2 * C, 3 * C, c->heads, c->d, n, n, scale);
    CHECK(ok == has_kernel, "heads %d d %d n %d: returned %d with BF16 kernel '%s'", c->heads, c->d, n, ok, mv_bf16_kernel());
    if (!ok) {
        int untouched = 1;
        for (size_t i = 0; i < (size_t)n * out_stride; i++) untouched &= is_sentinel(got[i]);
        CHECK(untouched, "heads %d d %d n %d: refused but wrote the output", c->heads, c->d, n);
    } else {
        mv_attention(pool, f32, out_stride, qkv, 3 * C, qkv + C, qkv + 2 * C, 3 * C, c->heads, c->heads, c->d, n, n, scale, 0, 0);
        agreement a = { .pad_ok = 1 };
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < c->heads; h++) {
                const float *row = qkv + (size_t)i * 3 * C + (size_t)h * c->d;
                reference(row, qkv + C + (size_t)h * c->d, qkv + 2 * C + (size_t)h * c->d, MV_F32, 3 * C, c->d, n, scale,
                          a.want, a.tol);
                agree_add(&a, got + (size_t)i * out_stride + h * c->d, f32 + (size_t)i * out_stride + h * c->d, c->d);
            }
            for (int e = C; e < out_stride; e++) a.pad_ok &= is_sentinel(got[(size_t)i * out_stride + e]);
        }
        char what[96];
        snprintf(what, sizeof what, "heads %d d %d n %d threads %d", c->heads, c->d, n, threads);
        agree_check(&a, what);
    }
    mv_pool_free(pool);
    free(qkv);
    free(got);
    free(f32);
}

/* Prefill over a KV cache: nq new queries at positions nk - nq .. nk - 1 (a prefix already cached),
 * causal, heads sharing KV heads in groups, K/V of dtype t stored [kv_head][capacity][d] as the
 * decoder's cache is. */
typedef struct cache_case { int heads, kv_heads, d, nq, nk; mv_dtype t; } cache_case;

static void run_cache_case(const cache_case *c, int threads) {
    const int C = c->heads * c->d, out_stride = C + PAD, cap = c->nk + 7, q_offset = c->nk - c->nq;
    const size_t head_stride = (size_t)cap * c->d, kv_n = (size_t)c->kv_heads * head_stride;
    const float scale = 1.0f / sqrtf((float)c->d);
    float *q = malloc((size_t)c->nq * C * sizeof *q);
    float *got = malloc((size_t)c->nq * out_stride * sizeof *got), *f32 = malloc((size_t)c->nq * out_stride * sizeof *f32);
    void *k = malloc(kv_n * mv_dtype_size(c->t)), *v = malloc(kv_n * mv_dtype_size(c->t));
    for (size_t i = 0; i < (size_t)c->nq * C; i++) q[i] = frand() * 2.f;
    for (size_t i = 0; i < kv_n; i++) {
        const float kf = frand() * 2.f, vf = frand();
        if (c->t == MV_F16) ((uint16_t *)k)[i] = mv_f32_to_f16(kf), ((uint16_t *)v)[i] = mv_f32_to_f16(vf);
        else ((float *)k)[i] = kf, ((float *)v)[i] = vf;
    }
    for (size_t i = 0; i < (size_t)c->nq * out_stride; i++) got[i] = f32[i] = sentinel();
    mv_pool *pool = mv_pool_create(threads);
    char what[128];
    snprintf(what, sizeof what, "cache: heads %d/%d d %d queries %d keys %d %s threads %d", c->heads, c->kv_heads, c->d,
             c->nq, c->nk, c->t == MV_F16 ? "F16" : "F32", threads);
    const int ok = mv_attention_bf16_kv(pool, got, out_stride, q, C, k, v, c->t, c->d, head_stride, c->heads,
                                        c->kv_heads, c->d, c->nq, c->nk, scale, 1, q_offset);
    CHECK(ok == (strcmp(mv_bf16_kernel(), "none") != 0), "%s: returned %d with BF16 kernel '%s'", what, ok,
          mv_bf16_kernel());
    if (!ok) {
        int untouched = 1;
        for (size_t i = 0; i < (size_t)c->nq * out_stride; i++) untouched &= is_sentinel(got[i]);
        CHECK(untouched, "%s: refused but wrote the output", what);
    } else {
        mv_attention_kv(pool, f32, out_stride, q, C, k, v, c->t, c->d, head_stride, c->heads, c->kv_heads, c->d, c->nq,
                        c->nk, scale, 1, q_offset);
        agreement a = { .pad_ok = 1 };
        for (int i = 0; i < c->nq; i++) {
            for (int h = 0; h < c->heads; h++) {
                const size_t g = (size_t)(h / (c->heads / c->kv_heads));
                const char *kg = (const char *)k + g * head_stride * mv_dtype_size(c->t);
                const char *vg = (const char *)v + g * head_stride * mv_dtype_size(c->t);
                reference(q + (size_t)i * C + (size_t)h * c->d, kg, vg, c->t, c->d, c->d, q_offset + i + 1, scale,
                          a.want, a.tol);
                agree_add(&a, got + (size_t)i * out_stride + h * c->d, f32 + (size_t)i * out_stride + h * c->d, c->d);
            }
            for (int e = C; e < out_stride; e++) a.pad_ok &= is_sentinel(got[(size_t)i * out_stride + e]);
        }
        agree_check(&a, what);
    }
    mv_pool_free(pool);
    free(q); free(got); free(f32); free(k); free(v);
}

int main(void) {
    /* n crosses the 32-key padding and BF16 slices of 1024 keys; d = 72 (SigLIP) and 40 pad to 96 / 64;
     * a q_scale of 8 makes the softmax peaked (large scores), 0.25 flat */
    const att_case cases[] = { { 3, 64, 70, 1.0f }, { 2, 72, 33, 8.0f }, { 1, 40, 1025, 1.0f }, { 2, 64, 1057, 0.25f },
                               { 4, 16, 1, 1.0f } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 2; threads++) run_case(&cases[i], threads);
    /* Qwen2-0.5B's 14/2 heads of 64 over an F16 cache; Phi-2's head of 80 and a cached prefix (queries
     * start at key 67); Phi-3's 96 with keys crossing the 1024-key slice; 16 queries, the fewest the
     * decoder sends here; one query block ending exactly on the padding. */
    const cache_case cache_cases[] = { { 14, 2, 64, 70, 70, MV_F16 }, { 4, 4, 80, 33, 100, MV_F32 },
                                       { 6, 2, 96, 130, 1100, MV_F16 }, { 2, 1, 64, 16, 16, MV_F32 },
                                       { 3, 1, 32, 64, 96, MV_F16 } };
    for (size_t i = 0; i < sizeof cache_cases / sizeof cache_cases[0]; i++)
        for (int threads = 1; threads <= 2; threads++) run_cache_case(&cache_cases[i], threads);
    mv_pool *pool = mv_pool_create(1);
    float out = sentinel(), q = 1;
    CHECK(mv_attention_bf16(pool, &out, 1, &q, 1, &q, &q, 1, 0, 1, 1, 1, 1.0f) == 0 && is_sentinel(out), "no heads accepted");
    CHECK(mv_attention_bf16_kv(pool, &out, 1, &q, 1, &q, &q, MV_F32, 1, 1, 3, 2, 1, 1, 1, 1.0f, 1, 0) == 0 &&
              is_sentinel(out), "heads not a multiple of KV heads refused");
    CHECK(mv_attention_bf16_kv(pool, &out, 1, &q, 1, &q, &q, MV_BF16, 1, 1, 1, 1, 1, 1, 1, 1.0f, 1, 0) == 0 &&
              is_sentinel(out), "a BF16 cache (not a cache type) refused");
    mv_pool_free(pool);
    return mvt_done("attention_bf16");
}
