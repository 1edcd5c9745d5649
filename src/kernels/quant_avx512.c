/* quant_avx512.c — Q8/Q4 decode products with AVX512-VNNI: 64 weight codes (two blocks) per
 * vpdpbusd against int8 activations, one F16 scale per block applied in FP32.
 *
 * vpdpbusd multiplies unsigned by signed bytes, so the weights are the unsigned side: Q8 codes are
 * shifted by +128 (an xor), Q4 nibbles are already 0..15 (= q + 8). The shift times the block's sum of
 * activation codes is subtracted by starting each block's accumulator at −offset·Σx (prepared once
 * per activation row). Q4 expands 32 packed bytes to [block b low halves | b+1 low | b high | b+1 high]
 * without shuffling, and the activation row is stored in that order instead. */
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_isa.h"

#define INLINE static inline __attribute__((always_inline))

/* Activation row layout, per pair of blocks p (np = ceil(nb / 2) pairs):
 *   codes  int8  [np][64]   (block order of the weight type; a missing odd block is zeros)
 *   corr   int32 [np][16]   −offset·Σcodes of each block in the first lane of its lanes
 *   dxl    f32   [np][16]   each lane's block activation scale */
static size_t act_bytes(int K) {
    const size_t np = (size_t)(K / MV_QBLOCK + 1) / 2;
    return np * 64 * 3;
}

static __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

static void act_prep(mv_qtype t, const float *x, int K, void *act) {
    const int nb = K / MV_QBLOCK, np = (nb + 1) / 2, off = mv_q_code_offset(t);
    int8_t *codes = act;
    int32_t *corr = (int32_t *)(codes + (size_t)np * 64);
    float *dxl = (float *)(corr + (size_t)np * 16);
    memset(act, 0, act_bytes(K));
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int b = 0; b < nb; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + (size_t)b * MV_QBLOCK), v1 = _mm512_loadu_ps(x + (size_t)b * MV_QBLOCK + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float d, mult;
        mv_qact_block_scale(amax, &d, &mult);
        const __m512 vm = _mm512_set1_ps(mult);
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vm)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vm));
        q0 = _mm512_min_epi32(_mm512_max_epi32(q0, lo), hi);
        q1 = _mm512_min_epi32(_mm512_max_epi32(q1, lo), hi);
        const int p = b / 2, half = b % 2;
        /* Q8: natural order (block b+half at byte 32·half); Q4: low 16 at 16·half, high 16 at 32 + 16·half */
        int8_t *dst_lo = codes + (size_t)p * 64 + (t == MV_Q8 ? 32 : 16) * half;
        int8_t *dst_hi = dst_lo + (t == MV_Q8 ? 16 : 32);
        _mm_storeu_si128((__m128i *)dst_lo, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)dst_hi, _mm512_cvtepi32_epi8(q1));
        const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        const int lane0 = (t == MV_Q8 ? 8 : 4) * half;
        corr[(size_t)p * 16 + lane0] = -off * sum;
        for (int l = 0; l < 16; l++)
            if ((t == MV_Q8 ? l / 8 : (l / 4) % 2) == half) dxl[(size_t)p * 16 + l] = d;
    }
}

/* Two blocks of weight codes, as unsigned bytes in the activation layout; `single`: only the first
 * block exists (its partner reads as zeros, matching zero activation codes). */
INLINE __m512i load_pair(const uint8_t *p, int single, const int q4) {
    if (q4) { /* the 32 bytes in both halves, the upper half shifted by a nibble: low | high nibbles */
        const __m512i v = single ? _mm512_castsi256_si512(_mm256_maskz_loadu_epi8(0xFFFFu, p))
                                 : _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
        const __m512i both = single ? _mm512_shuffle_i64x2(v, v, 0x44) : v;
        return _mm512_and_si512(_mm512_srlv_epi64(both, _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0)),
                                _mm512_set1_epi8(0x0F));
    }
    const __m512i v = _mm512_maskz_loadu_epi8(single ? 0xFFFFFFFFull : ~0ull, p);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

INLINE void rows_r(const mv_matrix *w, const char *acts, size_t stride, int n0, int n1, const float *bias, float *y,
                   int ldy, const int R, const int q4) {
    const int K = w->cols, nb = K / MV_QBLOCK, np = (nb + 1) / 2;
    const size_t row_bytes = q4 ? (size_t)K / 2 : (size_t)K, pair_bytes = q4 ? 32 : 64;
    /* lane → block-within-pair pattern of the layout; +2 per pair walks the 16 loaded scales */
    const __m512i base = q4 ? _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0)
                            : _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i two = _mm512_set1_epi32(2);
    const int8_t *xq[MV_QGEMV_MAX_M];
    const int32_t *corr[MV_QGEMV_MAX_M];
    const float *dxl[MV_QGEMV_MAX_M];
    for (int r = 0; r < R; r++) {
        xq[r] = (const int8_t *)(acts + (size_t)r * stride);
        corr[r] = (const int32_t *)(xq[r] + (size_t)np * 64);
        dxl[r] = (const float *)(corr[r] + (size_t)np * 16);
    }
    for (int n = n0; n < n1; n++) {
        const uint8_t *codes = (const uint8_t *)w->data + (size_t)n * row_bytes;
        const char *sc = (const char *)w->scales + (size_t)n * (size_t)nb * 2; /* may be unaligned */
        __m512 acc[MV_QGEMV_MAX_M];
        for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
        for (int b0 = 0; b0 < nb; b0 += 16) {
            const int nbk = nb - b0 < 16 ? nb - b0 : 16;
            const __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask16(nbk), sc + 2 * b0));
            __m512i idx = base;
            for (int blk = b0; blk < b0 + nbk; blk += 2, idx = _mm512_add_epi32(idx, two)) {
                const size_t p = (size_t)blk / 2;
                const __m512i wv = load_pair(codes + p * pair_bytes, blk + 1 >= nb, q4);
                const __m512 wl = _mm512_permutexvar_ps(idx, dw);
                for (int r = 0; r < R; r++) {
                    const __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(corr[r] + p * 16), wv,
                                                          _mm512_load_si512(xq[r] + p * 64));
                    const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_load_ps(dxl[r] + p * 16));
                    acc[r] = _mm512_fmadd_ps(f, wl, acc[r]);
                }
            }
        }
        for (int r = 0; r < R; r++) y[(size_t)r * ldy + n] = _mm512_reduce_add_ps(acc[r]) + (bias ? bias[n] : 0.f);
    }
}

static void rows(const mv_matrix *w, const void *acts, size_t stride, int R, int n0, int n1, const float *bias,
                 float *y, int ldy) {
    const int q4 = w->qtype == MV_Q4;
#define ROWS_CASE(RR)                                                                                   \
    case RR:                                                                                            \
        if (q4) rows_r(w, acts, stride, n0, n1, bias, y, ldy, RR, 1);                                   \
        else rows_r(w, acts, stride, n0, n1, bias, y, ldy, RR, 0);                                      \
        break;
    switch (R) {
        ROWS_CASE(1) ROWS_CASE(2) ROWS_CASE(3) ROWS_CASE(4)
    default: break;
    }
#undef ROWS_CASE
}

const mv_qgemv_isa mv_qgemv_avx512vnni = { "avx512vnni", act_bytes, act_prep, rows };
