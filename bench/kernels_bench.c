/* kernels_bench.c — dispatched kernels vs their plain C references on the shapes that dominate
 * InternVL2-1B: mv_linear (GFLOP/s), one vision attention head, all 16 vision heads through the pool,
 * GELU over 1025×4096, LayerNorm 1025×1024; for the many-row products also precision bf16, and the
 * weights in Q8 on the integer GEMM and dequantized into BF16 panels (the AMX route).
 * Usage: kernels_bench [threads] [reps] [noref]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *a, size_t n) {
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)(s >> 8) / 16777216.f - 0.5f;
    }
}

typedef void (*linear_fn)(mv_pool *, float *, const float *, int, const mv_matrix *, const float *);

/* Best time of `reps` runs (after one warm-up). */
static double time_linear(linear_fn f, mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w,
                          const float *b, int reps) {
    f(pool, y, x, M, w, b);
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        f(pool, y, x, M, w, b);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static int skip_ref; /* third argument "noref": time only the dispatched kernels */

static void run_linear_bf16(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *b) {
    (void)mv_linear_bf16(pool, y, x, M, w, b);
}

/* The same product with w quantized to Q8: the integer GEMM (what precision f32, and bf16 without AMX,
 * run) against its panels dequantized into the BF16 GEMM (the AMX route, here on the CPU's BF16
 * kernel), and that against packing the BF16 weights themselves (t_bf16). */
static int bench_q8_routes(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *b,
                           int reps, double t_bf16) {
    const int N = w->rows, K = w->cols, nb = K / MV_QBLOCK;
    if (K % MV_QBLOCK || !strcmp(mv_bf16_kernel(), "none")) return 0;
    int8_t *codes = malloc((size_t)N * K);
    uint16_t *scales = malloc((size_t)N * nb * sizeof *scales);
    if (!codes || !scales) return 1;
    for (int r = 0; r < N; r++)
        mv_q_quantize_row(MV_Q8, w->dtype, (const char *)w->data + (size_t)r * K * mv_dtype_size(w->dtype), K,
                          codes + (size_t)r * K, scales + (size_t)r * nb);
    mv_matrix q = { .dtype = MV_I8, .data = codes, .rows = N, .cols = K, .qtype = MV_Q8, .scales = scales };
    const double flop = 2.0 * M * K * N, ti = time_linear(mv_linear, pool, y, x, M, &q, b, reps);
    const double tq = time_linear(run_linear_bf16, pool, y, x, M, &q, b, reps);
    printf("  Q8: integer GEMM %8.2f GFLOP/s (%.3f ms) | dequantized into BF16 panels %8.2f (%.3f ms, x%.2f the "
           "BF16 weights' time)\n", flop / ti * 1e-9, ti * 1e3, flop / tq * 1e-9, tq * 1e3, tq / t_bf16);
    free(codes);
    free(scales);
    return 0;
}

static int bench_linear(mv_pool *pool, int M, int K, int N, int reps) {
    float *x = malloc((size_t)M * K * sizeof *x), *wf = malloc((size_t)N * K * sizeof *wf);
    float *b = malloc((size_t)N * sizeof *b), *y = malloc((size_t)M * N * sizeof *y);
    uint16_t *wb = malloc((size_t)N * K * sizeof *wb);
    if (!x || !wf || !b || !y || !wb) return 1;
    fill(x, (size_t)M * K);
    fill(wf, (size_t)N * K);
    fill(b, (size_t)N);
    for (size_t i = 0; i < (size_t)N * K; i++) wb[i] = mv_f32_to_bf16(wf[i]);
    mv_matrix w = { .dtype = MV_BF16, .data = wb, .rows = N, .cols = K };
    double flop = 2.0 * M * K * N;
    double t = time_linear(mv_linear, pool, y, x, M, &w, b, reps);
    double tr = skip_ref ? NAN : time_linear(mv_linear_ref, pool, y, x, M, &w, b, M > 1 ? 1 : reps);
    printf("mv_linear M=%-5d K=%-5d N=%-5d bf16: %s %8.2f GFLOP/s (%.3f ms) | ref %6.2f GFLOP/s | x%.1f\n", M, K,
           N, mv_kernels_isa(), flop / t * 1e-9, t * 1e3, flop / tr * 1e-9, tr / t);
    w.bf16_act = 1; /* precision bf16: BF16 activations from MV_BF16_MIN_M rows */
    if (M >= MV_BF16_MIN_M) {
        double tb = time_linear(mv_linear, pool, y, x, M, &w, b, reps);
        printf("  precision bf16 (%s kernel): %8.2f GFLOP/s (%.3f ms) | x%.2f the FP32 path\n", mv_bf16_kernel(),
               flop / tb * 1e-9, tb * 1e3, t / tb);
        if (bench_q8_routes(pool, y, x, M, &w, b, reps, tb)) return 1;
    }
    free(x); free(wf); free(b); free(y); free(wb);
    return 0;
}

static int bench_attention(int n, int d, int reps) {
    float *q = malloc((size_t)n * d * sizeof *q), *k = malloc((size_t)n * d * sizeof *k);
    float *v = malloc((size_t)n * d * sizeof *v), *o = malloc((size_t)n * d * sizeof *o);
    float *s = malloc((size_t)n * sizeof *s);
    if (!q || !k || !v || !o || !s) return 1;
    fill(q, (size_t)n * d);
    fill(k, (size_t)n * d);
    fill(v, (size_t)n * d);
    double best = INFINITY, tr;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        mv_attention_head(o, d, q, d, k, v, d, n, n, d, 0.125f, 0, 0, s);
        if (r > 0 && now() - t0 < best) best = now() - t0;
    }
    double t0 = now();
    if (!skip_ref) mv_attention_head_ref(o, d, q, d, k, v, d, n, n, d, 0.125f, 0, 0, s);
    tr = skip_ref ? NAN : now() - t0;
    double flop = 4.0 * n * n * d;
    printf("attention head nq=nk=%d d=%d (1 thread): %s %8.2f GFLOP/s (%.3f ms) | ref %6.2f GFLOP/s | x%.1f\n", n,
           d, mv_kernels_isa(), flop / best * 1e-9, best * 1e3, flop / tr * 1e-9, tr / best);
    free(q); free(k); free(v); free(o); free(s);
    return 0;
}

/* Best of `reps` timed runs of fn(ctx) after one warm-up; NAN when reps is 0. */
static double best_time(void (*fn)(void *), void *ctx, int reps) {
    if (reps <= 0) return NAN;
    fn(ctx);
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static void report(const char *what, double t, double tr) {
    printf("%-44s %s %9.3f ms | ref %9.3f ms | x%.1f\n", what, mv_kernels_isa(), t * 1e3, tr * 1e3, tr / t);
}

typedef struct ew_ctx { float *x, *y, *gamma, *beta; const float *src; size_t n; int rows, dim; } ew_ctx;

/* GELU is in place: each run restores the input first (the copy is timed for both sides alike). */
static void run_gelu(void *p) { ew_ctx *c = p; memcpy(c->x, c->src, c->n * sizeof *c->x); mv_gelu_erf(c->x, c->n); }
static void run_gelu_ref(void *p) {
    ew_ctx *c = p;
    memcpy(c->x, c->src, c->n * sizeof *c->x);
    mv_gelu_erf_ref(c->x, c->n);
}
static void run_ln(void *p) { ew_ctx *c = p; mv_layernorm(c->y, c->src, c->rows, c->dim, c->gamma, c->beta, 1e-6f); }
static void run_ln_ref(void *p) {
    ew_ctx *c = p;
    mv_layernorm_ref(c->y, c->src, c->rows, c->dim, c->gamma, c->beta, 1e-6f);
}

static int bench_elementwise(int reps) {
    const int rows = 1025, dim = 1024;
    const size_t n = (size_t)1025 * 4096;
    float *src = malloc(n * sizeof *src), *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    float *gamma = malloc((size_t)dim * sizeof *gamma), *beta = malloc((size_t)dim * sizeof *beta);
    if (!src || !x || !y || !gamma || !beta) return 1;
    fill(src, n);
    for (size_t i = 0; i < n; i++) src[i] *= 8.f;
    fill(gamma, (size_t)dim);
    fill(beta, (size_t)dim);
    ew_ctx c = { x, y, gamma, beta, src, n, rows, dim };
    report("gelu_erf 1025x4096 (1 thread)", best_time(run_gelu, &c, reps), best_time(run_gelu_ref, &c, skip_ref ? 0 : reps));
    report("layernorm 1025x1024 (1 thread)", best_time(run_ln, &c, reps), best_time(run_ln_ref, &c, skip_ref ? 0 : reps));
    free(src); free(x); free(y); free(gamma); free(beta);
    return 0;
}

typedef struct mh_ctx { mv_pool *pool; float *q, *k, *v, *o, *s; int heads, n, d; } mh_ctx;

static void run_mh(void *p) {
    mh_ctx *c = p;
    const int st = c->heads * c->d;
    mv_attention(c->pool, c->o, st, c->q, st, c->k, c->v, st, c->heads, c->heads, c->d, c->n, c->n, 0.125f, 0, 0);
}

/* The reference as a model would have run it before mv_attention: one head after another. */
static void run_mh_ref(void *p) {
    mh_ctx *c = p;
    const int st = c->heads * c->d;
    for (int h = 0; h < c->heads; h++)
        mv_attention_head_ref(c->o + h * c->d, st, c->q + h * c->d, st, c->k + h * c->d, c->v + h * c->d, st, c->n,
                              c->n, c->d, 0.125f, 0, 0, c->s);
}

static int bench_attention_mh(mv_pool *pool, int heads, int n, int d, int reps) {
    const size_t sz = (size_t)n * heads * d;
    mh_ctx c = { pool, malloc(sz * sizeof(float)), malloc(sz * sizeof(float)), malloc(sz * sizeof(float)),
                 malloc(sz * sizeof(float)), malloc((size_t)n * sizeof(float)), heads, n, d };
    if (!c.q || !c.k || !c.v || !c.o || !c.s) return 1;
    fill(c.q, sz);
    fill(c.k, sz);
    fill(c.v, sz);
    char what[96];
    snprintf(what, sizeof what, "attention %d heads x %d, d=%d (%d threads)", heads, n, d, mv_pool_threads(pool));
    double t = best_time(run_mh, &c, reps), tr = best_time(run_mh_ref, &c, skip_ref ? 0 : 1);
    report(what, t, tr);
    printf("%-44s %.2f GFLOP/s\n", "", 4.0 * heads * n * (double)n * d / t * 1e-9);
    free(c.q); free(c.k); free(c.v); free(c.o); free(c.s);
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    skip_ref = argc > 3 && !strcmp(argv[3], "noref");
    mv_pool *pool = mv_pool_create(threads);
    if (!pool) return 1;
    printf("threads %d, best of %d\n", mv_pool_threads(pool), reps);
    int rc = bench_linear(pool, 1025, 1024, 4096, reps) || bench_linear(pool, 1025, 4096, 1024, reps) ||
             bench_linear(pool, 512, 896, 4864, reps) || bench_linear(pool, 1, 896, 4864, reps * 20) ||
             bench_attention(1025, 64, reps) || bench_elementwise(reps) || bench_attention_mh(pool, 16, 1025, 64, reps);
    mv_pool_free(pool);
    return rc;
}
