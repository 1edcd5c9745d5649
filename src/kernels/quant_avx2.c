/* quant_avx2.c — Q8/Q4 decode products with AVX2: one 32-weight block per vpmaddubsw (unsigned ×
 * signed bytes to int16 pairs) and vpmaddwd to int32, the block's scale applied in FP32.
 *
 * Q8 uses the sign trick (|w| × sign(w)·x) so the pair sums stay within int16 (2·127·127 < 32768);
 * Q4 multiplies the unsigned nibbles (u = q + 8) directly and subtracts 8·Σx per block afterwards.
 * Also the integer path of AVX-512 CPUs without VNNI. */
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_isa.h"

#define INLINE static inline __attribute__((always_inline))

/* Activation row: codes int8 [K] (natural order), d f32 [nb], sum int32 [nb]. */
static size_t act_bytes(int K) { return (size_t)K + (size_t)(K / MV_QBLOCK) * 8; }

static void act_prep(mv_qtype t, const float *x, int K, void *act) {
    (void)t;
    int8_t *q = act;
    float *d = (float *)(q + K); /* K is a multiple of 32: aligned */
    mv_q_act_ref(x, K, q, d, (int32_t *)(d + K / MV_QBLOCK));
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* int32 lanes of Σ u·x over one block (u unsigned, x signed bytes). */
INLINE __m256i dot_block(__m256i u, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}

INLINE void rows_r(const mv_matrix *w, const char *acts, size_t stride, int n0, int n1, const float *bias, float *y,
                   int ldy, const int R, const int q4) {
    const int K = w->cols, nb = K / MV_QBLOCK;
    const size_t row_bytes = q4 ? (size_t)K / 2 : (size_t)K;
    const __m128i nib = _mm_set1_epi8(0x0F);
    for (int n = n0; n < n1; n++) {
        const uint8_t *codes = (const uint8_t *)w->data + (size_t)n * row_bytes;
        const char *sc = (const char *)w->scales + (size_t)n * (size_t)nb * 2; /* may be unaligned */
        __m256 acc[MV_QGEMV_MAX_M];
        float corr[MV_QGEMV_MAX_M];
        for (int r = 0; r < R; r++) { acc[r] = _mm256_setzero_ps(); corr[r] = 0; }
        for (int b = 0; b < nb; b++) {
            uint16_t h;
            memcpy(&h, sc + 2 * b, 2);
            const float dw = _cvtsh_ss(h);
            __m256i wv;
            if (q4) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(codes + (size_t)b * 16));
                wv = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), nib), _mm_and_si128(v, nib));
            } else {
                wv = _mm256_loadu_si256((const __m256i *)(codes + (size_t)b * 32));
            }
            for (int r = 0; r < R; r++) {
                const int8_t *q = (const int8_t *)(acts + (size_t)r * stride);
                const float *d = (const float *)(q + K);
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(q + (size_t)b * 32));
                const float s = dw * d[b];
                const __m256i p = q4 ? dot_block(wv, xv) : dot_block(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(s), acc[r]);
                if (q4) corr[r] += s * (float)(8 * ((const int32_t *)(d + nb))[b]);
            }
        }
        for (int r = 0; r < R; r++) y[(size_t)r * ldy + n] = hsum(acc[r]) - corr[r] + (bias ? bias[n] : 0.f);
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

const mv_qgemv_isa mv_qgemv_avx2 = { .name = "avx2", .act_bytes = act_bytes, .act_prep = act_prep, .rows = rows };
