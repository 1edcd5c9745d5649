/* llm_impl.h — internals shared by the decoder, the KV cache and the per-family weight loaders.
 *
 * A family loader (qwen2.c, ...) receives an mv_llm whose dimensions, norm eps and default RoPE
 * frequencies are already set from config.json, and fills in the weight views plus any quirk fields
 * (fused projections, biases, RoPE hook). Everything else — the forward pass itself — is decoder.c. */
#ifndef MV_LLM_IMPL_H
#define MV_LLM_IMPL_H

#include "base/error.h"
#include "kernels/kernels.h"
#include "llm/llm.h"

/* How the query/key/value projections are stored. */
typedef enum mv_qkv_layout {
    MV_QKV_SEPARATE = 0, /* three matrices wq, wk, wv (Qwen2, Llama) */
    MV_QKV_CONCAT,       /* one wqkv: all q rows, then all k rows, then all v rows (Phi-3 qkv_proj) */
    MV_QKV_GROUPED       /* one wqkv: per kv head, its q heads' rows, then its k rows, then v (InternLM2) */
} mv_qkv_layout;

/* One decoder block. Matrices view the checkpoint in place; float vectors are malloc'd copies
 * (NULL = absent bias). A fused matrix is used when its data pointer is set. */
typedef struct mv_llm_layer {
    float *attn_norm, *mlp_norm;     /* RMSNorm weights [hidden] */
    mv_matrix wq, wk, wv;            /* separate projections [heads*head_dim, hidden] */
    mv_matrix wqkv;                  /* fused projection [(heads + 2*kv_heads)*head_dim, hidden] */
    float *bq, *bk, *bv;             /* projection biases (Qwen2 has them), or NULL */
    float *bqkv;                     /* fused bias, or NULL */
    mv_matrix wo;                    /* [hidden, heads*head_dim] */
    float *bo;
    mv_matrix w_gate, w_up;          /* separate [inter, hidden] */
    mv_matrix w_gate_up;             /* fused [2*inter, hidden]: gate rows, then up rows */
    mv_matrix w_down;                /* [hidden, inter] */
} mv_llm_layer;

/* Optional RoPE hook for scaled variants (LongRoPE, dynamic NTK): given the end position of the
 * current forward call (cached + new positions), fill inv_freq [head_dim/2] and the factor applied
 * to cos and sin. NULL means llm->inv_freq and factor 1. */
typedef void (*mv_rope_fn)(const mv_llm *llm, int seq_end, float *inv_freq, float *cos_sin_scale);

struct mv_llm {
    const char *family;      /* e.g. "Qwen2ForCausalLM", for messages */
    int hidden, inter, n_layers, n_heads, n_kv_heads, head_dim, vocab;
    float norm_eps;
    mv_qkv_layout qkv_layout;
    mv_matrix embed;         /* [vocab, hidden] */
    mv_matrix lm_head;       /* [vocab, hidden]; may view the same data as embed (tied) */
    float *final_norm;       /* [hidden] */
    mv_llm_layer *layers;    /* [n_layers] */
    float *inv_freq;         /* [head_dim/2], theta^(-2i/d) in float32 like HF */
    double rope_theta;
    mv_rope_fn rope;         /* NULL for plain RoPE */
};

struct mv_kv_cache {
    int n_layers, n_kv_heads, head_dim, capacity, len;
    float *k, *v;            /* [layers][kv_heads][capacity][head_dim] each */
};

/* Start of the cached rows of one (layer, kv head). */
static inline float *mv_kv_k(const mv_kv_cache *kv, int layer, int head) {
    return kv->k + (((size_t)layer * (size_t)kv->n_kv_heads + (size_t)head) * (size_t)kv->capacity) * (size_t)kv->head_dim;
}
static inline float *mv_kv_v(const mv_kv_cache *kv, int layer, int head) {
    return kv->v + (((size_t)layer * (size_t)kv->n_kv_heads + (size_t)head) * (size_t)kv->capacity) * (size_t)kv->head_dim;
}

/* Loader helpers for family files: the tensor name is printf-formatted. */
mv_status mv_llm_get_matrix(const mv_weights *w, mv_matrix *m, int rows, int cols, mv_error *err,
                            const char *fmt, ...) MV_PRINTF(6, 7);
mv_status mv_llm_get_vector(const mv_weights *w, float **v, int n, mv_error *err, const char *fmt, ...)
    MV_PRINTF(5, 6);

/* Family loaders: fill llm's weights from w (dimensions already set). */
mv_status mv_qwen2_load(mv_llm *llm, const mv_weights *w, const mv_config *cfg, mv_error *err);

#endif
