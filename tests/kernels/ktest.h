/* ktest.h — helpers shared by the kernel tests: a deterministic RNG and CPU feature checks that
 * mirror the dispatcher's, so each test knows which SIMD paths it can call directly. */
#ifndef MV_KTEST_H
#define MV_KTEST_H

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

static inline int cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static inline int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}

#endif
