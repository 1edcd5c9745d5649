/* ops_avx2.c — AVX2+FMA row and elementwise kernels: exact-erf GELU, LayerNorm, RMSNorm, add, RoPE.
 * Norm statistics accumulate in double like the reference; every other operation is the reference's
 * own float operation sequence (no FMA contraction), so outputs match it to the last bit except erf. */
#include <immintrin.h>
#include <math.h>

#include "kernels/erf_poly.h"
#include "kernels/kernels_isa.h"

#define INLINE static inline __attribute__((always_inline))

/* Lane mask for maskload/maskstore: the first min(n, 8) lanes. */
static __m256i lanes(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n < 8 ? (int)n : 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* erf to ~1 ulp (see erf_poly.h). NaN stays NaN (its interval index is arbitrary but t is NaN). */
INLINE __m256 erf256(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.f), ax = _mm256_andnot_ps(sign, x);
    __m256i idx = _mm256_cvttps_epi32(_mm256_mul_ps(ax, _mm256_set1_ps(2.f)));
    idx = _mm256_min_epi32(idx, _mm256_set1_epi32(7)); /* also catches the INT_MIN of NaN/inf/huge */
    const __m256 t = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(idx), _mm256_set1_ps(0.5f), ax); /* exact */
#define COEF(r) _mm256_permutevar8x32_ps(_mm256_load_ps(erf_poly[r]), idx)
    __m256 p = COEF(ERF_P7);
    for (int r = ERF_P7 + 1; r <= ERF_P0; r++) p = _mm256_fmadd_ps(p, t, COEF(r));
    const __m256 base = _mm256_fmadd_ps(t, COEF(ERF_E), COEF(ERF_C0));
    __m256 y = _mm256_add_ps(COEF(ERF_OFF), _mm256_fmadd_ps(t, p, base));
#undef COEF
    y = _mm256_blendv_ps(y, _mm256_set1_ps(1.f), _mm256_cmp_ps(ax, _mm256_set1_ps(4.f), _CMP_GE_OQ));
    return _mm256_or_ps(y, _mm256_and_ps(x, sign)); /* erf is odd; y ≥ 0 */
}

void mv_erf_avx2(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        _mm256_maskstore_ps(x + i, mk, erf256(_mm256_maskload_ps(x + i, mk)));
    }
}

void mv_gelu_erf_avx2(float *x, size_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f), rsqrt2 = _mm256_set1_ps(0.70710678118654752f);
    for (size_t i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        __m256 v = _mm256_maskload_ps(x + i, mk);
        __m256 e = erf256(_mm256_mul_ps(v, rsqrt2));
        _mm256_maskstore_ps(x + i, mk, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    }
}

void mv_add_avx2(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        _mm256_maskstore_ps(y + i, mk, _mm256_add_ps(_mm256_maskload_ps(y + i, mk), _mm256_maskload_ps(x + i, mk)));
    }
}

static double hsum_d(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Σ x[i] in double (whole vectors by SIMD, the tail scalar). */
static double sum_d(const float *x, int dim) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= dim; i += 8) {
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double s = hsum_d(_mm256_add_pd(a0, a1));
    for (; i < dim; i++) s += x[i];
    return s;
}

/* Σ (x[i] - c)² in double. */
static double sumsq_d(const float *x, int dim, double c) {
    const __m256d cv = _mm256_set1_pd(c);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), cv);
        __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), cv);
        a0 = _mm256_fmadd_pd(lo, lo, a0);
        a1 = _mm256_fmadd_pd(hi, hi, a1);
    }
    double s = hsum_d(_mm256_add_pd(a0, a1));
    for (; i < dim; i++) s += ((double)x[i] - c) * ((double)x[i] - c);
    return s;
}

void mv_layernorm_avx2(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta,
                       float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        const double mean = sum_d(xr, dim) / dim, var = sumsq_d(xr, dim, mean) / dim;
        const __m256 inv = _mm256_set1_ps((float)(1.0 / sqrt(var + eps))), mu = _mm256_set1_ps((float)mean);
        for (int i = 0; i < dim; i += 8) {
            __m256i mk = lanes((size_t)(dim - i));
            __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xr + i, mk), mu), inv),
                                     _mm256_maskload_ps(gamma + i, mk));
            __m256 b = beta ? _mm256_maskload_ps(beta + i, mk) : _mm256_setzero_ps();
            _mm256_maskstore_ps(o + i, mk, _mm256_add_ps(v, b));
        }
    }
}

void mv_rmsnorm_avx2(float *out, const float *x, int rows, int dim, const float *gamma, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        const __m256 inv = _mm256_set1_ps((float)(1.0 / sqrt(sumsq_d(xr, dim, 0.0) / dim + eps)));
        for (int i = 0; i < dim; i += 8) {
            __m256i mk = lanes((size_t)(dim - i));
            _mm256_maskstore_ps(o + i, mk, _mm256_mul_ps(_mm256_maskload_ps(gamma + i, mk),
                                                         _mm256_mul_ps(_mm256_maskload_ps(xr + i, mk), inv)));
        }
    }
}

void mv_rope_cs_avx2(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *a = x + (size_t)h * head_dim, *b = a + half;
        for (int i = 0; i < half; i += 8) {
            __m256i mk = lanes((size_t)(half - i));
            __m256 va = _mm256_maskload_ps(a + i, mk), vb = _mm256_maskload_ps(b + i, mk);
            __m256 c = _mm256_maskload_ps(cos_t + i, mk), s = _mm256_maskload_ps(sin_t + i, mk);
            _mm256_maskstore_ps(a + i, mk, _mm256_sub_ps(_mm256_mul_ps(va, c), _mm256_mul_ps(vb, s)));
            _mm256_maskstore_ps(b + i, mk, _mm256_add_ps(_mm256_mul_ps(vb, c), _mm256_mul_ps(va, s)));
        }
    }
}
