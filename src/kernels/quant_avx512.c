/* quant_avx512.c — Q8/Q4 products with AVX512-VNNI: for decode, 64 weight codes per vpdpbusd
 * against int8 activations (Q8: a pair of blocks per load; Q4: four blocks per 64-byte load, their
 * low and high nibbles in two vpdpbusd into the same lanes), one F16 scale per block applied in FP32;
 * for prefill, an integer GEMM over packed weight panels (below).
 *
 * vpdpbusd multiplies unsigned by signed bytes. In decode the weights are the unsigned side: Q8 codes
 * are shifted by +128 (an xor), Q4 nibbles are already 0..15 (= q + 8), and the shift times the
 * block's sum of activation codes is subtracted by starting each block's accumulator at −offset·Σx
 * (prepared once per activation row); the activation row is stored in the order the weight codes
 * unpack to, so no weight is shuffled. The prefill GEMM turns the operands around (see there). */
#include <immintrin.h>
#include <string.h>

#include "kernels/quant_isa.h"

#define INLINE static inline __attribute__((always_inline))

/* Activation row layouts. Q8, per pair of blocks p (np = ceil(nb / 2) pairs):
 *   codes  int8  [np][64]   (block order of the weight type; a missing odd block is zeros)
 *   corr   int32 [np][16]   −offset·Σcodes of each block in the first lane of its lanes
 *   dxl    f32   [np][16]   each lane's block activation scale
 * Q4, per quad of blocks q (nq = ceil(nb / 4) quads, 256 bytes each, missing blocks zeros):
 *   lo int8 [64] (byte 16i + j: code j of block 4q + i), hi int8 [64] (code 16 + j),
 *   corr int32 [16] (lane 4i: −8·Σcodes of block 4q + i), dxl f32 [16] (lanes 4i..4i+3: its scale).
 * One 64-byte load of Q4 weights is a whole quad: its low nibbles meet lo and its high nibbles hi
 * in the same int32 lanes, so a quad costs one conversion and one scaling where two pairs cost two
 * of each; with pairs the Q4 kernel ran at the rate of the Q8 one, half Q8's bytes a second. */
enum { Q4_LO = 0, Q4_HI = 64, Q4_CORR = 128, Q4_SCALE = 192, Q4_QUAD_BYTES = 256 }; /* byte offsets in a quad */

static size_t act_bytes(int K) {
    const size_t nb = (size_t)(K / MV_QBLOCK), pairs = (nb + 1) / 2 * 64 * 3, quads = (nb + 3) / 4 * Q4_QUAD_BYTES;
    return pairs > quads ? pairs : quads;
}

static __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* One block of 32 activations to int8 codes in registers (first 16 in lo, last 16 in hi); returns
 * Σcodes. The codes stay in registers: storing the two halves and reloading them as one 32-byte
 * vector defeated store-to-load forwarding, and that stall was 85% of the prefill's activation
 * quantization. */
INLINE int32_t quantize_block(const float *x, __m128i *lo, __m128i *hi, float *d) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    float mult;
    mv_qact_block_scale(amax, d, &mult);
    const __m512 vm = _mm512_set1_ps(mult);
    const __m512i cmin = _mm512_set1_epi32(-127), cmax = _mm512_set1_epi32(127);
    __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vm)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vm));
    q0 = _mm512_min_epi32(_mm512_max_epi32(q0, cmin), cmax);
    q1 = _mm512_min_epi32(_mm512_max_epi32(q1, cmin), cmax);
    *lo = _mm512_cvtepi32_epi8(q0);
    *hi = _mm512_cvtepi32_epi8(q1);
    return _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
}

static void act_prep_q4(const float *x, int K, char *act) {
    const int nb = K / MV_QBLOCK;
    memset(act, 0, (size_t)(nb + 3) / 4 * Q4_QUAD_BYTES);
    for (int b = 0; b < nb; b++) {
        char *quad = act + (size_t)(b / 4) * Q4_QUAD_BYTES;
        const int i = b % 4;
        float d;
        __m128i lo, hi;
        const int32_t sum = quantize_block(x + (size_t)b * MV_QBLOCK, &lo, &hi, &d);
        _mm_storeu_si128((__m128i *)(quad + Q4_LO + 16 * i), lo);
        _mm_storeu_si128((__m128i *)(quad + Q4_HI + 16 * i), hi);
        ((int32_t *)(quad + Q4_CORR))[4 * i] = -mv_q_code_offset(MV_Q4) * sum;
        _mm_storeu_ps((float *)(quad + Q4_SCALE) + 4 * i, _mm_set1_ps(d));
    }
}

static void act_prep(mv_qtype t, const float *x, int K, void *act) {
    if (t == MV_Q4) {
        act_prep_q4(x, K, act);
        return;
    }
    const int nb = K / MV_QBLOCK, np = (nb + 1) / 2, off = mv_q_code_offset(t);
    int8_t *codes = act;
    int32_t *corr = (int32_t *)(codes + (size_t)np * 64);
    float *dxl = (float *)(corr + (size_t)np * 16);
    memset(act, 0, (size_t)np * 64 * 3);
    for (int b = 0; b < nb; b++) {
        const int p = b / 2, half = b % 2;
        int8_t *dst = codes + (size_t)p * 64 + 32 * half; /* natural order */
        float d;
        __m128i lo, hi;
        const int32_t sum = quantize_block(x + (size_t)b * MV_QBLOCK, &lo, &hi, &d);
        _mm_storeu_si128((__m128i *)dst, lo);
        _mm_storeu_si128((__m128i *)(dst + 16), hi);
        corr[(size_t)p * 16 + 8 * half] = -off * sum;
        for (int l = 8 * half; l < 8 * half + 8; l++) dxl[(size_t)p * 16 + l] = d;
    }
}

/* Q8: two blocks of weight codes as unsigned bytes; `single`: only the first block exists (its
 * partner reads as zeros, matching zero activation codes). */
INLINE __m512i load_pair_q8(const uint8_t *p, int single) {
    const __m512i v = _mm512_maskz_loadu_epi8(single ? 0xFFFFFFFFull : ~0ull, p);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

/* Q8: the pair of blocks at blk (blk even) against R activation rows, into acc[r]; wl: each lane's
 * weight scale. */
INLINE void step_q8(const uint8_t *codes, int blk, int nb, const char *acts, size_t stride, const int R, __m512 wl,
                    __m512 *acc) {
    const size_t p = (size_t)blk / 2, np = (size_t)(nb + 1) / 2;
    const __m512i wv = load_pair_q8(codes + p * 64, blk + 1 >= nb);
    for (int r = 0; r < R; r++) {
        const int8_t *xq = (const int8_t *)(acts + (size_t)r * stride);
        const int32_t *corr = (const int32_t *)(xq + np * 64);
        const float *dxl = (const float *)(corr + np * 16);
        const __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(corr + p * 16), wv, _mm512_load_si512(xq + p * 64));
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_load_ps(dxl + p * 16));
        acc[r] = _mm512_fmadd_ps(f, wl, acc[r]);
    }
}

/* Q4: the quad of blocks at blk (a multiple of 4) in one 64-byte load (the quad layout above); the
 * blocks of a last partial quad read as zeros. */
INLINE void step_q4(const uint8_t *codes, int blk, int nb, const char *acts, size_t stride, const int R, __m512 wl,
                    __m512 *acc) {
    const size_t q = (size_t)blk / 4;
    const __mmask64 have = nb - blk >= 4 ? ~0ull : (1ull << (16 * (nb - blk))) - 1;
    const __m512i nibble = _mm512_set1_epi8(0x0F), v = _mm512_maskz_loadu_epi8(have, codes + q * 64);
    const __m512i lo = _mm512_and_si512(v, nibble), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    for (int r = 0; r < R; r++) {
        const char *quad = acts + (size_t)r * stride + q * Q4_QUAD_BYTES;
        __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(quad + Q4_CORR), lo, _mm512_load_si512(quad + Q4_LO));
        s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(quad + Q4_HI));
        const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_load_ps((const float *)(quad + Q4_SCALE)));
        acc[r] = _mm512_fmadd_ps(f, wl, acc[r]);
    }
}

/* Weight row n against R activation rows into acc[r], a step (Q8: 2 blocks, Q4: 4) at a time. The
 * F16 scales are widened 16 blocks at a time; idx maps each lane to its block within the step and
 * advances by a step's blocks. */
INLINE void row_q(const mv_matrix *w, const char *acts, size_t stride, int n, const int R, const int q4, __m512 *acc) {
    const int K = w->cols, nb = K / MV_QBLOCK, step = q4 ? 4 : 2;
    const __m512i base = q4 ? _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)
                            : _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i advance = _mm512_set1_epi32(step);
    const uint8_t *codes = (const uint8_t *)w->data + (size_t)n * (q4 ? (size_t)K / 2 : (size_t)K);
    const char *sc = (const char *)w->scales + (size_t)n * (size_t)nb * 2; /* may be unaligned */
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += 16) {
        const int nbk = nb - b0 < 16 ? nb - b0 : 16;
        const __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask16(nbk), sc + 2 * b0));
        __m512i idx = base;
        for (int blk = b0; blk < b0 + nbk; blk += step, idx = _mm512_add_epi32(idx, advance)) {
            const __m512 wl = _mm512_permutexvar_ps(idx, dw);
            _mm_prefetch((const char *)codes + (size_t)blk * (q4 ? MV_QBLOCK / 2 : MV_QBLOCK) + DECODE_PREFETCH_BYTES,
                         _MM_HINT_T0);
            if (q4) step_q4(codes, blk, nb, acts, stride, R, wl, acc);
            else step_q8(codes, blk, nb, acts, stride, R, wl, acc);
        }
    }
}

/* acc[0..3] reduced to one sum each, in lanes 0..3. */
INLINE __m128 reduce4(const __m512 acc[4]) {
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(acc[0], acc[1]), _mm512_unpackhi_ps(acc[0], acc[1]));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(acc[2], acc[3]), _mm512_unpackhi_ps(acc[2], acc[3]));
    /* per 128-bit lane: a0+a2, b0+b2, a1+a3, b1+b3 (and c, d likewise) → a, b, c, d partial sums */
    const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* Weight rows are taken four at a time, one after another, their sums kept apart until one
 * four-way reduction: the rows' FP chains overlap and the horizontal sums cost a quarter. Their
 * loads are not interleaved: reading four rows side by side slowed cold reads by ~15%. */
INLINE void rows_r(const mv_matrix *w, const char *acts, size_t stride, int n0, int n1, const float *bias, float *y,
                   int ldy, const int R, const int q4) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        __m512 acc0[MV_QGEMV_MAX_M], acc1[MV_QGEMV_MAX_M], acc2[MV_QGEMV_MAX_M], acc3[MV_QGEMV_MAX_M];
        row_q(w, acts, stride, n, R, q4, acc0);
        row_q(w, acts, stride, n + 1, R, q4, acc1);
        row_q(w, acts, stride, n + 2, R, q4, acc2);
        row_q(w, acts, stride, n + 3, R, q4, acc3);
        for (int r = 0; r < R; r++) {
            const __m512 four_rows[4] = { acc0[r], acc1[r], acc2[r], acc3[r] };
            __m128 sum = reduce4(four_rows);
            if (bias) sum = _mm_add_ps(sum, _mm_loadu_ps(bias + n));
            _mm_storeu_ps(y + (size_t)r * ldy + n, sum);
        }
    }
    for (; n < n1; n++) {
        __m512 acc[MV_QGEMV_MAX_M];
        row_q(w, acts, stride, n, R, q4, acc);
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

/* ------------------------------------------------------------------ prefill GEMM
 * A panel holds GEMM_NR = 48 weight columns; per block of 32 k: the codes as signed bytes (Q4: the
 * nibble − 8) in VNNI order, [8 groups of 4 k][48 columns][4 bytes] (GEMM_NV = 3 zmm per group),
 * then the 48 columns' scales as f32, then their −128·Σ codes as int32. The tile broadcasts 4
 * activation codes of a row (unsigned, q + 128) and multiplies them into every column vector; each
 * block's int32 sums start at the columns' −128·Σw, which takes the activations' offset back out (the
 * same vector for every row, where an offset on the weights' side needed a broadcast per row), and
 * are scaled (weight scale × activation scale) into FP32 accumulators once per block. */
enum { GEMM_MR = 4, GEMM_NV = 3, GEMM_NR = 16 * GEMM_NV, GEMM_GROUP_BYTES = 4 * GEMM_NR, GEMM_CODE_BYTES = 8 * GEMM_GROUP_BYTES,
       GEMM_SCALE_BYTES = GEMM_NR * 4, GEMM_CORR_OFFSET = GEMM_CODE_BYTES + GEMM_SCALE_BYTES };
#define GEMM_BLOCK_BYTES ((size_t)GEMM_CORR_OFFSET + GEMM_NR * sizeof(int32_t))

static void gemm_act(const float *x, const mv_qacts *a, int m) {
    uint8_t *codes = a->codes + (size_t)m * a->K;
    const __m256i offset = _mm256_set1_epi8((char)0x80); /* q + 128 as a byte */
    for (int b = 0; b < a->nb; b++) {
        __m128i lo, hi;
        (void)quantize_block(x + (size_t)b * MV_QBLOCK, &lo, &hi, a->d + (size_t)m * a->nb + b);
        _mm256_storeu_si256((__m256i *)(codes + (size_t)b * MV_QBLOCK), _mm256_xor_si256(_mm256_set_m128i(hi, lo), offset));
    }
}

/* 16 columns' blocks (as 16 × 8 dwords of 4 k codes; a[i] holds columns 2i and 2i+1, 8 dwords each)
 * to the panel's order: out[g] = dword g of columns 0..15. Three rounds of two-source permutes
 * (a butterfly: 4 dwords × 4 columns, then 2 × 8, then 1 × 16); vpgatherdd did the same 8× slower. */
static void transpose_16x8(const __m512i a[8], __m512i out[8]) {
    static const int32_t i1[2][16] = { { 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27 },
                                       { 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31 } };
    static const int32_t i2[2][16] = { { 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29 },
                                       { 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31 } };
    static const int32_t i3[2][16] = { { 0, 2, 16, 18, 8, 10, 24, 26, 4, 6, 20, 22, 12, 14, 28, 30 },
                                       { 1, 3, 17, 19, 9, 11, 25, 27, 5, 7, 21, 23, 13, 15, 29, 31 } };
    __m512i b[8], c[8];
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) b[i + 4 * h] = _mm512_permutex2var_epi32(a[i], _mm512_loadu_si512(i1[h]), a[i + 4]);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 8; j += (j % 4 == 1) ? 3 : 1) /* j = 0, 1, 4, 5 */
            c[j + 2 * h] = _mm512_permutex2var_epi32(b[j], _mm512_loadu_si512(i2[h]), b[j + 2]);
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 4; m++) out[2 * m + h] = _mm512_permutex2var_epi32(c[2 * m], _mm512_loadu_si512(i3[h]), c[2 * m + 1]);
}

/* One column's block codes as a 256-bit half of signed bytes in k order: Q8 as stored, Q4 unpacked to
 * one nibble a byte minus 8. A missing column (src NULL) reads as zeros. */
static __m256i column_codes(const uint8_t *src, int q4) {
    if (!src) return _mm256_setzero_si256();
    if (!q4) return _mm256_loadu_si256((const __m256i *)src);
    const __m128i v = _mm_loadu_si128((const __m128i *)src), nib = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    return _mm256_set_m128i(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), nib), eight),
                            _mm_sub_epi8(_mm_and_si128(v, nib), eight));
}

/* The packer reads 16 weight rows side by side, 32 bytes a block from each, and mostly waits for
 * them (the weights come from memory once per prompt pass); prefetching each row 4 blocks ahead took
 * the pack from ~5% to ~3.8% of a Q8 prefill's samples (perf, 3 runs each). */
enum { GEMM_PACK_LOOKAHEAD = 4 };

/* Padding columns (beyond ncols) get zero codes and scales; their sums are never stored. */
static void gemm_pack(const mv_matrix *w, int n0, int ncols, int b0, int nblk, void *panel) {
    const int nb = w->cols / MV_QBLOCK, q4 = w->qtype == MV_Q4;
    const size_t row_bytes = mv_q_row_bytes(w->qtype, w->cols), block_bytes = q4 ? 16 : 32;
    const __m512i ones = _mm512_set1_epi8(1);
    for (int h = 0; h < GEMM_NV; h++) {
        const int cn = ncols - 16 * h < 0 ? 0 : ncols - 16 * h < 16 ? ncols - 16 * h : 16; /* 0: zeros */
        const uint8_t *src[16];
        const char *scale_src[16]; /* F16 scales; the mmap may leave them unaligned */
        for (int c = 0; c < cn; c++) {
            src[c] = (const uint8_t *)w->data + (size_t)(n0 + 16 * h + c) * row_bytes + (size_t)b0 * block_bytes;
            scale_src[c] = (const char *)w->scales + ((size_t)(n0 + 16 * h + c) * (size_t)nb + (size_t)b0) * 2;
        }
        for (int bi = 0; bi < nblk; bi++) {
            uint8_t *dst = (uint8_t *)panel + (size_t)bi * GEMM_BLOCK_BYTES + 64 * h;
            if (bi + GEMM_PACK_LOOKAHEAD < nblk) /* see GEMM_PACK_LOOKAHEAD */
                for (int c = 0; c < cn; c++)
                    _mm_prefetch((const char *)src[c] + (size_t)(bi + GEMM_PACK_LOOKAHEAD) * block_bytes, _MM_HINT_T0);
            __m512i a[8], out[8];
            for (int i = 0; i < 8; i++) {
                const int c = 2 * i;
                const __m256i lo = column_codes(c < cn ? src[c] + (size_t)bi * block_bytes : NULL, q4);
                const __m256i hi = column_codes(c + 1 < cn ? src[c + 1] + (size_t)bi * block_bytes : NULL, q4);
                a[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
            }
            transpose_16x8(a, out);
            __m512i sum = _mm512_setzero_si512(); /* per column: Σ of its 32 codes */
            for (int g = 0; g < 8; g++) {
                _mm512_store_si512(dst + g * GEMM_GROUP_BYTES, out[g]);
                sum = _mm512_dpbusd_epi32(sum, ones, out[g]);
            }
            _mm512_store_si512(dst + GEMM_CORR_OFFSET, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 7)));
            uint16_t sc[16] = { 0 };
            for (int c = 0; c < cn; c++) memcpy(&sc[c], scale_src[c] + 2 * (size_t)bi, 2);
            _mm512_store_ps(dst + GEMM_CODE_BYTES, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc)));
        }
    }
}

static __mmask16 col_mask(int ncols, int c) { return ncols <= 16 * c ? 0 : mask16(ncols - 16 * c); }

INLINE void gemm_tile_r(const mv_qacts *a, int m, int b0, const uint8_t *panel, int nblk, float *y, int ldy,
                        int ncols, const float *bias, int accumulate, const int R) {
    __m512 acc[GEMM_MR][GEMM_NV];
    const uint8_t *xq[GEMM_MR];
    const float *dx[GEMM_MR];
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < GEMM_NV; v++) acc[r][v] = _mm512_setzero_ps();
        xq[r] = a->codes + (size_t)(m + r) * a->K + (size_t)b0 * MV_QBLOCK;
        dx[r] = a->d + (size_t)(m + r) * a->nb + b0;
    }
    for (int bi = 0; bi < nblk; bi++) {
        const uint8_t *pw = panel + (size_t)bi * GEMM_BLOCK_BYTES;
        __m512i s[GEMM_MR][GEMM_NV], corr[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++) corr[v] = _mm512_load_si512(pw + GEMM_CORR_OFFSET + 64 * v);
        for (int r = 0; r < R; r++)
            for (int v = 0; v < GEMM_NV; v++) s[r][v] = corr[v];
        for (int g = 0; g < 8; g++) {
            __m512i wv[GEMM_NV];
            for (int v = 0; v < GEMM_NV; v++) wv[v] = _mm512_load_si512(pw + g * GEMM_GROUP_BYTES + 64 * v);
            for (int r = 0; r < R; r++) {
                int32_t x4;
                memcpy(&x4, xq[r] + (size_t)bi * MV_QBLOCK + 4 * g, 4);
                const __m512i xb = _mm512_set1_epi32(x4);
                for (int v = 0; v < GEMM_NV; v++) s[r][v] = _mm512_dpbusd_epi32(s[r][v], xb, wv[v]);
            }
        }
        __m512 dw[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++) dw[v] = _mm512_load_ps(pw + GEMM_CODE_BYTES + 64 * v);
        for (int r = 0; r < R; r++) {
            const __m512 d = _mm512_set1_ps(dx[r][bi]);
            for (int v = 0; v < GEMM_NV; v++)
                acc[r][v] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s[r][v]), dw[v]), d, acc[r][v]);
        }
    }
    for (int v = 0; v < GEMM_NV; v++) {
        const __mmask16 k = col_mask(ncols, v);
        const __m512 b = bias && !accumulate ? _mm512_maskz_loadu_ps(k, bias + 16 * v) : _mm512_setzero_ps();
        for (int r = 0; r < R; r++) {
            float *dst = y + (size_t)r * ldy + 16 * v;
            _mm512_mask_storeu_ps(dst, k, _mm512_add_ps(accumulate ? _mm512_maskz_loadu_ps(k, dst) : b, acc[r][v]));
        }
    }
}

static void gemm_tile(const mv_qacts *a, int m, int rows, int b0, const void *panel, int nblk, float *y, int ldy,
                      int ncols, const float *bias, int accumulate) {
    switch (rows) {
    case 1: gemm_tile_r(a, m, b0, panel, nblk, y, ldy, ncols, bias, accumulate, 1); break;
    case 2: gemm_tile_r(a, m, b0, panel, nblk, y, ldy, ncols, bias, accumulate, 2); break;
    case 3: gemm_tile_r(a, m, b0, panel, nblk, y, ldy, ncols, bias, accumulate, 3); break;
    case 4: gemm_tile_r(a, m, b0, panel, nblk, y, ldy, ncols, bias, accumulate, 4); break;
    default: break;
    }
}

const mv_qgemv_isa mv_qgemv_avx512vnni = { "avx512vnni", act_bytes, act_prep, rows, GEMM_MR, GEMM_NR,
                                           GEMM_BLOCK_BYTES, gemm_act, gemm_pack, gemm_tile };
