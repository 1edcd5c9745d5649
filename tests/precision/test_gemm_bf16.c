/* test_gemm_bf16.c — the BF16-activation GEMM (precision bf16) on odd shapes, every weight dtype,
 * bias or not, 1 and 2 threads:
 *   - the dispatched kernel (AMX / AVX512-BF16) against the portable C kernel on the same BF16
 *     inputs: only FP32 summation order differs, |d| <= 1e-5 · Σ_k |x̂_k ŵ_k| (hats: BF16-rounded);
 *   - against the FP32 reference mv_linear_ref: |d| <= (u + 1e-5) · Σ_k |x_k w_k| + 1e-6 · |b|, with
 *     u = 2^-8 for BF16 weights (only x is rounded: BF16 keeps 8 significant bits, so one rounding
 *     is off by at most 2^-8 relative) and u = 2^-7 for F16/F32 weights (x and w both rounded);
 *   - mv_linear routes only M >= MV_BF16_MIN_M of a marked matrix there, smaller M stays bit-identical
 *     to FP32;
 *   - no columns or quantized weights are refused without touching y. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "bf16_test.h"
#include "testutil.h"

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static float frand(void) { return bf16_test_uniform(&rng); }

/* Weights of dtype dt from wf; wf then holds the values the dtype stores. */
static void *make_weights(mv_dtype dt, float *wf, size_t n) {
    void *w = malloc(n * mv_dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        if (dt == MV_BF16) ((uint16_t *)w)[i] = mv_f32_to_bf16(wf[i]), wf[i] = mv_bf16_to_f32(((uint16_t *)w)[i]);
        else if (dt == MV_F16) ((uint16_t *)w)[i] = mv_f32_to_f16(wf[i]), wf[i] = mv_f16_to_f32(((uint16_t *)w)[i]);
        else ((float *)w)[i] = wf[i];
    }
    return w;
}

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

static errs one_case(mv_pool *pool, mv_dtype dt, int M, int K, int N, int with_bias) {
    errs e = { INFINITY, INFINITY };
    float *x = malloc((size_t)M * K * sizeof *x), *wf = malloc((size_t)N * K * sizeof *wf);
    float *bias = malloc((size_t)N * sizeof *bias);
    float *y = malloc((size_t)M * N * sizeof *y), *yc = malloc((size_t)M * N * sizeof *yc);
    float *yf = malloc((size_t)M * N * sizeof *yf);
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = frand() * 2.f;
    for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = frand() * 0.3f;
    for (int i = 0; i < N; i++) bias[i] = frand();
    void *wd = make_weights(dt, wf, (size_t)N * K);
    mv_matrix w = { .dtype = dt, .data = wd, .rows = N, .cols = K };
    const float *b = with_bias ? bias : NULL;
    CHECK(mv_linear_bf16(pool, y, x, M, &w, b) == 1, "mv_linear_bf16 ran");
    CHECK(mv_linear_bf16_ref(pool, yc, x, M, &w, b) == 1, "mv_linear_bf16_ref ran");
    mv_linear_ref(pool, yf, x, M, &w, b);
    e.vs_ref_c = rel_err(y, yc, x, wf, b, M, K, N, 1, 1.0);
    e.vs_f32 = rel_err(y, yf, x, wf, b, M, K, N, 0, 1e-6 / 0x1p-8); /* bias term: ≤ 1e-6·|b| at u = 2^-8 */

    /* mv_linear on a matrix marked for BF16 activations: the BF16 kernel from MV_BF16_MIN_M rows (when
     * the CPU has one), the untouched FP32 path below. */
    float *yd = malloc((size_t)M * N * sizeof *yd), *yp = malloc((size_t)M * N * sizeof *yp);
    mv_matrix wb = w;
    wb.bf16_act = 1;
    mv_linear(pool, yd, x, M, &wb, b);
    mv_linear(pool, yp, x, M, &w, b);
    const float *want = M >= MV_BF16_MIN_M && strcmp(mv_bf16_kernel(), "none") ? y : yp;
    CHECK(!memcmp(yd, want, (size_t)M * N * sizeof *yd), "mv_linear marked bf16, M=%d K=%d N=%d: %s path", M, K, N,
          want == y ? "BF16" : "FP32");
    free(yd);
    free(yp);
    free(x); free(wf); free(bias); free(y); free(yc); free(yf); free(wd);
    return e;
}

int main(void) {
    /* K crosses the 32-padding and the 1024-wide packed panel slices (an odd K pads its last pair); M
     * crosses 12-row tiles, 32-row AMX blocks, 192-row work items; N crosses 32-column panels and
     * 2-panel items. */
    static const int Ms[] = { 1, 5, 16, 33, 205 }, Ks[] = { 1, 31, 65, 600, 1090 }, Ns[] = { 1, 17, 33, 97 };
    static const mv_dtype dts[] = { MV_BF16, MV_F16, MV_F32 };
    printf("BF16 kernel: %s\n", mv_bf16_kernel());
    mv_pool *pools[2] = { NULL, mv_pool_create(2) };
    CHECK(pools[1], "pool");
    double worst_c = 0, worst_f[3] = { 0 };
    int cases = 0;
    for (size_t d = 0; d < 3; d++)
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ki = 0; ki < 5; ki++)
                for (size_t ni = 0; ni < 4; ni++) {
                    errs e = one_case(pools[cases % 2], dts[d], Ms[mi], Ks[ki], Ns[ni], cases % 3 != 0);
                    CHECK(e.vs_ref_c <= 1e-5, "M=%d K=%d N=%d dtype %d: vs C kernel %.3g > 1e-5", Ms[mi], Ks[ki],
                          Ns[ni], (int)dts[d], e.vs_ref_c);
                    const double u = (dts[d] == MV_BF16 ? 0x1p-8 : 0x1p-7) + 1e-5;
                    CHECK(e.vs_f32 <= u, "M=%d K=%d N=%d dtype %d: vs FP32 reference %.3g > %.3g", Ms[mi], Ks[ki],
                          Ns[ni], (int)dts[d], e.vs_f32, u);
                    if (e.vs_ref_c > worst_c) worst_c = e.vs_ref_c;
                    if (e.vs_f32 > worst_f[d]) worst_f[d] = e.vs_f32;
                    cases++;
                }
    printf("%d cases, worst error relative to Σ|x·w|: vs the C BF16 kernel %.3g; vs the FP32 reference %.3g (BF16 "
           "weights), %.3g (F16), %.3g (F32)\n", cases, worst_c, worst_f[0], worst_f[1], worst_f[2]);

    /* No columns, or quantized weights: refused (0, y untouched), the caller keeps its own path. */
    uint16_t one = 0;
    float xin[4] = { 1, 2, 3, 4 }, yout[3] = { 7, 7, 7 };
    mv_matrix empty = { .dtype = MV_BF16, .data = &one, .rows = 3, .cols = 0 };
    CHECK(mv_linear_bf16(pools[1], yout, xin, 1, &empty, NULL) == 0 && yout[0] == 7, "K = 0 refused");
    int8_t codes[3 * 32] = { 0 };
    uint16_t scales[3] = { 0 };
    mv_matrix q8 = { .dtype = MV_I8, .data = codes, .rows = 3, .cols = 32, .qtype = MV_Q8, .scales = scales };
    CHECK(mv_linear_bf16(pools[1], yout, xin, 1, &q8, NULL) == 0 && yout[2] == 7, "quantized weights refused");
    mv_pool_free(pools[1]);
    return mvt_done("test_gemm_bf16");
}
