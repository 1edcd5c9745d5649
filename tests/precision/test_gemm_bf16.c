/* test_gemm_bf16.c — the BF16-activation GEMM (precision bf16, and quantized weights on AMX) on odd
 * shapes, every weight format (BF16, F16, F32, Q8, Q4), bias or not, 1 and 2 threads:
 *   - the dispatched kernel (AMX / AVX512-BF16) against the portable C kernel on the same BF16
 *     inputs: only FP32 summation order differs, |d| <= 1e-5 · Σ_k |x̂_k ŵ_k| (hats: BF16-rounded);
 *     the two pack their panels apart (SIMD transposes and dequantization, value by value), so a
 *     packing slip shows here;
 *   - against the FP32 reference mv_linear_ref: |d| <= (u + 1e-5) · Σ_k |x_k w_k| + 1e-6 · |b|, with
 *     u = 2^-8 for BF16 weights (only x is rounded: BF16 keeps 8 significant bits, so one rounding
 *     is off by at most 2^-8 relative) and u = 2^-7 for the others (x and w both rounded; a
 *     quantized weight is its code × scale);
 *   - mv_linear's route: a marked matrix goes there from MV_BF16_MIN_M rows (a quantized one only on
 *     AMX); otherwise the result is bit-identical to the unmarked FP32 / integer path;
 *   - no columns, or a quantized K that is not whole blocks, are refused without touching y. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "bf16_test.h"
#include "testutil.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static float frand(void) { return bf16_test_uniform(&rng); }

typedef struct errs { double vs_ref_c, vs_f32; } errs;

/* Worst |got - want| / (Σ_k |a_k b_k| + bias_scale·|b|) over all outputs, a and b optionally BF16-rounded. */
static double rel_err(const float *got, const float *want, const float *x, const float *wf, const float *bias,
                      int M, int K, int N, int round, double bias_scale) {
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double mag = bias ? bias_scale * fabs(bias[n]) : 0;
            for (int k = 0; k < K; k++) {
                float a = x[(size_t)m * K + k], b = wf[(size_t)n * K + k];
                if (round) a = bf16_round(a), b = bf16_round(b);
                mag += fabs((double)a * b);
            }
            double e = fabs((double)got[(size_t)m * N + n] - want[(size_t)m * N + n]) / (mag + 1e-30);
            if (!(e <= worst) && worst == worst) worst = e; /* NaN sticks */
        }
    return worst;
}

static errs one_case(mv_pool *pool, wformat f, int M, int K, int N, int with_bias) {
    errs e = { INFINITY, INFINITY };
    float *x = malloc((size_t)M * K * sizeof *x), *wf = malloc((size_t)N * K * sizeof *wf);
    float *bias = malloc((size_t)N * sizeof *bias);
    float *y = malloc((size_t)M * N * sizeof *y), *yc = malloc((size_t)M * N * sizeof *yc);
    float *yf = malloc((size_t)M * N * sizeof *yf);
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = frand() * 2.f;
    for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = frand() * 0.3f;
    for (int i = 0; i < N; i++) bias[i] = frand();
    mv_matrix w;
    void *wd = make_weights(f, wf, N, K, &w);
    const float *b = with_bias ? bias : NULL;
    CHECK(mv_linear_bf16(pool, y, x, M, &w, b) == 1, "mv_linear_bf16 ran");
    CHECK(mv_linear_bf16_ref(pool, yc, x, M, &w, b) == 1, "mv_linear_bf16_ref ran");
    mv_linear_ref(pool, yf, x, M, &w, b);
    e.vs_ref_c = rel_err(y, yc, x, wf, b, M, K, N, 1, 1.0);
    e.vs_f32 = rel_err(y, yf, x, wf, b, M, K, N, 0, 1e-6 / 0x1p-8); /* bias term: ≤ 1e-6·|b| at u = 2^-8 */

    /* mv_linear on a matrix marked for BF16 activations: the BF16 kernel from MV_BF16_MIN_M rows (when
     * the CPU has one), the untouched FP32 (or integer) path below; marked quantized weights only on
     * AMX. */
    float *yd = malloc((size_t)M * N * sizeof *yd), *yp = malloc((size_t)M * N * sizeof *yp);
    mv_matrix wb = w;
    wb.bf16_act = 1;
    mv_linear(pool, yd, x, M, &wb, b);
    mv_linear(pool, yp, x, M, &w, b);
    const char *kernel = mv_bf16_kernel();
    const int to_bf16 = M >= MV_BF16_MIN_M && (f.qt != MV_Q_NONE ? !strcmp(kernel, "amx") : !!strcmp(kernel, "none"));
    const float *want = to_bf16 ? y : yp;
    CHECK(!memcmp(yd, want, (size_t)M * N * sizeof *yd), "mv_linear marked bf16, M=%d K=%d N=%d: %s path", M, K, N,
          want == y ? "BF16" : "FP32");
    free(yd);
    free(yp);
    free(x); free(wf); free(bias); free(y); free(yc); free(yf); free(wd);
    return e;
}

int main(void) {
    /* K crosses the 32-padding and the 1024-wide packed panel slices (an odd K pads its last pair;
     * quantized K is whole blocks of 32); M crosses 12-row tiles, 32-row AMX blocks, 192-row work
     * items; N crosses 32-column panels and 2-panel items. */
    static const int Ms[] = { 1, 5, 16, 33, 205 }, Ns[] = { 1, 17, 33, 97 };
    static const int Ks[] = { 1, 31, 65, 600, 1090 }, Kq[] = { 32, 64, 96, 608, 1088 };
    static const wformat fmts[] = { { MV_BF16, MV_Q_NONE }, { MV_F16, MV_Q_NONE }, { MV_F32, MV_Q_NONE },
                                    { MV_I8, MV_Q8 }, { MV_U8, MV_Q4 } };
    static const char *const names[] = { "BF16", "F16", "F32", "Q8", "Q4" };
    enum { FORMATS = sizeof fmts / sizeof fmts[0] };
    printf("BF16 kernel: %s\n", mv_bf16_kernel());
    mv_pool *pools[2] = { NULL, mv_pool_create(2) };
    CHECK(pools[1], "pool");
    double worst_c = 0, worst_f[FORMATS] = { 0 };
    int cases = 0;
    for (int d = 0; d < FORMATS; d++)
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ki = 0; ki < 5; ki++)
                for (size_t ni = 0; ni < 4; ni++) {
                    const int K = fmts[d].qt != MV_Q_NONE ? Kq[ki] : Ks[ki];
                    errs e = one_case(pools[cases % 2], fmts[d], Ms[mi], K, Ns[ni], cases % 3 != 0);
                    CHECK(e.vs_ref_c <= 1e-5, "M=%d K=%d N=%d %s: vs C kernel %.3g > 1e-5", Ms[mi], K, Ns[ni],
                          names[d], e.vs_ref_c);
                    /* BF16 weights are used as stored; the others (quantized ones as code × scale) are
                     * rounded to BF16 once, like x */
                    const double u = (fmts[d].dt == MV_BF16 ? 0x1p-8 : 0x1p-7) + 1e-5;
                    CHECK(e.vs_f32 <= u, "M=%d K=%d N=%d %s: vs FP32 reference %.3g > %.3g", Ms[mi], K, Ns[ni],
                          names[d], e.vs_f32, u);
                    if (e.vs_ref_c > worst_c) worst_c = e.vs_ref_c;
                    if (e.vs_f32 > worst_f[d]) worst_f[d] = e.vs_f32;
                    cases++;
                }
    printf("%d cases, worst error relative to Σ|x·w|: vs the C BF16 kernel %.3g; vs the FP32 reference:", cases,
           worst_c);
    for (int d = 0; d < FORMATS; d++) printf(" %.3g (%s)", worst_f[d], names[d]);
    printf("\n");

    /* No columns, or a quantized matrix whose K is not whole blocks: refused (0, y untouched), the
     * caller keeps its own path. */
    uint16_t one = 0;
    float xin[40] = { 1, 2, 3, 4 }, yout[3] = { 7, 7, 7 };
    mv_matrix empty = { .dtype = MV_BF16, .data = &one, .rows = 3, .cols = 0 };
    CHECK(mv_linear_bf16(pools[1], yout, xin, 1, &empty, NULL) == 0 && yout[0] == 7, "K = 0 refused");
    int8_t codes[3 * 40] = { 0 };
    uint16_t scales[3] = { 0 };
    mv_matrix q8 = { .dtype = MV_I8, .data = codes, .rows = 3, .cols = 40, .qtype = MV_Q8, .scales = scales };
    CHECK(mv_linear_bf16(pools[1], yout, xin, 1, &q8, NULL) == 0 && yout[2] == 7, "quantized K = 40 refused");
    mv_pool_free(pools[1]);
    return mvt_done("test_gemm_bf16");
}
