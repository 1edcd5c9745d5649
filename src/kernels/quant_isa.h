/* quant_isa.h — private interface between the quantized-linear dispatcher (quant.c) and its per-ISA
 * integer kernels (quant_avx512.c, quant_avx2.c). */
#ifndef MV_KERNELS_QUANT_ISA_H
#define MV_KERNELS_QUANT_ISA_H

#include <math.h>

#include "kernels/quant.h"

/* The decode path handles up to this many rows of x per weight pass. */
enum { MV_QGEMV_MAX_M = 4 };

/* How far ahead decode kernels prefetch the weight codes they read (rows follow one another, so this
 * runs into the next rows). With the hardware prefetchers alone decode read less than a plain read of
 * memory reaches on this VM. 2 KB ahead: Q4 decode at context 300 took 4-15% less time a step in
 * three sets of interleaved runs (medians 11.4 -> 10.3, 12.3 -> 10.4, 12.0 -> 11.5 ms), Q8 the same
 * within noise; the AVX2 kernels' cold 4864 x 896 product +8% (Q8) / +7% (Q4); in-cache rates
 * unchanged. */
enum { DECODE_PREFETCH_BYTES = 2048 };

/* Rows of x quantized per block for the prefill product: codes [M][K] in natural k order, stored
 * unsigned as q + 128 (the weights are the signed side of the integer products: the panels carry
 * −128·Σw per column and block to take the offset back out), and per row and block the activation
 * scale d. */
typedef struct mv_qacts {
    uint8_t *codes;
    float *d;
    int K, nb; /* row strides: codes K, d nb = K / MV_QBLOCK */
} mv_qacts;

/* An integer decode kernel set. An "activation" is one row of x prepared for the kernel in a scratch
 * area of act_bytes(K) bytes (64-byte aligned). */
typedef struct mv_qgemv_isa {
    const char *name;
    size_t (*act_bytes)(int K);
    /* Quantize x[K] for weights of type t into act. */
    void (*act_prep)(mv_qtype t, const float *x, int K, void *act);
    /* y[r*ldy + n] = Σ_k x_r[k] · w[n, k] (+ bias[n]) for r < R ≤ MV_QGEMV_MAX_M, n in [n0, n1);
     * activation r at acts + r * act_stride. */
    void (*rows)(const mv_matrix *w, const void *acts, size_t act_stride, int R, int n0, int n1, const float *bias,
                 float *y, int ldy);
    /* Prefill (NULL where the ISA has none): the driver in quant.c quantizes every row of x once
     * (mv_qacts), packs panels of gemm_nr weight columns × a run of blocks (gemm_block_bytes per block)
     * and runs a register tile of up to gemm_mr rows over each. */
    int gemm_mr, gemm_nr;
    size_t gemm_block_bytes;
    /* Row m of x (acts->K values) quantized into acts (codes and d at row m). */
    void (*gemm_act)(const float *x, const mv_qacts *acts, int m);
    /* Weight rows [n0, n0 + ncols) (ncols ≤ gemm_nr), blocks [b0, b0 + nblk), into panel. */
    void (*gemm_pack)(const mv_matrix *w, int n0, int ncols, int b0, int nblk, void *panel);
    /* y[r, c] (+)= Σ over the panel's blocks for rows [m, m + rows) (rows ≤ gemm_mr), columns c < ncols;
     * accumulate: add to y, else store with bias (may be NULL) added. */
    void (*gemm_tile)(const mv_qacts *acts, int m, int rows, int b0, const void *panel, int nblk, float *y,
                      int ldy, int ncols, const float *bias, int accumulate);
} mv_qgemv_isa;

extern const mv_qgemv_isa mv_qgemv_avx512vnni, mv_qgemv_avx2;

/* outs[i].y[M, N_i] = x · outs[i].wᵀ (+ bias) for i < n (quantized matrices of one K, N_i ≥ 1) through
 * isa's prefill kernels (isa->gemm_tile non-NULL), any M: x is quantized once for all of them.
 * Returns 0, with nothing written, when scratch memory is short. */
int mv_qgemm(const mv_qgemv_isa *isa, mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n);

/* Activation quantization shared by every ISA so their codes agree bit for bit: the block's scale
 * d = amax / 127 and multiplier 127 / amax (0 for an all-zero block); code = round-half-even(x · mult). */
static inline void mv_qact_block_scale(float amax, float *d, float *mult) {
    *d = amax / 127.0f;
    *mult = amax > 0 ? 127.0f / amax : 0.0f;
}

/* x[K] quantized per block in plain C: codes q[K], scales d[K/32], code sums sum[K/32] (may be NULL). */
void mv_q_act_ref(const float *x, int K, int8_t *q, float *d, int32_t *sum);

/* Code offset folded into unsigned weight codes by the integer kernels: the kernels multiply
 * u = q + offset (Q8: q + 128, Q4: the stored nibble) and subtract offset · Σ x codes per block. */
static inline int mv_q_code_offset(mv_qtype t) { return t == MV_Q8 ? 128 : 8; }

#endif
