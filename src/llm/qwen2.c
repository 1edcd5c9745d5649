/* qwen2.c — Qwen2ForCausalLM (InternVL2-1B's Qwen2-0.5B) weight names for the shared decoder.
 *
 * Qwen2 is the plain layout: separate q/k/v projections with biases, o_proj without bias, separate
 * gate/up/down, lm_head optionally tied to the token embeddings. */
#include "llm/llm_impl.h"

#define QW_PREFIX "language_model.model."

static mv_status load_layer(mv_llm *m, const mv_weights *w, int i, mv_llm_layer *L, mv_error *err) {
    const int H = m->hidden, qd = m->n_heads * m->head_dim, kvd = m->n_kv_heads * m->head_dim;
    mv_status rc;
#define TRY(call) do { if ((rc = (call)) != MV_OK) return rc; } while (0)
    TRY(mv_llm_get_vector(w, &L->attn_norm, H, err, QW_PREFIX "layers.%d.input_layernorm.weight", i));
    TRY(mv_llm_get_vector(w, &L->mlp_norm, H, err, QW_PREFIX "layers.%d.post_attention_layernorm.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wq, qd, H, err, QW_PREFIX "layers.%d.self_attn.q_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wk, kvd, H, err, QW_PREFIX "layers.%d.self_attn.k_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wv, kvd, H, err, QW_PREFIX "layers.%d.self_attn.v_proj.weight", i));
    TRY(mv_llm_get_vector(w, &L->bq, qd, err, QW_PREFIX "layers.%d.self_attn.q_proj.bias", i));
    TRY(mv_llm_get_vector(w, &L->bk, kvd, err, QW_PREFIX "layers.%d.self_attn.k_proj.bias", i));
    TRY(mv_llm_get_vector(w, &L->bv, kvd, err, QW_PREFIX "layers.%d.self_attn.v_proj.bias", i));
    TRY(mv_llm_get_matrix(w, &L->wo, H, qd, err, QW_PREFIX "layers.%d.self_attn.o_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_gate, m->inter, H, err, QW_PREFIX "layers.%d.mlp.gate_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_up, m->inter, H, err, QW_PREFIX "layers.%d.mlp.up_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_down, H, m->inter, err, QW_PREFIX "layers.%d.mlp.down_proj.weight", i));
#undef TRY
    return MV_OK;
}

mv_status mv_qwen2_load(mv_llm *m, const mv_weights *w, const mv_config *cfg, mv_error *err) {
    m->qkv_layout = MV_QKV_SEPARATE;
    mv_status rc = mv_llm_get_matrix(w, &m->embed, m->vocab, m->hidden, err, QW_PREFIX "embed_tokens.weight");
    if (rc != MV_OK) return rc;
    for (int i = 0; i < m->n_layers; i++)
        if ((rc = load_layer(m, w, i, &m->layers[i], err)) != MV_OK) return rc;
    if ((rc = mv_llm_get_vector(w, &m->final_norm, m->hidden, err, QW_PREFIX "norm.weight")) != MV_OK) return rc;
    if (cfg->llm.tie_word_embeddings) {
        m->lm_head = m->embed;
        return MV_OK;
    }
    return mv_llm_get_matrix(w, &m->lm_head, m->vocab, m->hidden, err, "language_model.lm_head.weight");
}
