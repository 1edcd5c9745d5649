/* dispatch.c — picks the fastest kernels the CPU supports, in one place. The choice is made once
 * (pthread_once) from CPU detection, overridable with MINIVL_ISA=scalar|avx2|avx512 (an ISA the CPU
 * lacks, or an unknown name, falls back to detection), and never changes afterwards. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant_isa.h"

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static mv_isa isa_choice = MV_ISA_SCALAR; /* written only inside pthread_once */

static int cpu_has(mv_isa isa) {
    __builtin_cpu_init();
    switch (isa) {
    case MV_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    case MV_ISA_AVX2:
        /* F16C (needed for F16 weights) ships with every AVX2+FMA CPU; clang cannot query it here. */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
        return 1;
    }
}

static void choose_isa(void) {
    const char *env = getenv("MINIVL_ISA");
    if (env) {
        mv_isa want = !strcmp(env, "avx512") ? MV_ISA_AVX512
                      : !strcmp(env, "avx2") ? MV_ISA_AVX2
                      : !strcmp(env, "scalar") ? MV_ISA_SCALAR
                                               : (mv_isa)-1;
        if ((int)want >= 0 && cpu_has(want)) {
            isa_choice = want;
            return;
        }
    }
    isa_choice = cpu_has(MV_ISA_AVX512) ? MV_ISA_AVX512 : cpu_has(MV_ISA_AVX2) ? MV_ISA_AVX2 : MV_ISA_SCALAR;
}

mv_isa mv_kernels_isa_id(void) {
    pthread_once(&isa_once, choose_isa);
    return isa_choice;
}

const char *mv_kernels_isa(void) {
    static const char *const names[] = { "scalar", "avx2", "avx512" };
    return names[mv_kernels_isa_id()];
}

static const mv_gemm_isa *gemm_isa(void) {
    switch (mv_kernels_isa_id()) {
    case MV_ISA_AVX512: return &mv_gemm_avx512;
    case MV_ISA_AVX2: return &mv_gemm_avx2;
    default: return NULL;
    }
}

/* Whether a product of M rows by w goes to the BF16 GEMM: a matrix marked by precision bf16, when the
 * CPU has a BF16 kernel; a marked quantized one only on AMX, where TDPBF16PS outruns VNNI's int8
 * products several times over once each panel is dequantized for all the rows (elsewhere the integer
 * GEMM is the faster). Few rows stay where they are: bound by weight reads. */
static int bf16_gemm_takes(const mv_matrix *w, int M) {
    if (!w->bf16_act || M < MV_BF16_MIN_M) return 0;
    const char *kernel = mv_bf16_kernel();
    return w->qtype != MV_Q_NONE ? strcmp(kernel, "amx") == 0 : strcmp(kernel, "none") != 0;
}

void mv_linear(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    /* without scratch memory the BF16 GEMM declines, and the paths below answer */
    if (bf16_gemm_takes(w, M) && mv_linear_bf16(pool, y, x, M, w, bias)) return;
    if (w->qtype != MV_Q_NONE && mv_linear_q_handles(M)) { /* integer dot products (quant.c) */
        mv_linear_q(pool, y, x, M, w, bias);
        return;
    }
    const mv_gemm_isa *isa = gemm_isa();
    if (isa) mv_linear_tiled(isa, pool, y, x, M, w, bias);
    else mv_linear_ref(pool, y, x, M, w, bias);
}

void mv_linear_many(mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n) {
    if (n > 1 && !bf16_gemm_takes(outs[0].w, M) && mv_linear_q_many(pool, x, M, outs, n)) return;
    for (int i = 0; i < n; i++) mv_linear(pool, outs[i].y, x, M, outs[i].w, outs[i].bias);
}

void mv_attention_head(float *out, int out_stride, const float *q, int q_stride, const float *k, const float *v,
                       int kv_stride, int nq, int nk, int d, float scale, int causal, int q_offset, float *scratch) {
    switch (mv_kernels_isa_id()) {
    case MV_ISA_AVX512:
        mv_attention_tiled(&mv_gemm_avx512, mv_softmax_avx512, out, out_stride, q, q_stride, k, v, kv_stride, nq, nk,
                           d, scale, causal, q_offset, scratch);
        break;
    case MV_ISA_AVX2:
        mv_attention_tiled(&mv_gemm_avx2, mv_softmax_avx2, out, out_stride, q, q_stride, k, v, kv_stride, nq, nk, d,
                           scale, causal, q_offset, scratch);
        break;
    default:
        mv_attention_head_ref(out, out_stride, q, q_stride, k, v, kv_stride, nq, nk, d, scale, causal, q_offset,
                              scratch);
    }
}

void mv_attention_kv(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const void *k,
                     const void *v, mv_dtype kv_t, int kv_stride, size_t kv_head_stride, int n_heads, int n_kv_heads,
                     int head_dim, int nq, int nk, float scale, int causal, int q_offset) {
    const mv_gemm_isa *isa = gemm_isa();
    void (*softmax)(float *, int) = mv_kernels_isa_id() == MV_ISA_AVX512 ? mv_softmax_avx512
                                    : mv_kernels_isa_id() == MV_ISA_AVX2 ? mv_softmax_avx2
                                                                         : mv_softmax_ref;
    mv_attention_mh(isa, softmax, pool, out, out_stride, q, q_stride, k, v, kv_t, kv_stride, kv_head_stride, n_heads,
                    n_kv_heads, head_dim, nq, nk, scale, causal, q_offset);
}

void mv_attention(mv_pool *pool, float *out, int out_stride, const float *q, int q_stride, const float *k,
                  const float *v, int kv_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk, float scale,
                  int causal, int q_offset) {
    mv_attention_kv(pool, out, out_stride, q, q_stride, k, v, MV_F32, kv_stride, head_dim > 0 ? (size_t)head_dim : 0,
                    n_heads, n_kv_heads, head_dim, nq, nk, scale, causal, q_offset);
}

/* Elementwise kernels: same selection, one table row per ISA. */
#define MV_DISPATCH(call_ref, call_avx2, call_avx512)                                                   \
    switch (mv_kernels_isa_id()) {                                                                      \
    case MV_ISA_AVX512: call_avx512; break;                                                             \
    case MV_ISA_AVX2: call_avx2; break;                                                                 \
    default: call_ref; break;                                                                           \
    }

void mv_softmax(float *x, int n) { MV_DISPATCH(mv_softmax_ref(x, n), mv_softmax_avx2(x, n), mv_softmax_avx512(x, n)) }
void mv_silu(float *x, size_t n) { MV_DISPATCH(mv_silu_ref(x, n), mv_silu_avx2(x, n), mv_silu_avx512(x, n)) }
void mv_swiglu(float *gate, const float *up, size_t n) {
    MV_DISPATCH(mv_swiglu_ref(gate, up, n), mv_swiglu_avx2(gate, up, n), mv_swiglu_avx512(gate, up, n))
}
void mv_gelu_erf(float *x, size_t n) {
    MV_DISPATCH(mv_gelu_erf_ref(x, n), mv_gelu_erf_avx2(x, n), mv_gelu_erf_avx512(x, n))
}
void mv_add(float *y, const float *x, size_t n) {
    MV_DISPATCH(mv_add_ref(y, x, n), mv_add_avx2(y, x, n), mv_add_avx512(y, x, n))
}
void mv_layernorm(float *out, const float *x, int rows, int dim, const float *gamma, const float *beta, float eps) {
    MV_DISPATCH(mv_layernorm_ref(out, x, rows, dim, gamma, beta, eps),
                mv_layernorm_avx2(out, x, rows, dim, gamma, beta, eps),
                mv_layernorm_avx512(out, x, rows, dim, gamma, beta, eps))
}
void mv_rmsnorm(float *out, const float *x, int rows, int dim, const float *gamma, float eps) {
    MV_DISPATCH(mv_rmsnorm_ref(out, x, rows, dim, gamma, eps), mv_rmsnorm_avx2(out, x, rows, dim, gamma, eps),
                mv_rmsnorm_avx512(out, x, rows, dim, gamma, eps))
}
void mv_rope_cs(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t) {
    MV_DISPATCH(mv_rope_cs_ref(x, n_heads, head_dim, cos_t, sin_t), mv_rope_cs_avx2(x, n_heads, head_dim, cos_t, sin_t),
                mv_rope_cs_avx512(x, n_heads, head_dim, cos_t, sin_t))
}
