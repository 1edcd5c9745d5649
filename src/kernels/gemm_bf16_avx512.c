/* gemm_bf16_avx512.c — the AVX512-BF16 kernel of precision bf16: a 12×32 register tile of FP32
 * accumulators fed by vdpbf16ps (two BF16 products per lane per instruction, so twice the FP32 FMA
 * rate), over packed weight panel slices (the 12-row x slice of MV_BF16_KC = 1024 K, 24 KB, stays in
 * L1, the panel slice, 64 KB, in L2; measured better than 256 or 512 K), and the FP32 → BF16 activation conversion (RNE). */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_bf16.h"
#include "kernels/quant.h"
#include "kernels/transpose_avx512.h"

#define INLINE static inline __attribute__((always_inline))

enum { MR = 12 }; /* rows per register tile: 24 accumulators + 2 weight vectors + 1 broadcast of 32 registers */

static __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

static inline __m512bh as_bh(__m512i v) { return (__m512bh)v; }

/* R rows of BF16 x (row stride ldx elements) against one panel slice of kpairs K pairs. Accumulators
 * are named variables so GCC keeps them in registers across the k loop. */
#define ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
INLINE void tile_r(const uint16_t *x, int ldx, const uint32_t *panel, int kpairs, float *y, int ldy, int ncols,
                   const float *bias, int accumulate, const int R) {
    const __mmask16 m0 = lanes(ncols), m1 = lanes(ncols - 16);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#define DECL(r)                                                                       \
    __m512 c0_##r = b0, c1_##r = b1;                                                  \
    const uint16_t *x_##r = x + (size_t)(R > r ? r : 0) * ldx;                        \
    if (R > r && accumulate) {                                                        \
        c0_##r = _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy);                      \
        c1_##r = _mm512_maskz_loadu_ps(m1, y + (size_t)r * ldy + 16);                 \
    }
#define STEP(r)                                                                       \
    if (R > r) {                                                                      \
        uint32_t pair;                                                                \
        memcpy(&pair, x_##r + 2 * kp, sizeof pair);                                   \
        const __m512bh a = as_bh(_mm512_set1_epi32((int)pair));                       \
        c0_##r = _mm512_dpbf16_ps(c0_##r, a, w0);                                     \
        c1_##r = _mm512_dpbf16_ps(c1_##r, a, w1);                                     \
    }
#define STORE(r)                                                                      \
    if (R > r) {                                                                      \
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, c0_##r);                       \
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1, c1_##r);                  \
    }
    ROWS12(DECL)
    for (int kp = 0; kp < kpairs; kp++) {
        const uint32_t *p = panel + (size_t)kp * MV_BF16_NR;
        const __m512bh w0 = as_bh(_mm512_load_si512(p)), w1 = as_bh(_mm512_load_si512(p + 16));
        ROWS12(STEP)
    }
    ROWS12(STORE)
#undef DECL
#undef STEP
#undef STORE
}

static void tile(const uint16_t *x, int ldx, int rows, const uint32_t *panel, int kpairs, float *y, int ldy,
                 int ncols, const float *bias, int accumulate) {
#define TILE_CASE(R) case R: tile_r(x, ldx, panel, kpairs, y, ldy, ncols, bias, accumulate, R); break;
    switch (rows) {
        TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6)
        TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
    default: break;
    }
#undef TILE_CASE
}

int mv_bf16_block_avx512(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc) {
    const int ncols = j->N - n0 < MV_BF16_NR ? j->N - n0 : MV_BF16_NR;
    const float *bias = j->bias && k0 == 0 ? j->bias + n0 : NULL;
    for (int m = m0; m < m1; m += MR)
        tile(mv_bf16_x_at(j, m, k0), j->ldx, m1 - m < MR ? m1 - m : MR, panel, kc / 2, j->y + (size_t)m * j->N + n0,
             j->N, ncols, bias, k0 > 0);
    return 1;
}

void mv_bf16_convert_avx512(uint16_t *xb, size_t ldxb, const float *x, size_t ldx, int K, int Kp, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const float *src = x + (size_t)r * ldx;
        uint16_t *dst = xb + (size_t)r * ldxb;
        for (int k = 0; k < Kp; k += 32) { /* lanes past K load as 0, which is BF16 0 */
            const __m512 lo = _mm512_maskz_loadu_ps(lanes(K - k), src + k);
            const __m512 hi = _mm512_maskz_loadu_ps(lanes(K - k - 16), src + k + 16);
            _mm512_store_si512(dst + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

void mv_bf16_pack_avx512(const uint16_t *w, size_t ldw, int rows, int npairs, uint32_t *panel) {
    for (int g = 0; g < npairs; g += 16)
        for (int h = 0; h < MV_BF16_NR / 16; h++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = 16 * h + i < rows ? _mm512_loadu_si512(w + (size_t)(16 * h + i) * ldw + 2 * (size_t)g)
                                         : _mm512_setzero_si512();
            mv_transpose_16x16_epi32(r);
            for (int i = 0; i < 16; i++) _mm512_store_si512(panel + (size_t)(g + i) * MV_BF16_NR + 16 * h, r[i]);
        }
}


/* 16 values of V row `key` from column c (F32 or F16, lanes past d and keys past nk read as 0) as BF16
 * in the low halves of 16 dwords. */
static __m512i v_bf16_lanes(const void *v, mv_dtype t, int stride, int nk, int key, int c, int d) {
    const __mmask16 m = key < nk ? lanes(d - c) : 0;
    const size_t at = (size_t)(key < nk ? key : 0) * (size_t)stride + (size_t)c;
    const __m512 f = t == MV_F16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)v + at))
                                 : _mm512_maskz_loadu_ps(m, (const float *)v + at);
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(f));
}

void mv_bf16_pack_vt_avx512(const void *v, mv_dtype t, int stride, int nk, int d, int nkp, uint32_t *panels) {
    for (int n0 = 0; n0 < d; n0 += MV_BF16_NR) {
        uint32_t *panel = panels + (size_t)n0 * (size_t)nkp / 2;
        for (int kp = 0; kp < nkp / 2; kp++)
            for (int h = 0; h < MV_BF16_NR; h += 16) {
                const __m512i even = v_bf16_lanes(v, t, stride, nk, 2 * kp, n0 + h, d);
                const __m512i odd = v_bf16_lanes(v, t, stride, nk, 2 * kp + 1, n0 + h, d);
                _mm512_store_si512(panel + (size_t)kp * MV_BF16_NR + h, _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
            }
    }
}

/* One quantized block (32 weights) of a row as 32 BF16 values: codes times the block's F16 scale in
 * FP32 (exact), then rounded to nearest even, as weight_bf16's scalar path does. */
static void dequant_block_bf16(const mv_matrix *w, int row, int block, uint16_t *dst) {
    const __m512 d = _mm512_cvtph_ps(_mm256_set1_epi16((short)mv_q_block_scale(w, row, block)));
    const uint8_t *p = mv_q_block_codes(w, row, block);
    __m512i lo, hi;
    if (w->qtype == MV_Q8) {
        lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p));
        hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16)));
    } else { /* Q4: byte j holds weight j (low nibble) and j + 16 (high), stored as q + 8 */
        const __m512i u = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), eight = _mm512_set1_epi32(8);
        lo = _mm512_sub_epi32(_mm512_and_si512(u, _mm512_set1_epi32(15)), eight);
        hi = _mm512_sub_epi32(_mm512_srli_epi32(u, 4), eight);
    }
    const __m512 flo = _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), fhi = _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d);
    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(fhi, flo));
}

void mv_bf16_pack_q_avx512(const mv_matrix *w, int n0, int k, uint32_t *panel) {
    _Alignas(64) uint16_t rows_bf16[MV_BF16_NR][MV_QBLOCK];
    const int rows = w->rows - n0 < MV_BF16_NR ? w->rows - n0 : MV_BF16_NR;
    for (int j = 0; j < rows; j++) dequant_block_bf16(w, n0 + j, k / MV_QBLOCK, rows_bf16[j]);
    mv_bf16_pack_avx512(&rows_bf16[0][0], MV_QBLOCK, rows, MV_QBLOCK / 2, panel);
}
