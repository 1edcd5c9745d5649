/* llm_impl.h — internals shared by the decoder, the KV cache and the per-family weight loaders.
 *
 * A family loader (qwen2.c, internlm2.c, phi3.c) receives an mv_llm whose dimensions, norm eps and default RoPE
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

/* The rotary table of one forward call: angle = (float32(pos) / pos_div) * inv_freq[i] in float32,
 * and cos/sin are multiplied by cos_sin_scale. */
typedef struct mv_rope_call {
    float *inv_freq;      /* [head_dim/2], filled by the hook */
    float cos_sin_scale;  /* 1 unless LongRoPE */
    float pos_div;        /* 1 unless linear scaling */
} mv_rope_call;

/* Optional RoPE hook for scaled variants (LongRoPE, dynamic NTK, linear): given the end position of
 * the current forward call (cached + new positions) — upstream decides per call from
 * max(position_ids) + 1, and never re-rotates cached keys — fill rc (which arrives set to
 * llm->inv_freq, scale 1, divisor 1). NULL means plain RoPE. */
typedef void (*mv_rope_fn)(const mv_llm *llm, int seq_end, mv_rope_call *rc);

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
    /* Parameters of the scaled-RoPE hooks (rope.c); unused fields stay 0 / NULL. */
    float *rope_inv_short;   /* LongRoPE: inv_freq with short_factor applied [head_dim/2] */
    float *rope_inv_long;    /* LongRoPE: inv_freq with long_factor applied */
    int rope_switch_len;     /* LongRoPE: a call ending past this (original_max_position_embeddings) uses long */
    float rope_cs_scale;     /* LongRoPE: cos/sin factor */
    double rope_factor;      /* linear / dynamic NTK factor */
    int rope_max_pos;        /* dynamic NTK: max_position_embeddings */
    int max_seq;             /* > 0: longest sequence the model may run (Phi-3 sliding_window, not implemented) */
    int prefill_chunk;       /* positions per forward pass (MV_LLM_CHUNK; tests lower it to cross passes) */
    void *qbuf;              /* codes and scales of matrices quantized at load (mv_llm_quantize), or NULL */
    int bf16_attention;      /* precision bf16: prefill attention products in BF16 */
};

struct mv_kv_cache {
    int n_layers, n_kv_heads, head_dim, capacity, len;
    mv_dtype dtype;          /* MV_F32 or MV_F16 */
    void *k, *v;             /* [layers][kv_heads][capacity][head_dim] each, of dtype */
};

/* Start of the cached rows of one (layer, kv head). */
static inline size_t mv_kv_offset(const mv_kv_cache *kv, int layer, int head) {
    const size_t rows = ((size_t)layer * (size_t)kv->n_kv_heads + (size_t)head) * (size_t)kv->capacity;
    return rows * (size_t)kv->head_dim * mv_dtype_size(kv->dtype);
}
static inline void *mv_kv_k(const mv_kv_cache *kv, int layer, int head) {
    return (char *)kv->k + mv_kv_offset(kv, layer, head);
}
static inline void *mv_kv_v(const mv_kv_cache *kv, int layer, int head) {
    return (char *)kv->v + mv_kv_offset(kv, layer, head);
}
/* One (layer, kv head)'s head_dim keys and values to position pos, converted to the cache's dtype
 * (F16: nearest, saturating at ±65504; NaN kept). */
void mv_kv_store(mv_kv_cache *kv, int layer, int head, int pos, const float *k, const float *v);

/* Loader helpers for family files: the tensor name is printf-formatted. */
mv_status mv_llm_get_matrix(const mv_weights *w, mv_matrix *m, int rows, int cols, mv_error *err,
                            const char *fmt, ...) MV_PRINTF(6, 7);
mv_status mv_llm_get_vector(const mv_weights *w, float **v, int n, mv_error *err, const char *fmt, ...)
    MV_PRINTF(5, 6);

/* inv_freq[i] = 1 / (factor[i] * theta^(2i/d)) with every step in float32 as upstream; factor may be
 * NULL (all 1). */
void mv_rope_inv_freq(float *inv_freq, int head_dim, double theta, const float *factor);
/* Scaled RoPE from llm_config.rope_scaling: "linear" / "dynamic" (Llama-style, InternLM2), and
 * LongRoPE "su" / "longrope" / "yarn" (Phi-3). Sets llm->rope and its parameters; no rope_scaling
 * leaves plain RoPE. MV_ERR_CONFIG for inconsistent values, MV_ERR_UNSUPPORTED for other types. */
mv_status mv_rope_setup_llama(mv_llm *llm, const mv_llm_config *c, mv_error *err);
mv_status mv_rope_setup_longrope(mv_llm *llm, const mv_llm_config *c, mv_error *err);

/* Family loaders: fill llm's weights from w (dimensions already set). */
mv_status mv_qwen2_load(mv_llm *llm, const mv_weights *w, const mv_config *cfg, mv_error *err);
mv_status mv_internlm2_load(mv_llm *llm, const mv_weights *w, const mv_config *cfg, mv_error *err);
mv_status mv_phi3_load(mv_llm *llm, const mv_weights *w, const mv_config *cfg, mv_error *err);

#endif
