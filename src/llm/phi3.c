/* phi3.c — Phi3ForCausalLM (InternVL2-4B's Phi-3-mini-128k) for the shared decoder.
 *
 * Fused qkv_proj ([all q | all k | all v]) and gate_up_proj ([gate | up]), no biases, separate
 * lm_head. RoPE is plain, or LongRoPE ("su"/"longrope"/"yarn") whose factor set is chosen per
 * forward call (rope.c). The model refuses sequences longer than sliding_window, which upstream's
 * eager attention would start masking. */
#include "llm/llm_impl.h"

#define PHI_PREFIX "language_model.model."

static mv_status load_layer(mv_llm *m, const mv_weights *w, int i, mv_llm_layer *L, mv_error *err) {
    const int H = m->hidden, qd = m->n_heads * m->head_dim;
    const int rows = (m->n_heads + 2 * m->n_kv_heads) * m->head_dim;
    mv_status rc;
#define TRY(call) do { if ((rc = (call)) != MV_OK) return rc; } while (0)
    TRY(mv_llm_get_vector(w, &L->attn_norm, H, err, PHI_PREFIX "layers.%d.input_layernorm.weight", i));
    TRY(mv_llm_get_vector(w, &L->mlp_norm, H, err, PHI_PREFIX "layers.%d.post_attention_layernorm.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wqkv, rows, H, err, PHI_PREFIX "layers.%d.self_attn.qkv_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->wo, H, qd, err, PHI_PREFIX "layers.%d.self_attn.o_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_gate_up, 2 * m->inter, H, err, PHI_PREFIX "layers.%d.mlp.gate_up_proj.weight", i));
    TRY(mv_llm_get_matrix(w, &L->w_down, H, m->inter, err, PHI_PREFIX "layers.%d.mlp.down_proj.weight", i));
#undef TRY
    return MV_OK;
}

mv_status mv_phi3_load(mv_llm *m, const mv_weights *w, const mv_config *cfg, mv_error *err) {
    m->qkv_layout = MV_QKV_CONCAT;
    m->max_seq = cfg->llm.sliding_window;
    mv_status rc = mv_rope_setup_longrope(m, &cfg->llm, err);
    if (rc != MV_OK) return rc;
    if ((rc = mv_llm_get_matrix(w, &m->embed, m->vocab, m->hidden, err, PHI_PREFIX "embed_tokens.weight")) != MV_OK)
        return rc;
    for (int i = 0; i < m->n_layers; i++)
        if ((rc = load_layer(m, w, i, &m->layers[i], err)) != MV_OK) return rc;
    if ((rc = mv_llm_get_vector(w, &m->final_norm, m->hidden, err, PHI_PREFIX "norm.weight")) != MV_OK) return rc;
    if (cfg->llm.tie_word_embeddings) {
        m->lm_head = m->embed;
        return MV_OK;
    }
    return mv_llm_get_matrix(w, &m->lm_head, m->vocab, m->hidden, err, "language_model.lm_head.weight");
}
