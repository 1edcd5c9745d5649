/* ops_avx512.c — AVX-512 row and elementwise kernels: exact-erf GELU, LayerNorm, RMSNorm, add, RoPE.
 * Norm statistics accumulate in double like the reference; every other operation is the reference's
 * own float operation sequence (no FMA contraction), so outputs match it to the last bit except erf. */
#include <immintrin.h>
#include <math.h>

#include "kernels/erf_poly.h"
#include "kernels/kernels_isa.h"

#define INLINE static inline __attribute__((always_inline))

static __mmask16 lanes(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* Coefficient row `r` of erf_poly for each lane's interval. */
INLINE __m512 coef(int r, __m512i idx) {
    return _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(_mm256_load_ps(erf_poly[r])));
}

/* erf to ~1 ulp (see erf_poly.h). NaN stays NaN (its interval index is arbitrary but t is NaN). */
INLINE __m512 erf512(__m512 x) {
    const __m512 ax = _mm512_abs_ps(x);
    __m512i idx = _mm512_cvttps_epi32(_mm512_mul_ps(ax, _mm512_set1_ps(2.f)));
    idx = _mm512_min_epi32(idx, _mm512_set1_epi32(7)); /* also catches the INT_MIN of NaN/inf/huge */
    const __m512 t = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(idx), _mm512_set1_ps(0.5f), ax); /* exact */
    __m512 p = coef(ERF_P7, idx);
    for (int r = ERF_P7 + 1; r <= ERF_P0; r++) p = _mm512_fmadd_ps(p, t, coef(r, idx));
    const __m512 base = _mm512_fmadd_ps(t, coef(ERF_E, idx), coef(ERF_C0, idx));
    __m512 y = _mm512_add_ps(coef(ERF_OFF, idx), _mm512_fmadd_ps(t, p, base));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(ax, _mm512_set1_ps(4.f), _CMP_GE_OQ), _mm512_set1_ps(1.f));
    /* erf is odd: put x's sign on the (non-negative) result. */
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(y), _mm512_castps_si512(x), sign, 0xF8));
}

void mv_erf_avx512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = lanes(n - i);
        _mm512_mask_storeu_ps(x + i, mk, erf512(_mm512_maskz_loadu_ps(mk, x + i)));
    }
}

void mv_gelu_erf_avx512(float *x, size_t n) {
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.f), rsqrt2 = _mm512_set1_ps(0.70710678118654752f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = lanes(n - i);
        __m512 v = _mm512_maskz_loadu_ps(mk, x + i);
        __m512 e = erf512(_mm512_mul_ps(v, rsqrt2));
        _mm512_mask_storeu_ps(x + i, mk, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
    }
}

void mv_add_avx512(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = lanes(n - i);
        _mm512_mask_storeu_ps(y + i, mk, _mm512_add_ps(_mm512_maskz_loadu_ps(mk, y + i), _mm512_maskz_loadu_ps(mk, x + i)));
    }
}

/* The 16 floats of v widened to two double vectors. */
INLINE void widen(__m512 v, __m512d *lo, __m512d *hi) {
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    *hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* Σ x[i] in double (whole vectors by SIMD, the tail scalar). */
static double sum_d(const float *x, int dim) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m512d lo, hi;
        widen(_mm512_loadu_ps(x + i), &lo, &hi);
        a0 = _mm512_add_pd(a0, lo);
        a1 = _mm512_add_pd(a1, hi);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < dim; i++) s += x[i];
    return s;
}

/* Σ (x[i] - c)² in double. */
static double sumsq_d(const float *x, int dim, double c) {
    const __m512d cv = _mm512_set1_pd(c);
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m512d lo, hi;
        widen(_mm512_loadu_ps(x + i), &lo, &hi);
        lo = _mm512_sub_pd(lo, cv);
        hi = _mm512_sub_pd(hi, cv);
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < dim; i++) s += ((double)x[i] - c) * ((double)x[i] - c);
    return s;
}

void mv_layernorm_avx512(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta,
                         float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        const double mean = sum_d(xr, dim) / dim, var = sumsq_d(xr, dim, mean) / dim;
        const __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(var + eps))), mu = _mm512_set1_ps((float)mean);
        for (int i = 0; i < dim; i += 16) {
            __mmask16 mk = lanes((size_t)(dim - i));
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, xr + i), mu), inv),
                                     _mm512_maskz_loadu_ps(mk, gamma + i));
            __m512 b = beta ? _mm512_maskz_loadu_ps(mk, beta + i) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(o + i, mk, _mm512_add_ps(v, b));
        }
    }
}

void mv_rmsnorm_avx512(float *out, const float *x, int rows, int dim, const float *gamma, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        const __m512 inv = _mm512_set1_ps((float)(1.0 / sqrt(sumsq_d(xr, dim, 0.0) / dim + eps)));
        for (int i = 0; i < dim; i += 16) {
            __mmask16 mk = lanes((size_t)(dim - i));
            _mm512_mask_storeu_ps(o + i, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, gamma + i),
                                                           _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, xr + i), inv)));
        }
    }
}

void mv_rope_cs_avx512(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *a = x + (size_t)h * head_dim, *b = a + half;
        for (int i = 0; i < half; i += 16) {
            __mmask16 mk = lanes((size_t)(half - i));
            __m512 va = _mm512_maskz_loadu_ps(mk, a + i), vb = _mm512_maskz_loadu_ps(mk, b + i);
            __m512 c = _mm512_maskz_loadu_ps(mk, cos_t + i), s = _mm512_maskz_loadu_ps(mk, sin_t + i);
            _mm512_mask_storeu_ps(a + i, mk, _mm512_sub_ps(_mm512_mul_ps(va, c), _mm512_mul_ps(vb, s)));
            _mm512_mask_storeu_ps(b + i, mk, _mm512_add_ps(_mm512_mul_ps(vb, c), _mm512_mul_ps(va, s)));
        }
    }
}
