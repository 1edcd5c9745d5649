/* precision.c — precision bf16 at load: every matrix the compute-bound passes multiply (vision
 * encoder, projector, decoder layers) is marked for BF16 activations; mv_linear then packs its panels
 * per product of many rows, from the checkpoint's mmap (or the quantized copy: dequantized into the
 * panels), so the model holds no second copy of them.
 * Decode (few rows) keeps reading the weights as stored. */
#include <stdlib.h>

#include "base/error.h"
#include "vlm.h"

mv_status mv_model_mark_bf16(mv_model *m, mv_error *err) {
    int nv = mv_internvit_matrices(m->vit, NULL, 0), np = mv_projector_matrices(m->proj, NULL, 0);
    int nl = mv_llm_matrices(m->llm, NULL, 0);
    mv_matrix **mats = malloc((size_t)(nv + np + nl + 1) * sizeof *mats);
    if (!mats) return mv_set_error(err, MV_ERR_NOMEM, "%s: out of memory listing matrices for precision bf16", m->dir);
    mv_internvit_matrices(m->vit, mats, nv);
    mv_projector_matrices(m->proj, mats + nv, np);
    mv_llm_matrices(m->llm, mats + nv + np, nl);
    /* quantized matrices are marked too, but mv_linear moves them off their integer GEMM on AMX only
     * (kernels/dispatch.c): with AVX512-BF16 alone, VNNI's int8 products are the faster */
    for (int i = 0; i < nv + np + nl; i++) mats[i]->bf16_act = 1;
    free(mats);
    mv_internvit_set_bf16_attention(m->vit, 1);
    mv_llm_set_bf16_attention(m->llm, 1);
    return MV_OK;
}
