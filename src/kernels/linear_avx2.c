/* linear_avx2.c — AVX2+FMA micro-kernels: a 6×16 FP32 register tile over packed weight panels, a
 * direct GEMV that widens BF16/F16 weights in registers, and vectorised exp-based elementwise
 * kernels. All arithmetic stays FP32 (weights are widened exactly, activations never rounded). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/linear_pack.h"

#define INLINE static inline __attribute__((always_inline))

enum { NR = 16, MR = 6, GEMV_NW = 4, GEMV_MX = 3 };

/* Lane mask for maskload/maskstore: the first n of 8 lanes. */
static __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 weights from k widened exactly to f32; n < 8 reads only n (the rest are 0; n may be ≤ 0). */
INLINE __m256 load_w(mv_dtype t, const void *row, int k, int n) {
    if (t == MV_F32) return n >= 8 ? _mm256_loadu_ps((const float *)row + k)
                                   : _mm256_maskload_ps((const float *)row + k, lanes(n));
    uint16_t tmp[8] = { 0 };
    const uint16_t *src = (const uint16_t *)row + k;
    if (n < 8) {
        memcpy(tmp, src, (size_t)(n > 0 ? n : 0) * sizeof *tmp);
        src = tmp;
    }
    __m128i h = _mm_loadu_si128((const __m128i *)src);
    if (t == MV_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* r[i] = row i of an 8 × 8 float block, transposed in place (unpacks within 128-bit lanes, then lane
 * swaps). */
static void transpose_8x8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* pack_panels_square's square: 8 rows of 8 values, transposed. */
static void pack_square(const void *const *rows, mv_dtype t, size_t at, float *dst, int nr) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = load_w(t, rows[i], (int)at, 8);
    transpose_8x8(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (size_t)i * nr, r[i]);
}

static void pack(const mv_matrix *w, int n0, int nrows, int k0, int kc, float *dst) {
    pack_panels_square(w, n0, nrows, k0, kc, dst, NR, 8, pack_square);
}

/* R rows of x against one panel of dtype t (f32 packed weights, or attention's V rows in place);
 * FULL (all 16 columns) avoids masked memory operations. R, FULL and t are constants after inlining;
 * the accumulators are named variables (not an array) because GCC otherwise stores an array of them
 * to the stack on every k step: 12 stores per 12 FMAs held this kernel to ~1/3 of the FMA peak. */
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
INLINE void tile_r(const float *x, int ldx, const void *panel, int ldp, int kc, float *y, int ldy, int ncols,
                   const float *bias, int accumulate, const int R, const int FULL, const mv_dtype t) {
    const __m256i m0 = lanes(ncols), m1 = lanes(ncols - 8);
#define LD(p, m) (FULL ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (m)))
    const __m256 b0 = bias && !accumulate ? LD(bias, m0) : _mm256_setzero_ps();
    const __m256 b1 = bias && !accumulate ? LD(bias + 8, m1) : _mm256_setzero_ps();
#define DECL(r)                                                                       \
    __m256 c0_##r = b0, c1_##r = b1;                                                  \
    const float *x_##r = x + (size_t)(R > r ? r : 0) * ldx;                           \
    if (R > r && accumulate) {                                                        \
        c0_##r = LD(y + (size_t)r * ldy, m0);                                         \
        c1_##r = LD(y + (size_t)r * ldy + 8, m1);                                     \
    }
#define STEP(r)                                                                       \
    if (R > r) {                                                                      \
        const __m256 a = _mm256_broadcast_ss(x_##r + k);                              \
        c0_##r = _mm256_fmadd_ps(a, w0, c0_##r);                                      \
        c1_##r = _mm256_fmadd_ps(a, w1, c1_##r);                                      \
    }
#define STORE(r)                                                                      \
    if (R > r) {                                                                      \
        if (FULL) {                                                                   \
            _mm256_storeu_ps(y + (size_t)r * ldy, c0_##r);                            \
            _mm256_storeu_ps(y + (size_t)r * ldy + 8, c1_##r);                        \
        } else {                                                                      \
            _mm256_maskstore_ps(y + (size_t)r * ldy, m0, c0_##r);                     \
            _mm256_maskstore_ps(y + (size_t)r * ldy + 8, m1, c1_##r);                 \
        }                                                                             \
    }
    ROWS6(DECL)
    const size_t row_bytes = (size_t)ldp * mv_dtype_size(t);
    for (int k = 0; k < kc; k++) {
        const char *p = (const char *)panel + (size_t)k * row_bytes;
        __m256 w0, w1;
        if (t == MV_F32) {
            w0 = LD((const float *)p, m0);
            w1 = LD((const float *)p + 8, m1);
        } else {
            w0 = load_w(t, p, 0, FULL ? 8 : ncols);
            w1 = load_w(t, p, 8, FULL ? 8 : ncols - 8);
        }
        ROWS6(STEP)
    }
    ROWS6(STORE)
#undef DECL
#undef STEP
#undef STORE
#undef LD
}

static void tile(const float *x, int ldx, int rows, const float *panel, int ldp, int kc, float *y, int ldy, int ncols,
                 const float *bias, int accumulate) {
#define TILE_CASE(R)                                                                                        \
    case R:                                                                                                 \
        if (ncols >= NR) tile_r(x, ldx, panel, ldp, kc, y, ldy, ncols, bias, accumulate, R, 1, MV_F32);     \
        else tile_r(x, ldx, panel, ldp, kc, y, ldy, ncols, bias, accumulate, R, 0, MV_F32);                 \
        break;
    switch (rows) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
    default: break;
    }
#undef TILE_CASE
}

/* One register tile of P·V with V rows of dtype t read in place (no panel to pack: V is k-major). */
INLINE void pv_tile(const float *p, int ldp, int rows, const void *v, const mv_dtype t, size_t ldv, int keys,
                    float *out, int ldo, int ncols) {
#define PV_CASE(R)                                                                                          \
    case R:                                                                                                 \
        if (ncols >= NR) tile_r(p, ldp, v, (int)ldv, keys, out, ldo, ncols, NULL, 0, R, 1, t);              \
        else tile_r(p, ldp, v, (int)ldv, keys, out, ldo, ncols, NULL, 0, R, 0, t);                          \
        break;
    switch (rows) {
        PV_CASE(1) PV_CASE(2) PV_CASE(3) PV_CASE(4) PV_CASE(5) PV_CASE(6)
    default: break;
    }
#undef PV_CASE
}

static void pv(const float *p, int ldp, int rows, const void *v, mv_dtype t, size_t ldv, int keys, int d, float *out,
               int ldo) {
    pv_blocks(p, ldp, rows, v, t, ldv, keys, d, out, ldo, NR, MR, pv_tile);
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* R (≤ GEMV_MX) rows of x against GEMV_NW weight rows starting at n; rows past n1 repeat row n and
 * are not stored. Each weight vector is widened once and used for all R rows of x. */
INLINE void gemv_block(const float *x, int K, const char *w, size_t row_bytes, int n, int n1, const float *bias,
                       float *y, int ldy, mv_dtype t, const int R) {
    const char *wr[GEMV_NW];
    for (int i = 0; i < GEMV_NW; i++) wr[i] = w + (size_t)(n + i < n1 ? n + i : n) * row_bytes;
    __m256 acc[GEMV_MX][GEMV_NW];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < GEMV_NW; i++) acc[r][i] = _mm256_setzero_ps();
    for (int k = 0; k < K; k += 8) {
        const int rem = K - k;
        __m256 wv[GEMV_NW];
        for (int i = 0; i < GEMV_NW; i++) wv[i] = load_w(t, wr[i], k, rem);
        for (int r = 0; r < R; r++) {
            __m256 xv = rem >= 8 ? _mm256_loadu_ps(x + (size_t)r * K + k)
                                 : _mm256_maskload_ps(x + (size_t)r * K + k, lanes(rem));
            for (int i = 0; i < GEMV_NW; i++) acc[r][i] = _mm256_fmadd_ps(xv, wv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < GEMV_NW && n + i < n1; i++)
            y[(size_t)r * ldy + n + i] = hsum(acc[r][i]) + (bias ? bias[n + i] : 0.f);
}

/* One row of x (decode): weight rows one after another — one sequential stream for the prefetcher —
 * with four k accumulators (as the AVX-512 kernel; see docs/DESIGN-NOTES.md). */
INLINE void gemv_row_t(const float *x, int K, const void *w, size_t ldw, int n0, int n1, const float *bias, float *y,
                       mv_dtype t) {
    const size_t row_bytes = ldw * mv_dtype_size(t);
    for (int n = n0; n < n1; n++) {
        const char *wr = (const char *)w + (size_t)n * row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 32 <= K; k += 32) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), load_w(t, wr, k, 8), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), load_w(t, wr, k + 8, 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), load_w(t, wr, k + 16, 8), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), load_w(t, wr, k + 24, 8), a3);
        }
        for (; k < K; k += 8) {
            const int rem = K - k;
            const __m256 xv = rem >= 8 ? _mm256_loadu_ps(x + k) : _mm256_maskload_ps(x + k, lanes(rem));
            a0 = _mm256_fmadd_ps(xv, load_w(t, wr, k, rem), a0);
        }
        y[n] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + (bias ? bias[n] : 0.f);
    }
}

INLINE void gemv_t(const float *x, int M, int K, const void *w, size_t ldw, int n0, int n1, const float *bias,
                   float *y, int ldy, mv_dtype t) {
    if (M == 1) {
        gemv_row_t(x, K, w, ldw, n0, n1, bias, y, t);
        return;
    }
    const size_t row_bytes = ldw * mv_dtype_size(t);
    for (int m = 0; m < M; m += GEMV_MX) {
        const float *xm = x + (size_t)m * K;
        float *ym = y + (size_t)m * ldy;
        for (int n = n0; n < n1; n += GEMV_NW) {
            switch (M - m) {
            case 1: gemv_block(xm, K, w, row_bytes, n, n1, bias, ym, ldy, t, 1); break;
            case 2: gemv_block(xm, K, w, row_bytes, n, n1, bias, ym, ldy, t, 2); break;
            default: gemv_block(xm, K, w, row_bytes, n, n1, bias, ym, ldy, t, 3); break;
            }
        }
    }
}

static void gemv(const float *x, int M, int K, const void *w, mv_dtype t, size_t ldw, int n0, int n1,
                 const float *bias, float *y, int ldy) {
    switch (t) {
    case MV_BF16: gemv_t(x, M, K, w, ldw, n0, n1, bias, y, ldy, MV_BF16); break;
    case MV_F16: gemv_t(x, M, K, w, ldw, n0, n1, bias, y, ldy, MV_F16); break;
    default: gemv_t(x, M, K, w, ldw, n0, n1, bias, y, ldy, MV_F32); break;
    }
}

static float softmax_chunk(float *x, int n, float scale, float *m);

const mv_gemm_isa mv_gemm_avx2 = { NR, MR, pack, tile, gemv, pv, softmax_chunk };

/* exp(x) to ~1 ulp: x = n·ln2 + r, degree-6 polynomial for e^r, times 2^n built in the exponent bits.
 * Inputs below -87 (where 2^n would leave the normal range) give 0. */
static inline __m256 exp256(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.f)), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

void mv_softmax_avx2(float *x, int n) {
    if (n <= 0) return;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    const __m256 m = _mm256_set1_ps(mx);
    __m256 sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, mk), m)), _mm256_castsi256_ps(mk));
        _mm256_maskstore_ps(x + i, mk, e);
        sum = _mm256_add_ps(sum, e);
    }
    const __m256 inv = _mm256_set1_ps(1.f / hsum(sum));
    for (int i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        _mm256_maskstore_ps(x + i, mk, _mm256_mul_ps(_mm256_maskload_ps(x + i, mk), inv));
    }
}

static float softmax_chunk(float *x, int n, float scale, float *m) {
    const __m256 sc = _mm256_set1_ps(scale);
    float mx = *m;
    for (int i = 0; i < n; i++) mx = x[i] * scale > mx ? x[i] * scale : mx;
    const __m256 mv = _mm256_set1_ps(mx);
    __m256 sum = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        __m256i mk = lanes(n - i);
        __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(x + i, mk), sc), mv)),
                                 _mm256_castsi256_ps(mk));
        _mm256_maskstore_ps(x + i, mk, e);
        sum = _mm256_add_ps(sum, e);
    }
    *m = mx;
    return hsum(sum);
}

static inline __m256 silu256(__m256 v) {
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.f), exp256(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

void mv_silu_avx2(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256i mk = lanes((int)(n - i < 8 ? n - i : 8));
        _mm256_maskstore_ps(x + i, mk, silu256(_mm256_maskload_ps(x + i, mk)));
    }
}

void mv_swiglu_avx2(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256i mk = lanes((int)(n - i < 8 ? n - i : 8));
        __m256 g = silu256(_mm256_maskload_ps(gate + i, mk));
        _mm256_maskstore_ps(gate + i, mk, _mm256_mul_ps(g, _mm256_maskload_ps(up + i, mk)));
    }
}
