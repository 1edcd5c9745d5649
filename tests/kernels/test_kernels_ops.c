/* test_kernels_ops.c — SIMD row/elementwise kernels against the plain C reference: the erf behind GELU
 * (ulps against double erf, densely over the float line and at 0/denormals/inf/NaN), GELU, LayerNorm and
 * RMSNorm on rows of 896–4096 realistic values (and odd sizes, aliasing, no beta), add and RoPE (bit-exact),
 * for each ISA the CPU has and through the dispatcher (which the MINIVL_ISA reruns force to each ISA). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "ktest.h"
#include "testutil.h"

typedef struct op_set {
    const char *name;
    void (*erf)(float *, size_t); /* NULL for the dispatcher (it exposes GELU only) */
    void (*gelu)(float *, size_t);
    void (*layernorm)(float *, const float *, int, int, const float *, const float *, float);
    void (*rmsnorm)(float *, const float *, int, int, const float *, float);
    void (*add)(float *, const float *, size_t);
    void (*rope_cs)(float *, int, int, const float *, const float *);
} op_set;

/* |got - exact| in units of the float spacing at `exact` (denormal spacing below FLT_MIN). */
static double ulps(float got, double exact) {
    int e;
    frexp(exact, &e);
    return fabs((double)got - exact) / ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* erf over every 61st float in [0, 4.5] (both signs; erf rounds to ±1 beyond 3.92), a decimal grid over
 * [-10, 10], and the special values. */
static void test_erf(const op_set *s) {
    enum { B = 4096 };
    static float in[B], out[B];
    double worst = 0;
    float worst_at = 0;
    for (uint32_t u0 = 0; u0 < 0x40900000u; u0 += 61u * (B / 2)) {
        int n = 0;
        for (uint32_t u = u0; n < B / 2 && u < 0x40900000u; u += 61u) n++, in[n - 1] = from_bits(u);
        for (int i = 0, h = n; i < h; i++) in[n++] = -in[i]; /* the negatives too: erf is odd */
        memcpy(out, in, (size_t)n * sizeof *out);
        s->erf(out, (size_t)n);
        for (int i = 0; i < n; i++) {
            double e = ulps(out[i], erf((double)in[i]));
            if (!(e <= worst) && worst == worst) { worst = e; worst_at = in[i]; }
        }
    }
    for (int i = -100000; i <= 100000; i += B) {
        int n = 0;
        for (; n < B && i + n <= 100000; n++) in[n] = (float)(i + n) * 1e-4f;
        memcpy(out, in, (size_t)n * sizeof *out);
        s->erf(out, (size_t)n);
        for (int j = 0; j < n; j++) {
            double e = ulps(out[j], erf((double)in[j]));
            if (!(e <= worst) && worst == worst) { worst = e; worst_at = in[j]; }
        }
    }
    printf("erf %s: max error %.3f ulp (at %.9g)\n", s->name, worst, (double)worst_at);
    CHECK(worst <= 1.15, "erf %s: %.3f ulp at %.9g", s->name, worst, (double)worst_at);

    float sp[] = { 0.f, -0.f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, from_bits(1), -from_bits(1), FLT_MIN,
                   3.9999998f, 4.f, -4.f, 1e-20f };
    const size_t n = sizeof sp / sizeof *sp;
    memcpy(out, sp, sizeof sp);
    s->erf(out, n);
    CHECK(out[0] == 0.f && !signbit(out[0]) && out[1] == 0.f && signbit(out[1]), "erf %s: signed zeros", s->name);
    CHECK(out[2] == 1.f && out[3] == -1.f && isnan(out[4]), "erf %s: inf/NaN: %g %g %g", s->name, out[2], out[3], out[4]);
    CHECK(out[5] == 1.f && out[6] == -1.f, "erf %s: ±FLT_MAX", s->name);
    for (size_t i = 7; i < n; i++)
        CHECK(ulps(out[i], erf((double)sp[i])) <= 1.0, "erf %s(%g) = %.9g, want %.9g", s->name, (double)sp[i],
              (double)out[i], erf((double)sp[i]));
}

/* GELU against the reference. The reference forms 1 + erf(x/√2) in float, which cancels for x ≪ 0: a
 * 1-ulp difference in erf near -1 changes the result by 0.5|x|·2^-24, however small the result. So the
 * bound is 1e-6 relative plus |x|·2^-24 (two such ulps), and 1e-6 relative alone for x ≥ -1. */
static void test_gelu(const op_set *s) {
    enum { N = 3 * 1025 + 5 };
    float *x = malloc(N * sizeof *x), *r = malloc(N * sizeof *r), *g = malloc(N * sizeof *g);
    fill(x, N, 6.f);
    for (int i = 0; i < 200; i++) x[i] = (float)(i - 100) * 0.1f; /* a regular grid over [-10, 10) */
    const float sp[] = { 0.f, -0.f, INFINITY, -INFINITY, NAN, 1e-30f, -1e-30f, 80.f, -80.f, 5.65f, -5.65f };
    memcpy(x + 200, sp, sizeof sp);
    const size_t lens[] = { 1, 15, 17, N };
    for (size_t li = 0; li < 4; li++) {
        const size_t n = lens[li];
        memcpy(r, x, n * sizeof *r);
        memcpy(g, x, n * sizeof *g);
        mv_gelu_erf_ref(r, n);
        s->gelu(g, n);
        double worst = 0, worst_floor = 0;
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(r[i]) || isinf(r[i])) {
                if (!(isnan(g[i]) == isnan(r[i]) && (isnan(r[i]) || g[i] == r[i]))) bad++;
                continue;
            }
            const double d = fabs((double)g[i] - r[i]), rel = d / (fabs(r[i]) + 1e-38);
            const double lim = 1e-6 * fabs(r[i]) + fabs(x[i]) * 0x1p-24;
            if (x[i] >= -1.f && rel > worst) worst = rel;
            if (d / (lim + 1e-45) > worst_floor) worst_floor = d / (lim + 1e-45);
            if (!(d <= lim) || (x[i] >= -1.f && !(rel <= 1e-6))) bad++;
        }
        if (n == N) printf("gelu %s: max rel err %.3g (x >= -1), max err / bound %.3g\n", s->name, worst, worst_floor);
        CHECK(bad == 0, "gelu %s n=%zu: %zu outputs out of bounds", s->name, n, bad);
    }
    free(x); free(r); free(g);
}

/* Rows like transformer hidden states: a per-row offset and scale, a few large outlier channels. */
static void fill_rows(float *x, int rows, int dim) {
    for (int r = 0; r < rows; r++) {
        float off = frand() * 2.f, sc = 0.5f + 4.f * fabsf(frand());
        for (int i = 0; i < dim; i++) x[(size_t)r * dim + i] = off + sc * frand();
        if (dim > 64) x[(size_t)r * dim + 17] = 60.f * frand(), x[(size_t)r * dim + dim / 2] = -40.f;
    }
}

static void test_norms(const op_set *s) {
    static const int dims[] = { 896, 1024, 4096, 1, 7, 33, 100 };
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        const int dim = dims[di], rows = 5;
        const size_t n = (size_t)rows * dim;
        float *x = malloc(n * sizeof *x), *r = malloc(n * sizeof *r), *g = malloc(n * sizeof *g);
        float *gamma = malloc((size_t)dim * sizeof *gamma), *beta = malloc((size_t)dim * sizeof *beta);
        fill_rows(x, rows, dim);
        for (int i = 0; i < dim; i++) gamma[i] = 1.f + 0.5f * frand(), beta[i] = 0.2f * frand();
        char what[96];
        for (int variant = 0; variant < 3; variant++) { /* with beta, without, in place */
            const float *b = variant == 1 ? NULL : beta;
            mv_layernorm_ref(r, x, rows, dim, gamma, b, 1e-6f);
            if (variant == 2) {
                memcpy(g, x, n * sizeof *g);
                s->layernorm(g, g, rows, dim, gamma, b, 1e-6f);
            } else {
                s->layernorm(g, x, rows, dim, gamma, b, 1e-6f);
            }
            snprintf(what, sizeof what, "layernorm %s dim=%d variant=%d", s->name, dim, variant);
            mvt_allclose(what, g, r, n, 1e-30, 1e-6);
        }
        mv_rmsnorm_ref(r, x, rows, dim, gamma, 1e-6f);
        s->rmsnorm(g, x, rows, dim, gamma, 1e-6f);
        snprintf(what, sizeof what, "rmsnorm %s dim=%d", s->name, dim);
        mvt_allclose(what, g, r, n, 1e-30, 1e-6);
        memcpy(g, x, n * sizeof *g);
        s->rmsnorm(g, g, rows, dim, gamma, 1e-6f);
        snprintf(what, sizeof what, "rmsnorm %s dim=%d in place", s->name, dim);
        mvt_allclose(what, g, r, n, 1e-30, 1e-6);
        free(x); free(r); free(g); free(gamma); free(beta);
    }
}

/* add and RoPE are the reference's own float operations: bit-exact. */
static void test_add_rope(const op_set *s) {
    enum { N = 1025 };
    float a[N], b[N], r[N], g[N];
    fill(a, N, 10.f);
    fill(b, N, 10.f);
    const size_t lens[] = { 1, 15, 17, N };
    for (size_t li = 0; li < 4; li++) {
        memcpy(r, a, sizeof a);
        memcpy(g, a, sizeof a);
        mv_add_ref(r, b, lens[li]);
        s->add(g, b, lens[li]);
        CHECK(!memcmp(r, g, sizeof r), "add %s n=%zu differs from the reference", s->name, lens[li]);
    }
    static const int head_dims[] = { 64, 128, 34, 6, 2 };
    for (size_t hi = 0; hi < sizeof head_dims / sizeof *head_dims; hi++) {
        const int hd = head_dims[hi], heads = 7, half = hd / 2;
        float cs[64], sn[64];
        for (int i = 0; i < half; i++) cs[i] = cosf(0.37f * (float)i + 1.f), sn[i] = sinf(0.37f * (float)i + 1.f);
        fill(a, (size_t)heads * hd, 3.f);
        memcpy(r, a, (size_t)heads * hd * sizeof *r);
        memcpy(g, a, (size_t)heads * hd * sizeof *g);
        mv_rope_cs_ref(r, heads, hd, cs, sn);
        s->rope_cs(g, heads, hd, cs, sn);
        CHECK(!memcmp(r, g, (size_t)heads * hd * sizeof *r), "rope %s head_dim=%d differs from the reference",
              s->name, hd);
    }
}

int main(void) {
    op_set sets[3] = { { "dispatch", NULL, mv_gelu_erf, mv_layernorm, mv_rmsnorm, mv_add, mv_rope_cs } };
    int n_sets = 1;
    if (cpu_has_avx2())
        sets[n_sets++] = (op_set){ "avx2", mv_erf_avx2, mv_gelu_erf_avx2, mv_layernorm_avx2, mv_rmsnorm_avx2,
                                   mv_add_avx2, mv_rope_cs_avx2 };
    if (cpu_has_avx512())
        sets[n_sets++] = (op_set){ "avx512", mv_erf_avx512, mv_gelu_erf_avx512, mv_layernorm_avx512,
                                   mv_rmsnorm_avx512, mv_add_avx512, mv_rope_cs_avx512 };
    printf("kernels ISA in use: %s\n", mv_kernels_isa());
    for (int i = 0; i < n_sets; i++) {
        if (sets[i].erf) test_erf(&sets[i]);
        test_gelu(&sets[i]);
        test_norms(&sets[i]);
        test_add_rope(&sets[i]);
    }
    return mvt_done("test_kernels_ops");
}
