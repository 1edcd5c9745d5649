/* ktest.h — helpers shared by the kernel tests: a deterministic RNG and CPU feature checks that
 * mirror the dispatcher's, so each test knows which SIMD paths it can call directly. */
#ifndef MV_KTEST_H
#define MV_KTEST_H

#include <math.h>
#include <stddef.h>

static unsigned long long ktest_rng = 88172645463325252ULL;

/* xorshift: uniform in [-1, 1) */
static inline float frand(void) {
    ktest_rng ^= ktest_rng << 13;
    ktest_rng ^= ktest_rng >> 7;
    ktest_rng ^= ktest_rng << 17;
    return (float)((ktest_rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

static inline void fill(float *a, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) a[i] = frand() * scale;
}

/* Max over outputs of |got - ref| / (Σ_k |x_k w_k| + |b|): a product's error relative to the size of
 * its sum, for y[M,N] = x[M,K]·wf[N,K]ᵀ (+ bias). NaN sticks. */
static inline double linear_rel_err(const float *got, const float *ref, const float *x, const float *wf,
                                    const float *bias, int M, int K, int N) {
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double mag = bias ? fabs(bias[n]) : 0;
            for (int k = 0; k < K; k++) mag += fabs((double)x[(size_t)m * K + k] * wf[(size_t)n * K + k]);
            double e = fabs((double)got[(size_t)m * N + n] - ref[(size_t)m * N + n]) / (mag + 1e-30);
            if (e != e) return e; /* a NaN (an element never written) must not be overwritten by a later max */
            if (e > worst) worst = e;
        }
    return worst;
}

static inline int cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}

static inline int cpu_has_avx512bf16(void) { return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16"); }

#endif
