/* test_quant_kernels.c — Q8/Q4 weights: the block formats' round-trip error, every integer decode
 * kernel and integer prefill GEMM the CPU can run against the plain C integer reference, the
 * dispatched mv_linear (integer paths against that reference, the dequantizing GEMM against the float
 * reference over dequantized weights), and the bound the
 * int8 activations must stay within. Odd sizes: block counts that are odd and cross the 16-block groups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant_isa.h"
#include "ktest.h"
#include "testutil.h"

typedef struct qmat {
    mv_matrix w;
    float *deq; /* [N, K] dequantized weights */
} qmat;

static qmat make_qmat(mv_qtype t, int N, int K) {
    float *wf = malloc((size_t)N * K * sizeof *wf);
    fill(wf, (size_t)N * K, 0.5f);
    for (int n = 0; n < N; n++) wf[(size_t)n * K + (size_t)(n % K)] *= 3.f; /* an outlier per row */
    void *codes = malloc((size_t)N * mv_q_row_bytes(t, K));
    uint16_t *scales = malloc((size_t)N * (K / MV_QBLOCK) * sizeof *scales);
    for (int n = 0; n < N; n++)
        mv_q_quantize_row(t, MV_F32, wf + (size_t)n * K, K, (char *)codes + n * mv_q_row_bytes(t, K),
                          scales + (size_t)n * (K / MV_QBLOCK));
    qmat q = { { .dtype = mv_q_code_dtype(t), .data = codes, .rows = N, .cols = K, .qtype = t, .scales = scales }, NULL };
    /* Round trip. Q8: each weight within half a step (amax/127). Q4 searches its scale, so per weight
     * it may exceed the plain scheme's one step (up to 1.5 when the positive side is clamped at +7),
     * but each block's squared error must not exceed the plain scheme's: d = f16(w_max / −8),
     * q = clamp(round(w / d), −8, 7). */
    q.deq = malloc((size_t)N * K * sizeof *q.deq);
    double worst = 0, worse_blocks = 0;
    for (int n = 0; n < N; n++) {
        mv_q_dequant(&q.w, n, 0, K, q.deq + (size_t)n * K);
        for (int b = 0; b < K / MV_QBLOCK; b++) {
            const float *w = wf + (size_t)n * K + (size_t)b * MV_QBLOCK, *r = q.deq + (size_t)n * K + (size_t)b * MV_QBLOCK;
            float amax = 0, wmax = 0;
            for (int i = 0; i < MV_QBLOCK; i++)
                if (fabsf(w[i]) > amax) amax = fabsf(w[i]), wmax = w[i];
            const float step = t == MV_Q8 ? amax / 127 : amax / 8, d0 = mv_f16_to_f32(mv_f32_to_f16(wmax / -8.f));
            double sse = 0, sse_plain = 0;
            for (int i = 0; i < MV_QBLOCK; i++) {
                const double e = fabs(r[i] - w[i]), p = fmin(fmax(nearbyint(w[i] / d0), -8), 7) * d0 - w[i];
                if (!(e / step <= worst) && worst == worst) worst = e / step;
                sse += e * e;
                sse_plain += p * p;
            }
            if (t == MV_Q4 && sse > sse_plain * (1 + 1e-5) + 1e-12) worse_blocks++;
        }
    }
    CHECK(worst <= (t == MV_Q8 ? 0.502 : 1.502), "%s N=%d K=%d: round-trip error %.4f steps", mv_qtype_name(t), N, K,
          worst);
    CHECK(worse_blocks == 0, "%s N=%d K=%d: %.0f blocks worse than the plain scale", mv_qtype_name(t), N, K, worse_blocks);
    free(wf);
    return q;
}

static void free_qmat(qmat *q) {
    free((void *)q->w.data);
    free((void *)q->w.scales);
    free(q->deq);
}

/* How far int8 activations may move the float result: Σ_b (max|x_b| / 254) · Σ_b |w|, plus rounding. */
static double act_bound_ok(const float *q, const float *f, const float *x, const float *wf, int M, int K, int N) {
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double bound = 0, mag = 0;
            for (int b = 0; b < K / MV_QBLOCK; b++) {
                double amax = 0, wsum = 0;
                for (int i = 0; i < MV_QBLOCK; i++) {
                    size_t k = (size_t)b * MV_QBLOCK + i;
                    amax = fmax(amax, fabs(x[(size_t)m * K + k]));
                    wsum += fabs(wf[(size_t)n * K + k]);
                    mag += fabs(x[(size_t)m * K + k] * wf[(size_t)n * K + k]);
                }
                bound += amax / 254 * wsum;
            }
            double r = fabs((double)q[(size_t)m * N + n] - f[(size_t)m * N + n]) / (bound * 1.001 + 1e-5 * mag + 1e-30);
            if (!(r <= worst) && worst == worst) worst = r;
        }
    return worst;
}

static void run_isa_rows(const mv_qgemv_isa *isa, const qmat *q, const float *x, int M, const float *bias, float *y) {
    const int K = q->w.cols;
    const size_t stride = (isa->act_bytes(K) + 63) & ~(size_t)63;
    void *acts = aligned_alloc(64, stride * MV_QGEMV_MAX_M);
    for (int m0 = 0; m0 < M; m0 += MV_QGEMV_MAX_M) {
        int R = M - m0 < MV_QGEMV_MAX_M ? M - m0 : MV_QGEMV_MAX_M;
        for (int r = 0; r < R; r++) isa->act_prep(q->w.qtype, x + (size_t)(m0 + r) * K, K, (char *)acts + r * stride);
        /* two ranges, so a kernel that ignores n0 shows */
        int mid = q->w.rows / 2;
        isa->rows(&q->w, acts, stride, R, 0, mid, bias, y + (size_t)m0 * q->w.rows, q->w.rows);
        isa->rows(&q->w, acts, stride, R, mid, q->w.rows, bias, y + (size_t)m0 * q->w.rows, q->w.rows);
    }
    free(acts);
}

/* mv_linear_many: products sharing x (widths that leave partial panels, one with a bias) against the
 * integer reference of each, on 1–3 threads (3 splits the trailing work units by rows three ways) and
 * for M below and above the decode limit and across the GEMM's 1056-row blocks; all Q4 (decode runs them as
 * one loop) and mixed Q8/Q4 (decode runs them one by one); a float matrix in the mix sends every
 * product through mv_linear instead. */
static void check_linear_many(mv_pool *const pools[3], int mixed) {
    enum { K = 96, NOUT = 4 };
    static const int Ns[NOUT] = { 130, 5, 49, 1 }, Ms[] = { 1, 3, 17, 519, 1100 };
    qmat q[NOUT];
    for (int i = 0; i < NOUT; i++) q[i] = make_qmat(mixed && i % 2 == 0 ? MV_Q8 : MV_Q4, Ns[i], K);
    float bias[130];
    fill(bias, 130, 1.f);
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
        const int M = Ms[mi];
        float *x = malloc((size_t)M * K * sizeof *x), *got[NOUT], *ref = malloc((size_t)M * 130 * sizeof *ref);
        fill(x, (size_t)M * K, 2.f);
        mv_linear_out outs[NOUT];
        for (int i = 0; i < NOUT; i++) {
            got[i] = malloc((size_t)M * Ns[i] * sizeof **got);
            outs[i] = (mv_linear_out){ got[i], &q[i].w, i == 0 ? bias : NULL };
        }
        for (int t = 0; t < 3; t++)
            for (int with_float = 0; with_float < 2; with_float++) {
                /* the float twin of output 2: its dequantized weights, compared with the float reference */
                mv_matrix wdeq = { .dtype = MV_F32, .data = q[2].deq, .rows = Ns[2], .cols = K };
                outs[2].w = with_float ? &wdeq : &q[2].w;
                for (int i = 0; i < NOUT; i++) memset(got[i], 0xff, (size_t)M * Ns[i] * sizeof **got);
                mv_linear_many(pools[t], x, M, outs, NOUT);
                for (int i = 0; i < NOUT; i++) {
                    const int is_float = with_float && i == 2;
                    if (is_float) mv_linear_ref(pools[1], ref, x, M, &wdeq, outs[i].bias);
                    else mv_linear_q_ref(pools[1], ref, x, M, &q[i].w, outs[i].bias);
                    /* the integer reference is what every integer path computes; a CPU without the
                     * integer GEMM dequantizes prefill sizes instead (the float reference over q.deq) */
                    if (!is_float && !mv_linear_q_handles(M)) {
                        mv_matrix d = { .dtype = MV_F32, .data = q[i].deq, .rows = Ns[i], .cols = K };
                        mv_linear_ref(pools[1], ref, x, M, &d, outs[i].bias);
                    }
                    const double e = linear_rel_err(got[i], ref, x, q[i].deq, outs[i].bias, M, K, Ns[i]);
                    CHECK(e <= 1e-5, "mv_linear_many mixed=%d M=%d threads=%d float=%d output %d (N=%d): rel err %g",
                          mixed, M, t + 1, with_float, i, Ns[i], e);
                }
            }
        outs[2].w = &q[2].w;
        for (int i = 0; i < NOUT; i++) free(got[i]);
        free(x);
        free(ref);
    }
    for (int i = 0; i < NOUT; i++) free_qmat(&q[i]);
}

int main(void) {
    static const int Ks[] = { 32, 96, 544, 896, 1056 }, Ns[] = { 1, 5, 33, 130 }, Ms[] = { 1, 2, 3, 4, 5, 17, 519, 1100 };
    static const mv_qtype types[] = { MV_Q8, MV_Q4 };
    mv_pool *pools[3] = { mv_pool_create(1), mv_pool_create(2), mv_pool_create(3) };
    const mv_qgemv_isa *isas[2];
    int n_isas = 0;
    __builtin_cpu_init();
    if (cpu_has_avx512() && __builtin_cpu_supports("avx512vnni")) isas[n_isas++] = &mv_qgemv_avx512vnni;
    if (cpu_has_avx2()) isas[n_isas++] = &mv_qgemv_avx2;
    printf("dispatch: %s; integer kernels tested directly: %d; integer prefill GEMM dispatched: %s\n", mv_kernels_isa(),
           n_isas, mv_linear_q_handles(MV_QGEMV_MAX_M + 1) ? "yes" : "no");
    double worst_isa = 0, worst_disp = 0, worst_act = 0;
    int cases = 0;
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
                const int K = Ks[ki], N = Ns[ni];
                qmat q = make_qmat(types[ti], N, K);
                float *bias = malloc((size_t)N * sizeof *bias);
                fill(bias, (size_t)N, 1.f);
                mv_matrix wdeq = { .dtype = MV_F32, .data = q.deq, .rows = N, .cols = K };
                for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
                    const int M = Ms[mi];
                    /* the long inputs (a partial 1056-row GEMM block, and two) on the smaller shapes only:
                     * their references are O(M·N·K) in plain C, slow under the sanitizers */
                    if (M > 64 && (size_t)K * (size_t)N > 544 * 33) continue;
                    float *x = malloc((size_t)M * K * sizeof *x), *ref = malloc((size_t)M * N * sizeof *ref);
                    float *fref = malloc((size_t)M * N * sizeof *fref), *got = malloc((size_t)M * N * sizeof *got);
                    fill(x, (size_t)M * K, 2.f);
                    x[0] = 0; /* a zero and an all-zero block (when there is a second one) */
                    if (K >= 64) memset(x + MV_QBLOCK, 0, MV_QBLOCK * sizeof *x);
                    for (int b = 0; b < 2; b++) {
                        const float *bp = b ? bias : NULL;
                        const char *tn = mv_qtype_name(types[ti]);
                        mv_linear_q_ref(pools[1], ref, x, M, &q.w, bp);
                        mv_linear_ref(pools[1], fref, x, M, &wdeq, bp);
                        double a = act_bound_ok(ref, fref, x, q.deq, M, K, N);
                        CHECK(a <= 1, "%s M=%d K=%d N=%d: int8 activations moved the result %.3f× past the bound", tn,
                              M, K, N, a);
                        if (a > worst_act) worst_act = a;
                        for (int i = 0; i < n_isas; i++)
                            for (int gemm = 0; gemm < 2; gemm++) {
                                if (gemm && (!isas[i]->gemm_tile || M <= MV_QGEMV_MAX_M)) continue;
                                memset(got, 0xff, (size_t)M * N * sizeof *got);
                                if (gemm) CHECK(mv_qgemm(isas[i], pools[1], x, M, &(mv_linear_out){ got, &q.w, bp }, 1), "qgemm scratch");
                                else run_isa_rows(isas[i], &q, x, M, bp, got);
                                double e = linear_rel_err(got, ref, x, q.deq, bp, M, K, N);
                                CHECK(e <= 1e-5, "%s%s %s M=%d K=%d N=%d bias=%d: rel err %g vs the integer reference",
                                      isas[i]->name, gemm ? " gemm" : "", tn, M, K, N, b, e);
                                if (!(e <= worst_isa) && worst_isa == worst_isa) worst_isa = e;
                                cases++;
                            }
                        for (int t = 0; t < 2; t++) {
                            memset(got, 0xff, (size_t)M * N * sizeof *got);
                            mv_linear(pools[t], got, x, M, &q.w, bp);
                            /* decode sizes take the integer path, longer inputs the integer GEMM where the
                             * CPU has one (AVX512-VNNI), else the dequantized float GEMM */
                            double e = linear_rel_err(got, mv_linear_q_handles(M) ? ref : fref, x, q.deq, bp, M, K, N);
                            CHECK(e <= 1e-5, "mv_linear %s M=%d K=%d N=%d bias=%d threads=%d: rel err %g", tn, M, K, N,
                                  b, t + 1, e);
                            if (!(e <= worst_disp) && worst_disp == worst_disp) worst_disp = e;
                            cases++;
                        }
                    }
                    free(x);
                    free(ref);
                    free(fref);
                    free(got);
                }
                free(bias);
                free_qmat(&q);
            }
    /* an all-zero row quantizes to zero scales and stays exactly zero */
    float zeros[64] = { 0 }, back[64];
    int8_t codes[64];
    uint16_t sc[2] = { 1, 1 };
    mv_q_quantize_row(MV_Q8, MV_F32, zeros, 64, codes, sc);
    mv_matrix zw = { .dtype = MV_I8, .data = codes, .rows = 1, .cols = 64, .qtype = MV_Q8, .scales = sc };
    mv_q_dequant(&zw, 0, 0, 64, back);
    CHECK(sc[0] == 0 && sc[1] == 0 && back[5] == 0 && back[63] == 0, "zero row: scales %u %u", sc[0], sc[1]);
    check_linear_many(pools, 0);
    check_linear_many(pools, 1);
    printf("%d cases: kernels vs integer reference %.2e, dispatched %.2e, activation error %.2f of its bound\n", cases,
           worst_isa, worst_disp, worst_act);
    mv_pool_free(pools[0]);
    mv_pool_free(pools[1]);
    mv_pool_free(pools[2]);
    return mvt_done("test_quant_kernels");
}
