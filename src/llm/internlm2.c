/* internlm2.c — InternLM2ForCausalLM (InternVL2-2B / -8B / -26B language models) for the shared decoder.
 *
 * One fused wqkv per layer, grouped per KV head ([q heads of the group | k | v] for each group);
 * biases on wqkv/wo only when the config's "bias" is set; SwiGLU as w1 (gate), w3 (up), w2 (down);
 * RoPE with optional linear / dynamic-NTK scaling. The output head is "output", not "lm_head". */
#include "llm/llm_impl.h"

#define IL_PREFIX "language_model.model."

static mv_status load_layer(mv_llm *m, const mv_weights *w, int bias, int i, mv_llm_layer *L, mv_error *err) {
    const int H = m->hidden, qd = m->n_heads * m->head_dim;
    const int rows = (m->n_heads + 2 * m->n_kv_heads) * m->head_dim;
    mv_status rc;
#define TRY(call) do { if ((rc = (call)) != MV_OK) return rc; } while (0)
    TRY(mv_llm_get_vector(w, &L->attn_norm, H, err, IL_PREFIX "layers.%d.attention_norm.weight", i));
    TRY(mv_llm_get_vector(w, &L->mlp_norm, H, err, IL_PREFIX "layers.%d.ffn_norm.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wqkv, rows, H, err, IL_PREFIX "layers.%d.attention.wqkv.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wo, H, qd, err, IL_PREFIX "layers.%d.attention.wo.weight", i));
    if (bias) {
        TRY(mv_llm_get_vector(w, &L->bqkv, rows, err, IL_PREFIX "layers.%d.attention.wqkv.bias", i));
        TRY(mv_llm_get_vector(w, &L->bo, H, err, IL_PREFIX "layers.%d.attention.wo.bias", i));
    }
    TRY(mv_llm_get_matrix(w, &L->w_gate, m->inter, H, err, IL_PREFIX "layers.%d.feed_forward.w1.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_up, m->inter, H, err, IL_PREFIX "layers.%d.feed_forward.w3.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_down, H, m->inter, err, IL_PREFIX "layers.%d.feed_forward.w2.weight", i));
#undef TRY
    return MV_OK;
}

mv_status mv_internlm2_load(mv_llm *m, const mv_weights *w, const mv_config *cfg, mv_error *err) {
    m->qkv_layout = MV_QKV_GROUPED;
    mv_status rc = mv_rope_setup_llama(m, &cfg->llm, err);
    if (rc != MV_OK) return rc;
    if ((rc = mv_llm_get_matrix(w, &m->embed, m->vocab, m->hidden, err, IL_PREFIX "tok_embeddings.weight")) != MV_OK)
        return rc;
    for (int i = 0; i < m->n_layers; i++)
        if ((rc = load_layer(m, w, cfg->llm.attention_bias, i, &m->layers[i], err)) != MV_OK) return rc;
    if ((rc = mv_llm_get_vector(w, &m->final_norm, m->hidden, err, IL_PREFIX "norm.weight")) != MV_OK) return rc;
    if (cfg->llm.tie_word_embeddings) {
        m->lm_head = m->embed;
        return MV_OK;
    }
    return mv_llm_get_matrix(w, &m->lm_head, m->vocab, m->hidden, err, "language_model.output.weight");
}
