/* test_attention_bf16.c — precision bf16's vision attention (mv_attention_bf16) on model-like strided
 * rows (q | k | v side by side, heads within each part), odd key counts and head sizes that are not
 * multiples of 32, 1 and 2 threads:
 *   - against a double-precision reference on the same BF16-rounded q, k, v (scores in double,
 *     softmax(scale·S) in double, P rounded to BF16): only FP32 summation order and, rarely, one
 *     BF16 rounding of a probability differ, so |d| <= 2^-8 · Σ_j p_j |v̂_j| + 1e-5;
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

/* Reference for head h, query i: out[c] = Σ_j bf16(p_j) · v̂[j][c]; tol[c] its bound. */
static void reference(const float *qkv, int C, int h, int d, int n, int i, float scale, double *out, double *tol) {
    const float *qi = qkv + (size_t)i * 3 * C + (size_t)h * d;
    double *s = malloc((size_t)n * sizeof *s), mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        const float *kj = qkv + (size_t)j * 3 * C + C + (size_t)h * d;
        double dot = 0;
        for (int c = 0; c < d; c++) dot += (double)bf16_round(qi[c]) * bf16_round(kj[c]);
        s[j] = dot * scale;
        mx = fmax(mx, s[j]);
    }
    for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
    for (int c = 0; c < d; c++) out[c] = tol[c] = 0;
    for (int j = 0; j < n; j++) {
        const double p = s[j] / sum, pb = bf16_round((float)p);
        const float *vj = qkv + (size_t)j * 3 * C + 2 * C + (size_t)h * d;
        for (int c = 0; c < d; c++) {
            out[c] += pb * bf16_round(vj[c]);
            tol[c] += p * fabs(bf16_round(vj[c]));
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
        double *want = malloc((size_t)c->d * sizeof *want), *tol = malloc((size_t)c->d * sizeof *tol);
        double worst = 0, dot = 0, gg = 0, ff = 0;
        int bad = 0, pad_ok = 1;
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < c->heads; h++) {
                reference(qkv, C, h, c->d, n, i, scale, want, tol);
                for (int e = 0; e < c->d; e++) {
                    const double g = got[(size_t)i * out_stride + h * c->d + e], f = f32[(size_t)i * out_stride + h * c->d + e];
                    const double r = fabs(g - want[e]) / tol[e];
                    worst = fmax(worst, r);
                    bad += !(r <= 1);
                    dot += g * f;
                    gg += g * g;
                    ff += f * f;
                }
            }
            for (int e = C; e < out_stride; e++) pad_ok &= is_sentinel(got[(size_t)i * out_stride + e]);
        }
        const double cosine = dot / sqrt(gg * ff);
        CHECK(bad == 0, "heads %d d %d n %d threads %d: %d outputs beyond the bound (worst %.3g of it)", c->heads, c->d,
              n, threads, bad, worst);
        CHECK(cosine >= 0.9999, "heads %d d %d n %d: cosine to FP32 attention %.6f < 0.9999", c->heads, c->d, n, cosine);
        CHECK(pad_ok, "heads %d d %d n %d: padding columns written", c->heads, c->d, n);
        printf("heads %d d %d n %d threads %d: worst %.3g of the bound, cosine to FP32 %.7f\n", c->heads, c->d, n,
               threads, worst, cosine);
        free(want);
        free(tol);
    }
    mv_pool_free(pool);
    free(qkv);
    free(got);
    free(f32);
}

int main(void) {
    /* n crosses the 32-key padding and BF16 slices of 1024 keys; d = 72 (SigLIP) and 40 pad to 96 / 64;
     * a q_scale of 8 makes the softmax peaked (large scores), 0.25 flat */
    const att_case cases[] = { { 3, 64, 70, 1.0f }, { 2, 72, 33, 8.0f }, { 1, 40, 1025, 1.0f }, { 2, 64, 1057, 0.25f },
                               { 4, 16, 1, 1.0f } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int threads = 1; threads <= 2; threads++) run_case(&cases[i], threads);
    mv_pool *pool = mv_pool_create(1);
    float out = sentinel(), q = 1;
    CHECK(mv_attention_bf16(pool, &out, 1, &q, 1, &q, &q, 1, 0, 1, 1, 1, 1.0f) == 0 && is_sentinel(out), "no heads accepted");
    mv_pool_free(pool);
    return mvt_done("attention_bf16");
}
