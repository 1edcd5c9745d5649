/* quant_avx2.c — Q8/Q4 decode products with AVX2: vpmaddubsw (unsigned × signed bytes to int16
 * pairs) and vpmaddwd to int32, each block's scale applied in FP32.
 *
 * Q8 uses the sign trick (|w| × sign(w)·x) so the pair sums stay within int16 (2·127·127 < 32768),
 * one block per step. Q4 multiplies the unsigned nibbles (u = q + 8) directly, two blocks per 32-byte
 * load (their low nibbles and their high nibbles are two vpmaddubsw whose int16 sums add, within
 * 4·15·127 < 32768), and subtracts 8·Σx per block afterwards. Block scales (weight × activation) are
 * formed 8 blocks at a time in a vector; per-block scalar scale work was the Q4 kernel's bound (it
 * read ~12–17 GB/s from L3 where Q8 read ~45–55). Also the integer path of AVX-512 CPUs without VNNI. */
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_isa.h"

#define INLINE static inline __attribute__((always_inline))

/* Activation row: codes int8 [np][64] for np = ceil(nb / 2) pairs of blocks — Q8 in natural order,
 * Q4 as [block b codes 0..15 | b+1 0..15 | b 16..31 | b+1 16..31], the order two blocks of nibbles
 * unpack to — then d f32 [ng·8] and sum int32 [ng·8] for ng = ceil(nb / 8), zero past nb. */
static int pairs_of(int nb) { return (nb + 1) / 2; }
static int scale_slots(int nb) { return (nb + 7) / 8 * 8; }

static size_t act_bytes(int K) {
    const int nb = K / MV_QBLOCK;
    return (size_t)pairs_of(nb) * 64 + (size_t)scale_slots(nb) * 8;
}

static void act_prep(mv_qtype t, const float *x, int K, void *act) {
    const int nb = K / MV_QBLOCK;
    int8_t *q = act;
    float *d = (float *)(q + (size_t)pairs_of(nb) * 64);
    int32_t *sum = (int32_t *)(d + scale_slots(nb));
    memset(act, 0, act_bytes(K));
    mv_q_act_ref(x, K, q, d, sum);
    if (t != MV_Q4) return;
    for (int p = 0; p < nb / 2; p++) { /* natural [b 0..31 | b+1 0..31] to the nibble order */
        int8_t *pair = q + (size_t)p * 64, tmp[16];
        memcpy(tmp, pair + 16, 16);
        memcpy(pair + 16, pair + 32, 16);
        memcpy(pair + 32, tmp, 16);
    }
    if (nb % 2) { /* a last single block: codes 16..31 move to the third quarter */
        int8_t *pair = q + (size_t)(nb / 2) * 64;
        memcpy(pair + 32, pair + 16, 16);
        memset(pair + 16, 0, 16);
    }
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* F16 weight scales of blocks [b, b + n) (n ≤ 8), zeros past n, as f32. */
INLINE __m256 weight_scales8(const char *sc, int b, int n) {
    if (n >= 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sc + 2 * (size_t)b)));
    uint16_t h[8] = { 0 };
    memcpy(h, sc + 2 * (size_t)b, 2 * (size_t)n);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* Q4: the pair of blocks at blk (even; a last single block reads zeros past it) into acc[r]; s8[r]:
 * the scale products of the group of 8 blocks blk belongs to, idx: each lane's block among them. */
INLINE void step_q4(const uint8_t *codes, int blk, int single, const char *acts, size_t stride, const int R,
                    const __m256 *s8, __m256i idx, __m256 *acc) {
    const __m256i nib = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    const uint8_t *src = codes + (size_t)blk * 16;
    const __m256i v = single ? _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_loadu_si128((const __m128i *)src), 0)
                             : _mm256_loadu_si256((const __m256i *)src);
    const __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
    for (int r = 0; r < R; r++) {
        const int8_t *x = (const int8_t *)(acts + (size_t)r * stride) + (size_t)blk / 2 * 64;
        const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_load_si256((const __m256i *)x)),
                                             _mm256_maddubs_epi16(hi, _mm256_load_si256((const __m256i *)(x + 32))));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones)), _mm256_permutevar8x32_ps(s8[r], idx),
                                 acc[r]);
    }
}

/* Q8: block blk into acc[r], its scale products in lane `lane` of s8[r]. */
INLINE void step_q8(const uint8_t *codes, int blk, const char *acts, size_t stride, const int R, const __m256 *s8,
                    int lane, __m256 *acc) {
    const __m256i wv = _mm256_loadu_si256((const __m256i *)(codes + (size_t)blk * 32)), u = _mm256_abs_epi8(wv);
    const __m256i at = _mm256_set1_epi32(lane);
    for (int r = 0; r < R; r++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)((const int8_t *)(acts + (size_t)r * stride) + (size_t)blk * 32));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(x, wv)), _mm256_set1_epi16(1));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_permutevar8x32_ps(s8[r], at), acc[r]);
    }
}

INLINE void rows_r(const mv_matrix *w, const char *acts, size_t stride, int n0, int n1, const float *bias, float *y,
                   int ldy, const int R, const int q4) {
    const int K = w->cols, nb = K / MV_QBLOCK;
    const size_t row_bytes = q4 ? (size_t)K / 2 : (size_t)K, d_offset = (size_t)pairs_of(nb) * 64;
    const size_t block_bytes = q4 ? MV_QBLOCK / 2 : MV_QBLOCK;
    const __m256i pair_lanes = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0), two = _mm256_set1_epi32(2);
    for (int n = n0; n < n1; n++) {
        const uint8_t *codes = (const uint8_t *)w->data + (size_t)n * row_bytes;
        const char *sc = (const char *)w->scales + (size_t)n * (size_t)nb * 2; /* may be unaligned */
        __m256 acc[MV_QGEMV_MAX_M], corr[MV_QGEMV_MAX_M];
        for (int r = 0; r < R; r++) acc[r] = corr[r] = _mm256_setzero_ps();
        for (int b0 = 0; b0 < nb; b0 += 8) {
            const int nbk = nb - b0 < 8 ? nb - b0 : 8;
            const __m256 dw = weight_scales8(sc, b0, nbk);
            for (size_t line = 0; line < (size_t)nbk * block_bytes; line += 64)
                _mm_prefetch((const char *)codes + (size_t)b0 * block_bytes + line + DECODE_PREFETCH_BYTES, _MM_HINT_T0);
            __m256 s8[MV_QGEMV_MAX_M]; /* weight × activation scale of each block */
            for (int r = 0; r < R; r++) {
                const float *d = (const float *)(acts + (size_t)r * stride + d_offset);
                const int32_t *sums = (const int32_t *)(d + scale_slots(nb));
                s8[r] = _mm256_mul_ps(dw, _mm256_loadu_ps(d + b0));
                if (q4) corr[r] = _mm256_fmadd_ps(s8[r], _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(sums + b0))), corr[r]);
            }
            if (q4) {
                __m256i idx = pair_lanes;
                for (int j = 0; j < nbk; j += 2, idx = _mm256_add_epi32(idx, two))
                    step_q4(codes, b0 + j, j + 1 >= nbk, acts, stride, R, s8, idx, acc);
            } else {
                for (int j = 0; j < nbk; j++) step_q8(codes, b0 + j, acts, stride, R, s8, j, acc);
            }
        }
        const float offset = (float)mv_q_code_offset(MV_Q4);
        for (int r = 0; r < R; r++)
            y[(size_t)r * ldy + n] = hsum(acc[r]) - (q4 ? offset * hsum(corr[r]) : 0.f) + (bias ? bias[n] : 0.f);
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
