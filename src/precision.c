/* precision.c — precision bf16 at load: every matrix the compute-bound passes multiply (vision
 * encoder, projector, decoder layers) gets a BF16 pack, built in parallel; mv_linear then uses it for
 * products of many rows. The checkpoint mmap stays in place for everything else (decode, embeddings). */
#include <stdlib.h>

#include "base/error.h"
#include "kernels/quant.h"
#include "vlm.h"

typedef struct pack_job {
    mv_matrix **mats;
    mv_bf16_pack **packs;
} pack_job;

static void pack_one(void *ctx, int i, int thread) {
    (void)thread;
    pack_job *j = ctx;
    j->packs[i] = mv_bf16_pack_create(j->mats[i]);
}

/* All matrices of the three parts in one array (malloc'd), count in *n. */
static mv_matrix **list_matrices(mv_model *m, int *n) {
    int nv = mv_internvit_matrices(m->vit, NULL, 0), np = mv_projector_matrices(m->proj, NULL, 0);
    int nl = mv_llm_matrices(m->llm, NULL, 0);
    mv_matrix **mats = malloc((size_t)(nv + np + nl) * sizeof *mats);
    if (!mats) return NULL;
    mv_internvit_matrices(m->vit, mats, nv);
    mv_projector_matrices(m->proj, mats + nv, np);
    mv_llm_matrices(m->llm, mats + nv + np, nl);
    /* quantized matrices keep their integer GEMM where the CPU has one: faster than BF16 here, and a
     * BF16 copy would cost two bytes a weight */
    int kept = 0;
    for (int i = 0; i < nv + np + nl; i++)
        if (mats[i]->qtype == MV_Q_NONE || !mv_linear_q_handles(MV_BF16_MIN_M)) mats[kept++] = mats[i];
    *n = kept;
    return mats;
}

mv_status mv_model_pack_bf16(mv_model *m, mv_error *err) {
    int n = 0;
    mv_matrix **mats = list_matrices(m, &n);
    m->packs = calloc((size_t)(n > 0 ? n : 1), sizeof *m->packs);
    if (!mats || !m->packs) {
        free(mats);
        return mv_set_error(err, MV_ERR_NOMEM, "%s: out of memory listing matrices for precision bf16", m->dir);
    }
    m->n_packs = n;
    pack_job j = { mats, m->packs };
    mv_pool_for(m->pool, n, pack_one, &j);
    mv_status rc = MV_OK;
    for (int i = 0; i < n; i++) {
        if (!m->packs[i] && rc == MV_OK)
            rc = mv_set_error(err, MV_ERR_NOMEM, "%s: out of memory for the BF16 weight copies of precision bf16 "
                              "(%d matrices)", m->dir, n);
        mats[i]->bf16 = m->packs[i];
        m->pack_bytes += mv_bf16_pack_bytes(m->packs[i]);
    }
    free(mats);
    return rc;
}

void mv_model_free_packs(mv_model *m) {
    for (int i = 0; i < m->n_packs; i++) mv_bf16_pack_free(m->packs[i]);
    free(m->packs);
    m->packs = NULL;
    m->n_packs = 0;
    m->pack_bytes = 0;
}
