/* quant_avx512.c — Q8/Q4 products with AVX512-VNNI: for decode, 64 weight codes (two blocks) per
 * vpdpbusd against int8 activations, one F16 scale per block applied in FP32; for prefill, an integer
 * GEMM over packed weight panels (below).
 *
 * vpdpbusd multiplies unsigned by signed bytes. In decode the weights are the unsigned side: Q8 codes
 * are shifted by +128 (an xor), Q4 nibbles are already 0..15 (= q + 8), and the shift times the
 * block's sum of activation codes is subtracted by starting each block's accumulator at −offset·Σx
 * (prepared once per activation row); Q4 expands 32 packed bytes to [block b low halves | b+1 low |
 * b high | b+1 high] without shuffling, and the activation row is stored in that order instead. The
 * prefill GEMM turns the operands around (see there). */
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

static void act_prep(mv_qtype t, const float *x, int K, void *act) {
    const int nb = K / MV_QBLOCK, np = (nb + 1) / 2, off = mv_q_code_offset(t);
    int8_t *codes = act;
    int32_t *corr = (int32_t *)(codes + (size_t)np * 64);
    float *dxl = (float *)(corr + (size_t)np * 16);
    memset(act, 0, act_bytes(K));
    for (int b = 0; b < nb; b++) {
        const int p = b / 2, half = b % 2;
        /* Q8: natural order (block b+half at byte 32·half); Q4: low 16 at 16·half, high 16 at 32 + 16·half */
        int8_t *dst_lo = codes + (size_t)p * 64 + (t == MV_Q8 ? 32 : 16) * half;
        float d;
        __m128i lo, hi;
        const int32_t sum = quantize_block(x + (size_t)b * MV_QBLOCK, &lo, &hi, &d);
        _mm_storeu_si128((__m128i *)dst_lo, lo);
        _mm_storeu_si128((__m128i *)(dst_lo + (t == MV_Q8 ? 16 : 32)), hi);
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
