/* linear_avx512.c — AVX-512 micro-kernels: an 8×32 FP32 register tile over packed weight panels,
 * a direct GEMV that widens BF16/F16 weights in registers, and vectorised exp-based elementwise
 * kernels. All arithmetic stays FP32 (weights are widened exactly, activations never rounded). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "kernels/kernels_isa.h"
#include "kernels/linear_pack.h"
#include "kernels/transpose_avx512.h"

#define INLINE static inline __attribute__((always_inline))

enum { NR = 32, MR = 8, GEMV_NW = 4, GEMV_MX = 4 };

static __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* 16 weights from k (masked lanes read as 0), widened exactly to f32. */
INLINE __m512 load_w(mv_dtype t, const void *row, int k, __mmask16 mk) {
    if (t == MV_F32) return _mm512_maskz_loadu_ps(mk, (const float *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(mk, (const uint16_t *)row + k);
    if (t == MV_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* pack_panels_square's square: 16 rows of 16 values, transposed. The scalar pack (one strided store
 * per weight) was ~10% of an f32 vision tile's samples and ~7.6% of an f32 prefill's. */
static void pack_square(const void *const *rows, mv_dtype t, size_t at, float *dst, int nr) {
    __m512i r[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_castps_si512(load_w(t, rows[i], (int)at, 0xFFFF));
    mv_transpose_16x16_epi32(r);
    for (int i = 0; i < 16; i++) _mm512_storeu_si512(dst + (size_t)i * nr, r[i]);
}

static void pack(const mv_matrix *w, int n0, int nrows, int k0, int kc, float *dst) {
    pack_panels_square(w, n0, nrows, k0, kc, dst, NR, 16, pack_square);
}

/* R rows of x against one panel of dtype t (f32 packed weights, or attention's V rows in place).
 * R and t are constants after inlining; the accumulators are named variables (not an array) because
 * GCC otherwise keeps an array of them in memory across the k loop. */
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
INLINE void tile_r(const float *x, int ldx, const void *panel, int ldp, int kc, float *y, int ldy, int ncols,
                   const float *bias, int accumulate, const int R, const mv_dtype t) {
    const __mmask16 m0 = lanes(ncols), m1 = lanes(ncols - 16);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#define DECL(r)                                                                       \
    __m512 c0_##r = b0, c1_##r = b1;                                                  \
    const float *x_##r = x + (size_t)(R > r ? r : 0) * ldx;                           \
    if (R > r && accumulate) {                                                        \
        c0_##r = _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy);                      \
        c1_##r = _mm512_maskz_loadu_ps(m1, y + (size_t)r * ldy + 16);                 \
    }
#define STEP(r)                                                                       \
    if (R > r) {                                                                      \
        __m512 a = _mm512_set1_ps(x_##r[k]);                                          \
        c0_##r = _mm512_fmadd_ps(a, p0, c0_##r);                                      \
        c1_##r = _mm512_fmadd_ps(a, p1, c1_##r);                                      \
    }
#define STORE(r)                                                                      \
    if (R > r) {                                                                      \
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, c0_##r);                       \
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1, c1_##r);                  \
    }
    ROWS8(DECL)
    const size_t row_bytes = (size_t)ldp * mv_dtype_size(t);
    for (int k = 0; k < kc; k++) {
        const char *p = (const char *)panel + (size_t)k * row_bytes;
        const __m512 p0 = load_w(t, p, 0, m0), p1 = load_w(t, p, 16, m1);
        ROWS8(STEP)
    }
    ROWS8(STORE)
#undef DECL
#undef STEP
#undef STORE
}

static void tile(const float *x, int ldx, int rows, const float *panel, int ldp, int kc, float *y, int ldy, int ncols,
                 const float *bias, int accumulate) {
#define TILE_CASE(R) case R: tile_r(x, ldx, panel, ldp, kc, y, ldy, ncols, bias, accumulate, R, MV_F32); break;
    switch (rows) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
    default: break;
    }
#undef TILE_CASE
}

/* One register tile of P·V with V rows of dtype t read in place (no panel to pack: V is k-major). */
INLINE void pv_tile(const float *p, int ldp, int rows, const void *v, const mv_dtype t, size_t ldv, int keys,
                    float *out, int ldo, int ncols) {
#define PV_CASE(R) case R: tile_r(p, ldp, v, (int)ldv, keys, out, ldo, ncols, NULL, 0, R, t); break;
    switch (rows) {
        PV_CASE(1) PV_CASE(2) PV_CASE(3) PV_CASE(4) PV_CASE(5) PV_CASE(6) PV_CASE(7) PV_CASE(8)
    default: break;
    }
#undef PV_CASE
}

static void pv(const float *p, int ldp, int rows, const void *v, mv_dtype t, size_t ldv, int keys, int d, float *out,
               int ldo) {
    pv_blocks(p, ldp, rows, v, t, ldv, keys, d, out, ldo, NR, MR, pv_tile);
}

/* Lane i of the result = the sum of v[i]'s 16 lanes: a tree of in-lane unpacks/shuffles and 128-bit
 * block shuffles, 45 operations for 16 sums where 16 _mm512_reduce_add_ps take ~8 each. Decode
 * attention's scores (a GQA group's query rows × 4 keys at a time, 64 dims) spent most of their time
 * in those reductions: QKᵀ went from 11.6% to 7.7% of a Q4 decode step at 2000 positions. */
INLINE __m512 reduce16(const __m512 v[16]) {
    __m512 s[8], w[4], z[2];
    for (int j = 0; j < 8; j++) /* per 128-bit block: 2 partials each of v[2j], v[2j+1] */
        s[j] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * j], v[2 * j + 1]), _mm512_unpackhi_ps(v[2 * j], v[2 * j + 1]));
    for (int j = 0; j < 4; j++) /* per block: one partial each of v[4j..4j+3] */
        w[j] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0x44), _mm512_shuffle_ps(s[2 * j], s[2 * j + 1], 0xEE));
    for (int j = 0; j < 2; j++) /* blocks 0+1 and 2+3 of w[2j], then of w[2j+1] */
        z[j] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* R (≤ GEMV_MX) rows of x against GEMV_NW weight rows starting at n; rows past n1 repeat row n and
 * are not stored. Each weight vector is widened once and used for all R rows of x. */
INLINE void gemv_block(const float *x, int K, const char *w, size_t row_bytes, int n, int n1, const float *bias,
                       float *y, int ldy, mv_dtype t, const int R) {
    const char *wr[GEMV_NW];
    for (int i = 0; i < GEMV_NW; i++) wr[i] = w + (size_t)(n + i < n1 ? n + i : n) * row_bytes;
    __m512 acc[GEMV_MX][GEMV_NW];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < GEMV_NW; i++) acc[r][i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        const __mmask16 mk = lanes(K - k);
        __m512 wv[GEMV_NW];
        for (int i = 0; i < GEMV_NW; i++) wv[i] = load_w(t, wr[i], k, mk);
        for (int r = 0; r < R; r++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + (size_t)r * K + k);
            for (int i = 0; i < GEMV_NW; i++) acc[r][i] = _mm512_fmadd_ps(xv, wv[i], acc[r][i]);
        }
    }
    _Static_assert(GEMV_MX * GEMV_NW == 16, "one reduce16 per block");
    __m512 v[16];
    for (int r = 0; r < GEMV_MX; r++)
        for (int i = 0; i < GEMV_NW; i++) v[r * GEMV_NW + i] = r < R ? acc[r][i] : _mm512_setzero_ps();
    float sums[16];
    _mm512_storeu_ps(sums, reduce16(v));
    for (int r = 0; r < R; r++)
        for (int i = 0; i < GEMV_NW && n + i < n1; i++)
            y[(size_t)r * ldy + n + i] = sums[r * GEMV_NW + i] + (bias ? bias[n + i] : 0.f);
}

/* One row of x (decode): weight rows one after another, so the reads form one sequential stream the
 * hardware prefetcher follows (four rows side by side are four short streams); four accumulators
 * over k keep the FMA chain from bounding it. */
INLINE void gemv_row_t(const float *x, int K, const void *w, size_t ldw, int n0, int n1, const float *bias, float *y,
                       mv_dtype t) {
    const size_t row_bytes = ldw * mv_dtype_size(t);
    for (int n = n0; n < n1; n++) {
        const char *wr = (const char *)w + (size_t)n * row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int k = 0;
        for (; k + 64 <= K; k += 64) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), load_w(t, wr, k, 0xFFFF), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), load_w(t, wr, k + 16, 0xFFFF), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 32), load_w(t, wr, k + 32, 0xFFFF), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 48), load_w(t, wr, k + 48, 0xFFFF), a3);
        }
        for (; k < K; k += 16) {
            const __mmask16 mk = lanes(K - k);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, x + k), load_w(t, wr, k, mk), a0);
        }
        y[n] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) + (bias ? bias[n] : 0.f);
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
            case 3: gemv_block(xm, K, w, row_bytes, n, n1, bias, ym, ldy, t, 3); break;
            default: gemv_block(xm, K, w, row_bytes, n, n1, bias, ym, ldy, t, 4); break;
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

const mv_gemm_isa mv_gemm_avx512 = { NR, MR, pack, tile, gemv, pv, softmax_chunk };

/* exp(x) to ~1 ulp: x = n·ln2 + r with |r| ≤ ln2/2, degree-6 polynomial for e^r, scaled by 2^n. */
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.72283935546875f)), _mm512_set1_ps(-104.f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    return _mm512_scalef_ps(p, n);
}

/* max over i < n of x[i]·scale, broadcast */
static __m512 scaled_max(const float *x, int n, __m512 scale) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        mx = _mm512_mask_max_ps(mx, lanes(n - i), mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(n - i), x + i), scale));
    return _mm512_set1_ps(_mm512_reduce_max_ps(mx));
}

/* exp(x[i..i+16)·scale − m) over the lanes of mk, 0 in the others */
static __m512 scaled_exp(const float *x, int i, __mmask16 mk, __m512 scale, __m512 m) {
    return _mm512_maskz_mov_ps(mk, exp512(_mm512_sub_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i), scale), m)));
}

void mv_softmax_avx512(float *x, int n) {
    if (n <= 0) return;
    const __m512 one = _mm512_set1_ps(1.f), m = scaled_max(x, n, one);
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __m512 e = scaled_exp(x, i, lanes(n - i), one, m);
        _mm512_mask_storeu_ps(x + i, lanes(n - i), e);
        sum = _mm512_add_ps(sum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16)
        _mm512_mask_storeu_ps(x + i, lanes(n - i), _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(n - i), x + i), inv));
}

static float softmax_chunk(float *x, int n, float scale, float *m) {
    const __m512 sc = _mm512_set1_ps(scale), mv = _mm512_max_ps(scaled_max(x, n, sc), _mm512_set1_ps(*m));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __m512 e = scaled_exp(x, i, lanes(n - i), sc, mv);
        _mm512_mask_storeu_ps(x + i, lanes(n - i), e);
        sum = _mm512_add_ps(sum, e);
    }
    *m = _mm512_cvtss_f32(mv);
    return _mm512_reduce_add_ps(sum);
}

/* The numerators of softmax(scale·x) for a BF16 P·V: p[i] = bf16(exp(x[i]·scale − max)) for i < n and 0
 * up to width (a multiple of 32); returns their sum, of the rounded values (vdpbf16ps against ones:
 * exact products, FP32 sums), so dividing by it makes the weights actually used sum to 1. One pass
 * over the row fewer than softmax, normalize, convert. */
float mv_softmax_bf16_avx512(const float *x, int n, int width, float scale, uint16_t *p) {
    const __m512 sc = _mm512_set1_ps(scale), m = scaled_max(x, n, sc);
    const __m512bh ones = (__m512bh)_mm512_set1_epi16(0x3F80);
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < width; i += 32) {
        const __m512bh pb = _mm512_cvtne2ps_pbh(scaled_exp(x, i + 16, lanes(n - i - 16), sc, m),
                                                scaled_exp(x, i, lanes(n - i), sc, m));
        _mm512_storeu_si512(p + i, (__m512i)pb);
        sum = _mm512_dpbf16_ps(sum, pb, ones);
    }
    return _mm512_reduce_add_ps(sum);
}

static inline __m512 silu512(__m512 v) {
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
}

void mv_silu_avx512(float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = lanes((int)(n - i < 16 ? n - i : 16));
        _mm512_mask_storeu_ps(x + i, mk, silu512(_mm512_maskz_loadu_ps(mk, x + i)));
    }
}

void mv_swiglu_avx512(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mk = lanes((int)(n - i < 16 ? n - i : 16));
        __m512 g = silu512(_mm512_maskz_loadu_ps(mk, gate + i));
        _mm512_mask_storeu_ps(gate + i, mk, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(mk, up + i)));
    }
}
