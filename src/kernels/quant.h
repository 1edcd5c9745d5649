/* quant.h — block-quantized weight matrices (formats in docs/QUANT.md) and mv_linear over them.
 *
 * A row of K weights (K a multiple of MV_QBLOCK = 32) is cut into K/32 blocks, each with one F16
 * scale d:
 *   Q8: codes I8 [rows, K], weight = d · q, q in [-127, 127] (d = max|w| / 127).
 *   Q4: codes U8 [rows, K/2], weight = d · (u − 8), u in [0, 15]; in block b, byte j (0 ≤ j < 16) holds
 *       weight j in its low nibble and weight j + 16 in its high nibble (d = w_absmax_signed / −8).
 * Decode (few rows of x) quantizes x per block to int8 and runs integer dot products (AVX512-VNNI,
 * AVX2 maddubs, or plain C). Longer inputs do the same through an integer GEMM over packed weight
 * panels where the CPU has AVX512-VNNI, and otherwise dequantize weight panels into the FP32 tiled GEMM. */
#ifndef MV_KERNELS_QUANT_H
#define MV_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

/* "q8", "q4" (or "none"). */
const char *mv_qtype_name(mv_qtype t);
/* MV_Q8 / MV_Q4 from "q8" / "q4"; MV_Q_NONE for anything else. */
mv_qtype mv_qtype_parse(const char *s);
/* Bytes of codes in one row of `cols` weights, and the codes' dtype (I8 for Q8, U8 for Q4). */
size_t mv_q_row_bytes(mv_qtype t, int cols);
mv_dtype mv_q_code_dtype(mv_qtype t);

/* Where block `block` of row `row` of a quantized matrix keeps its codes, and its F16 scale's bits
 * (read with memcpy: the mmap may leave the scales unaligned). */
static inline const uint8_t *mv_q_block_codes(const mv_matrix *w, int row, int block) {
    return (const uint8_t *)w->data + (size_t)row * mv_q_row_bytes(w->qtype, w->cols) +
           (size_t)block * mv_q_row_bytes(w->qtype, MV_QBLOCK);
}
static inline uint16_t mv_q_block_scale(const mv_matrix *w, int row, int block) {
    uint16_t h;
    memcpy(&h, (const char *)w->scales + ((size_t)row * (size_t)(w->cols / MV_QBLOCK) + (size_t)block) * 2, 2);
    return h;
}

/* Quantize one row of `cols` (a multiple of MV_QBLOCK) F32/F16/BF16 values at src: codes gets
 * mv_q_row_bytes(t, cols) bytes, scales cols / MV_QBLOCK F16 values. */
void mv_q_quantize_row(mv_qtype t, mv_dtype dt, const void *src, int cols, void *codes, uint16_t *scales);
/* Weights [k0, k0 + n) of row `row` of a quantized matrix as f32 (k0 and n multiples of MV_QBLOCK). */
void mv_q_dequant(const mv_matrix *w, int row, int k0, int n, float *dst);
/* Row `row` of any matrix (plain or quantized) as cols floats: embedding lookups. */
void mv_matrix_row_f32(const mv_matrix *w, int row, float *dst);
/* Weights [k0, k0 + n) of row `row` of any matrix as f32 (for a quantized one, as mv_q_dequant). */
void mv_matrix_part_f32(const mv_matrix *w, int row, int k0, int n, float *dst);

/* Quantize a plain matrix (cols a multiple of MV_QBLOCK) in parallel into caller memory: codes
 * (rows · mv_q_row_bytes) and scales (rows · cols / MV_QBLOCK). *out then views them. */
void mv_q_quantize_matrix(mv_pool *pool, const mv_matrix *src, mv_qtype t, void *codes, uint16_t *scales,
                          mv_matrix *out);

/* Whether mv_linear_q has an integer kernel for M rows of x on this CPU: decode sizes everywhere,
 * longer inputs where the ISA has an integer GEMM (AVX512-VNNI); mv_linear dequantizes otherwise. */
int mv_linear_q_handles(int M);
/* mv_linear for a quantized w (mv_linear forwards here). */
void mv_linear_q(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);
/* mv_linear_many's integer path: when every outs[i].w is quantized with the same K, and either M is a
 * prefill size the CPU's integer GEMM takes or a decode size (M ≤ 4, up to 4 outputs of one qtype),
 * runs them all in one pass and returns 1; returns 0 (nothing written) otherwise. */
int mv_linear_q_many(mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n);
/* The plain C reference of the integer path: x quantized per block to int8 (d = max|x| / 127), exact
 * integer block sums, float combination — what the SIMD decode kernels compute. */
void mv_linear_q_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);

#endif
