/* llm_quant.c — `--quantize q8|q4` at load: the language model's matrices quantized in memory into
 * one buffer owned by the model, so decode reads 8.5 or 4.5 bits per weight instead of 16. */
#include <stdlib.h>

#include "io/weights_util.h"
#include "kernels/quant.h"
#include "llm/llm_impl.h"

mv_status mv_llm_quantize(mv_llm *m, mv_qtype t, mv_pool *pool, const mv_weights *src, mv_error *err) {
    if (!m || (t != MV_Q8 && t != MV_Q4)) return mv_set_error(err, MV_ERR_ARG, "mv_llm_quantize: need a model and q8 or q4");
    if (m->qbuf) return mv_set_error(err, MV_ERR_ARG, "mv_llm_quantize: the model is already quantized");
    const int n_layer_mats = mv_llm_matrices(m, NULL, 0), n = n_layer_mats + 2;
    mv_matrix **mats = malloc((size_t)n * sizeof *mats);
    if (!mats) return mv_set_error(err, MV_ERR_NOMEM, "out of memory quantizing the language model");
    /* a tied lm_head shares the embeddings' storage, hence their quantized copy */
    mats[0] = &m->embed;
    mats[1] = &m->lm_head;
    mv_llm_matrices(m, mats + 2, n_layer_mats);
    mv_status rc = mv_weights_quantize(src, mats, n, t, pool, "the language model", &m->qbuf, err);
    free(mats);
    return rc;
}

int mv_llm_is_quantized(const mv_llm *m) {
    return m && m->n_layers > 0 && m->layers[0].w_down.qtype != MV_Q_NONE;
}
