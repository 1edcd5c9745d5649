/* kernels_isa.h — private interface between the dispatcher, the shared tiling driver and the
 * per-ISA kernel files (kernels_ref.c, *_avx2.c, *_avx512.c). Not part of the public kernel API. */
#ifndef MV_KERNELS_ISA_H
#define MV_KERNELS_ISA_H

#include <stdlib.h>

#include "kernels/kernels.h"

/* 64-byte aligned memory of at least `bytes` (aligned_alloc wants a multiple of the alignment). */
static inline void *mv_alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* Micro-kernels one ISA provides to the shared blocked-GEMM driver (linear_tiled.c).
 * A "panel" is nr columns of the right-hand matrix stored k-major: element (k, j) at panel[k*ldp + j]. */
typedef struct mv_gemm_isa {
    int nr; /* columns per panel */
    int mr; /* rows per register tile */
    /* Convert W rows [n0, n0+nrows) × cols [k0, k0+kc) to f32 panels of nr columns (zero padded to
     * a whole panel), panel p at dst + p*nr*kc. */
    void (*pack)(const mv_matrix *w, int n0, int nrows, int k0, int kc, float *dst);
    /* y[r, j] (+)= Σ_k x[r*ldx + k] · panel[k*ldp + j] for r < rows ≤ mr, j < ncols ≤ nr.
     * accumulate=0: start from bias[j] (or 0 when bias is NULL); 1: add to y. Reads only ncols
     * panel columns, so the panel may be an unpadded matrix (attention's V). */
    void (*tile)(const float *x, int ldx, int rows, const float *panel, int ldp, int kc, float *y, int ldy,
                 int ncols, const float *bias, int accumulate);
    /* Direct small-M product, weights widened in registers: y[m*ldy + n] = Σ_k x[m*K + k]·w[n*ldw + k]
     * (+ bias[n]) for m < M, n in [n0, n1). ldw (in elements) ≥ K lets it read one head out of a K/V cache. */
    void (*gemv)(const float *x, int M, int K, const void *w, mv_dtype t, size_t ldw, int n0, int n1,
                 const float *bias, float *y, int ldy);
    /* Attention's P·V, V read in place as rows of dtype t (F32, F16 or BF16, widened in registers):
     * out[r*ldo + j] = Σ_k p[r*ldp + k] · v[k*ldv + j] for r < rows, j < d. */
    void (*pv)(const float *p, int ldp, int rows, const void *v, mv_dtype t, size_t ldv, int keys, int d, float *out,
               int ldo);
    /* One chunk of keys of a row's online softmax (flash attention): with *m the running maximum of
     * scale·x over the row's earlier chunks (−INFINITY before the first), raises *m to the maximum
     * over x[0, n) too, sets x[i] = exp(scale·x[i] − *m) and returns their sum. */
    float (*softmax_chunk)(float *x, int n, float scale, float *m);
} mv_gemm_isa;

void mv_linear_tiled(const mv_gemm_isa *isa, mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w,
                     const float *bias);
/* Attention for one head with the same micro-kernels: S = QKᵀ by blocks, row softmax, O = PV.
 * softmax is the in-place row softmax of the same ISA. Falls back to the reference on allocation failure. */
void mv_attention_tiled(const mv_gemm_isa *isa, void (*softmax)(float *x, int n), float *out, int out_stride,
                        const float *q, int q_stride, const float *k, const float *v, int kv_stride, int nq, int nk,
                        int d, float scale, int causal, int q_offset, float *scratch);

/* All heads of mv_attention_kv (same contract) with the micro-kernels of `isa`, or the reference head
 * kernel when isa is NULL; parallel over (head, query block). Degrades to the direct kernel, then to
 * mv_attention_stream_ref, when scratch memory cannot be had. */
void mv_attention_mh(const mv_gemm_isa *isa, void (*softmax)(float *x, int n), mv_pool *pool, float *out,
                     int out_stride, const float *q, int q_stride, const void *k, const void *v, mv_dtype kv_t,
                     int kv_stride, size_t kv_head_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk,
                     float scale, int causal, int q_offset);
/* One head without any scratch memory (online softmax, plain C; K/V of dtype t, F32 or F16): the
 * out-of-memory fallback. */
void mv_attention_stream_ref(float *out, int out_stride, const float *q, int q_stride, const void *k, const void *v,
                             mv_dtype t, int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset);

extern const mv_gemm_isa mv_gemm_avx2, mv_gemm_avx512;

/* Reference elementwise kernels and their SIMD counterparts (same contracts as kernels.h). */
void mv_attention_head_ref(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                           int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset,
                           float *scratch);
void mv_softmax_ref(float *x, int n);
void mv_layernorm_ref(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps);
void mv_rmsnorm_ref(float *out, const float *x, int rows, int dim, const float *gamma, float eps);
void mv_gelu_erf_ref(float *x, size_t n);
void mv_add_ref(float *y, const float *x, size_t n);
void mv_rope_cs_ref(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);
void mv_silu_ref(float *x, size_t n);
void mv_swiglu_ref(float *gate, const float *up, size_t n);
void mv_softmax_avx512(float *x, int n);
/* The numerators of softmax(scale · x[0, n)) (n >= 1, scale > 0) rounded to BF16 into p[0, n), zeros
 * in p[n, width) (width a multiple of 32); returns the sum of the rounded numerators. */
float mv_softmax_bf16_avx512(const float *x, int n, int width, float scale, uint16_t *p);
void mv_silu_avx512(float *x, size_t n);
void mv_swiglu_avx512(float *gate, const float *up, size_t n);
void mv_layernorm_avx512(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps);
void mv_rmsnorm_avx512(float *out, const float *x, int rows, int dim, const float *gamma, float eps);
void mv_gelu_erf_avx512(float *x, size_t n);
void mv_erf_avx512(float *x, size_t n); /* erf in place (GELU's erf, exposed for the accuracy test) */
void mv_add_avx512(float *y, const float *x, size_t n);
void mv_rope_cs_avx512(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);
void mv_softmax_avx2(float *x, int n);
void mv_silu_avx2(float *x, size_t n);
void mv_swiglu_avx2(float *gate, const float *up, size_t n);
void mv_layernorm_avx2(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps);
void mv_rmsnorm_avx2(float *out, const float *x, int rows, int dim, const float *gamma, float eps);
void mv_gelu_erf_avx2(float *x, size_t n);
void mv_erf_avx2(float *x, size_t n); /* erf in place (GELU's erf, exposed for the accuracy test) */
void mv_add_avx2(float *y, const float *x, size_t n);
void mv_rope_cs_avx2(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);

/* Which kernels the dispatcher settled on (MINIVL_ISA override or CPU detection). */
typedef enum mv_isa { MV_ISA_SCALAR, MV_ISA_AVX2, MV_ISA_AVX512 } mv_isa;
mv_isa mv_kernels_isa_id(void);

#endif
