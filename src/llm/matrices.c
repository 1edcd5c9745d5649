/* matrices.c — the list of an LLM's projection matrices, so the model can mark them for BF16
 * activations in prefill (precision bf16) without knowing the family's layout, and that precision's
 * switch for the prefill attention. */
#include "llm/llm_impl.h"

int mv_llm_matrices(mv_llm *llm, mv_matrix **out, int cap) {
    int n = 0;
    for (int l = 0; l < llm->n_layers; l++) {
        mv_llm_layer *L = &llm->layers[l];
        mv_matrix *mats[] = { &L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down };
        for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) {
            if (!mats[i]->data) continue; /* the unused half of separate/fused */
            if (n < cap) out[n] = mats[i];
            n++;
        }
    }
    return n;
}

void mv_llm_set_bf16_attention(mv_llm *llm, int on) { llm->bf16_attention = on; }
