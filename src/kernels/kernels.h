/* kernels.h — the math the models are built from, independent of any model.
 *
 * Layout conventions: activations are row-major float32 [rows, dim]. Weights are viewed in place
 * (usually inside the checkpoint mmap) as row-major [out, in] matrices of BF16, F16 or F32 — the
 * PyTorch nn.Linear layout — and are never copied by these functions.
 * Every kernel has a plain C reference; SIMD versions are chosen at run time (kernels/dispatch.c). */
#ifndef MV_KERNELS_H
#define MV_KERNELS_H

#include <stddef.h>

#include "base/threadpool.h"
#include "io/safetensors.h"

/* Block-quantized weight formats (docs/QUANT.md): every row is cut into blocks of MV_QBLOCK weights,
 * each with one F16 scale. MV_Q_NONE means a plain dtype matrix. */
typedef enum mv_qtype { MV_Q_NONE = 0, MV_Q8, MV_Q4 } mv_qtype;
#define MV_QBLOCK 32

typedef struct mv_matrix {
    mv_dtype dtype;     /* MV_BF16, MV_F16 or MV_F32 (quantized: the codes' dtype, I8 or U8) */
    const void *data;   /* rows * cols elements, row-major (quantized: the codes, see kernels/quant.h) */
    int rows;           /* output features (N) */
    int cols;           /* input features (K) */
    /* Model precision bf16 (0 otherwise): mv_linear runs products of at least MV_BF16_MIN_M rows with
     * BF16 activations when the CPU has a BF16 kernel. */
    int bf16_act;
    mv_qtype qtype;     /* MV_Q_NONE, or the block format of data */
    const void *scales; /* quantized only: F16 [rows, cols / MV_QBLOCK], possibly unaligned */
} mv_matrix;

/* Rows of an N-row weight matrix per work item for memory-bound products (decode): a few long
 * contiguous runs per thread rather than many short interleaved ones, so each thread streams its
 * weights in order and the hardware prefetchers stay ahead (on the development machine this took the
 * Q8 lm_head product from 20 to 30 GB/s, the machine's read bandwidth); at least min_rows, so small
 * matrices still balance. */
static inline int mv_stream_rows_per_item(int N, int threads, int min_rows) {
    enum { ITEMS_PER_THREAD = 4 };
    const int items = ITEMS_PER_THREAD * (threads > 0 ? threads : 1), per = (N + items - 1) / items;
    return per > min_rows ? per : min_rows;
}

/* Name of the kernel set in use: "scalar", "avx2" or "avx512" (CPU detection, or MINIVL_ISA). */
const char *mv_kernels_isa(void);

/* y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias[N] when not NULL), FP32 accumulation. Threads split N (and M for large M). */
void mv_linear(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);
/* One product of an input shared with others: y[M, w->rows] = x · wᵀ (+ bias when not NULL). */
typedef struct mv_linear_out {
    float *y;
    const mv_matrix *w;
    const float *bias;
} mv_linear_out;
/* mv_linear for each of outs[0..n) on the same x (all of one K). Quantized prefill products quantize
 * x once and spread one balanced work list over the threads (q/k/v, gate/up kept as separate
 * matrices); any other mix runs mv_linear on each. */
void mv_linear_many(mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n);
/* The plain C reference of mv_linear (tests compare SIMD paths against it). */
void mv_linear_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);

/* BF16-activation GEMM (the fast path of precision bf16): x is rounded to BF16 (nearest even), the
 * weights are packed into the kernel's panels per product, straight from the matrix as stored (the
 * model keeps no copy), products accumulate in FP32. */
enum { MV_BF16_MIN_M = 16 }; /* fewer rows stay on the FP32 path: they are bound by weight reads */
/* The BF16 kernel in use: "amx", "avx512bf16", or "none" (no BF16 hardware, or MINIVL_ISA below
 * avx512; MINIVL_BF16=avx512bf16|none caps the choice). */
const char *mv_bf16_kernel(void);
/* y[M,N] = bf16(x)·bf16(W)ᵀ (+ bias): BF16 weights exact, F16/F32 rounded to BF16, Q8/Q4 weights as
 * code × scale rounded to BF16. Runs the portable C kernel when the kernel is "none". Returns 0 and
 * leaves y untouched when its scratch memory cannot be had or w has no columns (or a quantized K
 * that is not whole blocks), 1 otherwise. */
int mv_linear_bf16(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);
/* The same with the portable C kernel only (tests compare the SIMD/AMX kernels against it). */
int mv_linear_bf16_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias);
/* Non-causal attention (n_heads heads of head_dim side by side in each row, as mv_attention with
 * n_kv_heads = n_heads) with BF16 products: S = bf16(q)·bf16(k)ᵀ, softmax(scale·S) in FP32, out =
 * bf16(P)·bf16(v) — precision bf16's vision attention. Returns 0 when there is no BF16 kernel or no
 * scratch memory (out then holds nothing usable: run mv_attention), 1 otherwise. */
int mv_attention_bf16(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                      const float *v, int kv_stride, int n_heads, int head_dim, int nq, int nk, float scale);
/* The same for any attention mv_attention_kv takes (grouped-query heads, K/V of dtype F32 or F16 at
 * their own per-head bases, causal with q_offset; head_dim up to 512): precision bf16's prefill over
 * the KV cache. Same returns (also 0 for arguments it does not take, with nothing written). */
int mv_attention_bf16_kv(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const void *k,
                         const void *v, mv_dtype kv_t, int kv_stride, size_t kv_head_stride, int n_heads,
                         int n_kv_heads, int head_dim, int nq, int nk, float scale, int causal, int q_offset);

/* Row-wise norms over `dim`; out may alias x. bias may be NULL. */
void mv_layernorm(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps);
void mv_rmsnorm(float *out, const float *x, int rows, int dim, const float *gamma, float eps);

void mv_gelu_erf(float *x, size_t n);          /* exact GELU: 0.5x(1+erf(x/√2)) */
void mv_silu(float *x, size_t n);
void mv_swiglu(float *gate, const float *up, size_t n); /* gate = silu(gate) * up */
void mv_softmax(float *x, int n);              /* in place, max-subtracted */
void mv_add(float *y, const float *x, size_t n);

/* Rotary embedding, HF "rotate_half" convention: for each head, pairs (i, i + head_dim/2) rotate by
 * pos * inv_freq[i]. x is [n_heads, head_dim] for one position. inv_freq has head_dim/2 entries. */
void mv_rope(float *x, int n_heads, int head_dim, int pos, const float *inv_freq);
/* The same with explicit cos/sin tables of head_dim/2 entries (precomputed per position). */
void mv_rope_cs(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);

/* Scaled dot-product attention for one head over a block of queries.
 * q [nq, d] (row stride q_stride), k/v [nk, d] (row stride kv_stride), out [nq, d] (stride out_stride).
 * causal: query i (absolute position q_offset + i) sees keys 0..q_offset+i. scratch holds nk floats. */
void mv_attention_head(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset, float *scratch);

/* All heads of one attention layer, in parallel over (head, block of queries) on the pool.
 * Head h reads q columns [h·head_dim, (h+1)·head_dim) of each q row and writes the same columns of out;
 * its keys/values are columns [g·head_dim, (g+1)·head_dim) of k/v rows, g = h / (n_heads / n_kv_heads)
 * (grouped-query attention; n_heads must be a multiple of n_kv_heads, else nothing is written).
 * Strides are in floats between consecutive rows; causal/q_offset as in mv_attention_head. */
void mv_attention(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                  const float *v, int kv_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk, float scale,
                  int causal, int q_offset);

/* mv_attention with each KV head's rows at their own base and K/V of dtype kv_t (MV_F32, or MV_F16
 * for a half-precision KV cache: widened exactly, arithmetic stays f32): KV head g reads rows
 * kv_stride elements apart from k + g·kv_head_stride elements (likewise v). mv_attention is F32 with
 * kv_head_stride = head_dim (heads side by side in one row); a cache stored
 * [kv_head][position][head_dim] passes kv_stride = head_dim and kv_head_stride = capacity·head_dim,
 * and is then read in place. */
void mv_attention_kv(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const void *k,
                     const void *v, mv_dtype kv_t, int kv_stride, size_t kv_head_stride, int n_heads, int n_kv_heads,
                     int head_dim, int nq, int nk, float scale, int causal, int q_offset);

#endif
