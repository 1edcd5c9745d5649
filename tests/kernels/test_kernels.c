/* test_kernels.c — SIMD kernels against the plain C reference: mv_linear on odd shapes for every
 * weight dtype, with/without bias, 1 and 2 threads; attention (causal, offsets, decode); softmax,
 * silu, swiglu; and the MINIVL_ISA override of the dispatcher. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "ktest.h"
#include "testutil.h"

typedef struct isa_case { const char *name; const mv_gemm_isa *gemm; void (*softmax)(float *, int); } isa_case;

/* Weights in `dt` built from wf (rounded there, so wf is then overwritten with the exact values). */
static void *make_weights(mv_dtype dt, float *wf, size_t n) {
    void *w = malloc(n * mv_dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        if (dt == MV_BF16) {
            ((uint16_t *)w)[i] = mv_f32_to_bf16(wf[i]);
            wf[i] = mv_bf16_to_f32(((uint16_t *)w)[i]);
        } else if (dt == MV_F16) {
            ((uint16_t *)w)[i] = mv_f32_to_f16(wf[i]);
            wf[i] = mv_f16_to_f32(((uint16_t *)w)[i]);
        } else {
            ((float *)w)[i] = wf[i];
        }
    }
    return w;
}

/* Every ISA's tiled GEMM and the dispatched entry point, 1 and 2 threads, with and without bias, against
 * the reference on one (dtype, K, N) matrix and the given row counts. */
static void check_linear(const isa_case *isas, int n_isas, mv_pool *pools[2], mv_dtype dt, int K, int N,
                         const int *Ms, int n_ms, double *worst, int *cases) {
    float *wf = malloc((size_t)N * K * sizeof *wf), *bias = malloc((size_t)N * sizeof *bias);
    fill(wf, (size_t)N * K, 0.5f);
    fill(bias, (size_t)N, 1.f);
    void *wd = make_weights(dt, wf, (size_t)N * K);
    mv_matrix w = { .dtype = dt, .data = wd, .rows = N, .cols = K };
    for (int mi = 0; mi < n_ms; mi++) {
        const int M = Ms[mi];
        float *x = malloc((size_t)M * K * sizeof *x), *ref = malloc((size_t)M * N * sizeof *ref);
        float *got = malloc((size_t)M * N * sizeof *got);
        fill(x, (size_t)M * K, 2.f);
        for (int b = 0; b < 2; b++) {
            const float *bp = b ? bias : NULL;
            mv_linear_ref(pools[1], ref, x, M, &w, bp);
            for (int is = 0; is <= n_isas; is++)
                for (int t = 0; t < 2; t++) {
                    memset(got, 0xff, (size_t)M * N * sizeof *got); /* NaN: unwritten outputs show */
                    if (is < n_isas) mv_linear_tiled(isas[is].gemm, pools[t], got, x, M, &w, bp);
                    else mv_linear(pools[t], got, x, M, &w, bp); /* the dispatched entry point */
                    double e = linear_rel_err(got, ref, x, wf, bp, M, K, N);
                    CHECK(e <= 1e-5, "%s dtype %d M=%d K=%d N=%d bias=%d threads=%d: rel err %g",
                          is < n_isas ? isas[is].name : "dispatch", (int)dt, M, K, N, b, t + 1, e);
                    if (e > *worst || isnan(e)) *worst = e;
                    (*cases)++;
                }
        }
        free(x);
        free(ref);
        free(got);
    }
    free(wd);
    free(wf);
    free(bias);
}

static void test_linear(const isa_case *isas, int n_isas, mv_pool *pools[2]) {
    static const int Ms[] = { 1, 3, 4, 6, 16, 17, 100 }, Ks[] = { 1, 7, 64, 129, 896 }, Ns[] = { 1, 5, 33, 127, 300 };
    static const mv_dtype dts[] = { MV_BF16, MV_F16, MV_F32 };
    double worst = 0;
    int cases = 0;
    for (size_t di = 0; di < 3; di++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                check_linear(isas, n_isas, pools, dts[di], Ks[ki], Ns[ni], Ms, (int)(sizeof Ms / sizeof *Ms), &worst,
                             &cases);
    /* across the GEMM's blocks: k past one packed block (1024) and two; with one column block the
     * rows are cut into several row blocks (for balance), with 520 columns (9 blocks) all 1025 rows
     * share one packed block */
    static const int long_Ms[] = { 523, 1025 }, long_Ks[] = { 1030, 2100 };
    for (size_t ki = 0; ki < 2; ki++)
        check_linear(isas, n_isas, pools, MV_BF16, long_Ks[ki], 37, long_Ms, 2, &worst, &cases);
    check_linear(isas, n_isas, pools, MV_F16, 64, 520, long_Ms + 1, 1, &worst, &cases);
    printf("linear: %d cases, max relative error %.3g\n", cases, worst);
}

/* Zero inner dimension: the sum is empty, the output is the bias. */
static void test_linear_empty_k(const isa_case *isas, int n_isas) {
    float bias[3] = { 1.f, -2.f, 3.f }, y[6];
    uint16_t none = 0;
    mv_matrix w = { .dtype = MV_BF16, .data = &none, .rows = 3, .cols = 0 };
    for (int is = 0; is < n_isas; is++) {
        mv_linear_tiled(isas[is].gemm, NULL, y, NULL, 2, &w, bias);
        CHECK(y[0] == 1.f && y[4] == -2.f && y[5] == 3.f, "%s K=0 gives the bias", isas[is].name);
    }
}

typedef struct att_shape { int nq, nk, d, causal, q_offset; } att_shape;

static void test_attention(const isa_case *isas, int n_isas) {
    static const att_shape shapes[] = {
        { 1025, 1025, 64, 0, 0 }, /* vision tile */
        { 100, 100, 64, 1, 0 },   /* prefill */
        { 37, 50, 64, 1, 13 },    /* prefill continuing a cache */
        { 1, 77, 64, 1, 76 },     /* decode */
        { 2, 9, 40, 1, 7 },       /* few queries, odd head size */
        { 45, 33, 24, 0, 0 },     /* odd sizes, non-causal */
        { 9, 5, 64, 1, 100 },     /* offset past the cache: all keys visible */
        /* the tiled path takes keys in chunks of 256 with an online softmax: a causal block whose first
         * rows see none of the last chunk's keys, and chunks that end in part of a panel */
        { 40, 290, 64, 1, 250 },
        { 70, 530, 40, 0, 0 },
    };
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const att_shape s = shapes[si];
        const int q_stride = 3 * s.d + 5, kv_stride = 2 * s.d + 3, out_stride = s.d + 7;
        float *q = malloc((size_t)s.nq * q_stride * sizeof *q), *k = malloc((size_t)s.nk * kv_stride * sizeof *k);
        float *v = malloc((size_t)s.nk * kv_stride * sizeof *v), *scratch = malloc((size_t)s.nk * sizeof *scratch);
        float *ref = calloc((size_t)s.nq * out_stride, sizeof *ref), *got = calloc((size_t)s.nq * out_stride, sizeof *got);
        fill(q, (size_t)s.nq * q_stride, 2.f);
        fill(k, (size_t)s.nk * kv_stride, 2.f);
        fill(v, (size_t)s.nk * kv_stride, 1.f);
        const float scale = 1.f / sqrtf((float)s.d);
        mv_attention_head_ref(ref, out_stride, q, q_stride, k, v, kv_stride, s.nq, s.nk, s.d, scale, s.causal,
                              s.q_offset, scratch);
        for (int is = 0; is <= n_isas; is++) {
            char what[128];
            if (is < n_isas)
                mv_attention_tiled(isas[is].gemm, isas[is].softmax, got, out_stride, q, q_stride, k, v, kv_stride,
                                   s.nq, s.nk, s.d, scale, s.causal, s.q_offset, scratch);
            else
                mv_attention_head(got, out_stride, q, q_stride, k, v, kv_stride, s.nq, s.nk, s.d, scale, s.causal,
                                  s.q_offset, scratch);
            snprintf(what, sizeof what, "attention %s nq=%d nk=%d d=%d causal=%d off=%d",
                     is < n_isas ? isas[is].name : "dispatch", s.nq, s.nk, s.d, s.causal, s.q_offset);
            mvt_allclose(what, got, ref, (size_t)s.nq * out_stride, 2e-6, 1e-5);
        }
        free(q); free(k); free(v); free(scratch); free(ref); free(got);
    }
}

typedef struct ew_set {
    const char *name;
    void (*softmax)(float *, int);
    void (*silu)(float *, size_t);
    void (*swiglu)(float *, const float *, size_t);
} ew_set;

static void test_elementwise(const ew_set *sets, int n_sets) {
    enum { N = 1000 + 13 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *r = malloc(N * sizeof *r), *g = malloc(N * sizeof *g);
    fill(a, N, 30.f);
    a[0] = -120.f; a[1] = 95.f; a[2] = 0.f; a[3] = -88.f; /* beyond exp's range on both sides */
    fill(b, N, 3.f);
    for (int si = 0; si < n_sets; si++) {
        char what[96];
        const int lens[] = { 1, 15, 17, N };
        for (int li = 0; li < 4; li++) {
            int n = lens[li];
            memcpy(r, a, (size_t)n * sizeof *r);
            memcpy(g, a, (size_t)n * sizeof *g);
            mv_softmax_ref(r, n);
            sets[si].softmax(g, n);
            snprintf(what, sizeof what, "softmax %s n=%d", sets[si].name, n);
            mvt_allclose(what, g, r, (size_t)n, 1e-9, 1e-6);
        }
        memcpy(r, a, N * sizeof *r);
        memcpy(g, a, N * sizeof *g);
        mv_silu_ref(r, N);
        sets[si].silu(g, N);
        snprintf(what, sizeof what, "silu %s", sets[si].name);
        mvt_allclose(what, g, r, N, 1e-30, 1e-6);
        memcpy(r, a, N * sizeof *r);
        memcpy(g, a, N * sizeof *g);
        mv_swiglu_ref(r, b, N);
        sets[si].swiglu(g, b, N);
        snprintf(what, sizeof what, "swiglu %s", sets[si].name);
        mvt_allclose(what, g, r, N, 1e-30, 1e-6);
    }
    free(a); free(b); free(r); free(g);
}

/* The BF16 attention's softmax numerators: bf16(exp(scale·x − max)) against double within one BF16
 * rounding, exactly 1 at the maximum, zeros over the padding up to width (which starts out as
 * garbage), and the returned sum that of the rounded values. */
static void test_softmax_bf16_avx512(void) {
    enum { N = 1000 + 13, W = (N + 31) / 32 * 32 };
    float *a = malloc(W * sizeof *a);
    uint16_t *p = malloc(W * sizeof *p);
    fill(a, W, 30.f);
    a[0] = -120.f; a[1] = 95.f; a[2] = 0.f; /* the maximum of the long row at index 1 */
    const int lens[] = { 1, 15, 17, 33, N }, widths[] = { 32, 32, 32, 64, W };
    for (int li = 0; li < 5; li++) {
        const int n = lens[li], width = widths[li];
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) mx = fmax(mx, a[i] * 0.125f);
        memset(p, 0xff, W * sizeof *p);
        const float got_sum = mv_softmax_bf16_avx512(a, n, width, 0.125f, p);
        int bad = 0, ones = 0, zeros = 1;
        for (int i = 0; i < n; i++) {
            const double e = exp(a[i] * 0.125f - mx), g = mv_bf16_to_f32(p[i]);
            bad += !(fabs(g - e) <= e / 256 + 1e-30);
            ones += g == 1.0 && a[i] * 0.125f == mx;
            sum += g;
        }
        for (int i = n; i < width; i++) zeros &= p[i] == 0;
        CHECK(!bad && ones >= 1 && zeros && fabs(got_sum - sum) <= 1e-6 * sum,
              "softmax_bf16 n=%d width=%d: %d off by more than a BF16 rounding, max %s 1, padding %s, sum %g vs %g",
              n, width, bad, ones ? "is" : "is not", zeros ? "zero" : "not zero", got_sum, sum);
    }
    free(a);
    free(p);
}

/* The dispatcher honours MINIVL_ISA when the CPU has that ISA. */
static void test_dispatch_choice(void) {
    const char *env = getenv("MINIVL_ISA"), *got = mv_kernels_isa();
    printf("kernels ISA in use: %s (MINIVL_ISA=%s)\n", got, env ? env : "unset");
    CHECK(!strcmp(got, "scalar") || !strcmp(got, "avx2") || !strcmp(got, "avx512"), "isa name %s", got);
    if (!env) {
        CHECK(strcmp(got, cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "scalar") == 0,
              "detected isa %s", got);
    } else if (!strcmp(env, "scalar") || (!strcmp(env, "avx2") && cpu_has_avx2()) ||
               (!strcmp(env, "avx512") && cpu_has_avx512())) {
        CHECK(!strcmp(got, env), "MINIVL_ISA=%s but using %s", env, got);
    }
    CHECK(mv_kernels_isa() == got, "choice is stable");
}

int main(void) {
    isa_case isas[2];
    ew_set sets[3] = { { "dispatch", mv_softmax, mv_silu, mv_swiglu } };
    int n_isas = 0, n_sets = 1;
    if (cpu_has_avx2()) {
        isas[n_isas++] = (isa_case){ "avx2", &mv_gemm_avx2, mv_softmax_avx2 };
        sets[n_sets++] = (ew_set){ "avx2", mv_softmax_avx2, mv_silu_avx2, mv_swiglu_avx2 };
    }
    if (cpu_has_avx512()) {
        isas[n_isas++] = (isa_case){ "avx512", &mv_gemm_avx512, mv_softmax_avx512 };
        sets[n_sets++] = (ew_set){ "avx512", mv_softmax_avx512, mv_silu_avx512, mv_swiglu_avx512 };
    }
    mv_pool *pools[2] = { NULL, mv_pool_create(2) };
    test_dispatch_choice();
    test_linear(isas, n_isas, pools);
    test_linear_empty_k(isas, n_isas);
    test_attention(isas, n_isas);
    test_elementwise(sets, n_sets);
    if (cpu_has_avx512bf16()) test_softmax_bf16_avx512();
    mv_pool_free(pools[1]);
    return mvt_done("test_kernels");
}
