/* llm_fixture.c — loads tiny-qwen2 and builds spliced prompt embeddings for the LLM tests. */
#include "llm_fixture.h"

#include <stdlib.h>
#include <string.h>

int llm_fixture_open(llm_fixture *fx) {
    memset(fx, 0, sizeof *fx);
    mv_error err = { 0 };
    const char *dir = mvt_shared("golden/tiny-qwen2");
    if (mv_config_load_dir(dir, &fx->cfg, &err) != MV_OK || mv_weights_open_dir(dir, &fx->w, &err) != MV_OK ||
        mv_llm_load(fx->w, &fx->cfg, &fx->llm, &err) != MV_OK) {
        fprintf(stderr, "loading %s: %s\n", dir, err.message);
        mvt_failures++;
        llm_fixture_close(fx);
        return 0;
    }
    fx->pool = mv_pool_create(2);
    return 1;
}

void llm_fixture_close(llm_fixture *fx) {
    mv_llm_free(fx->llm);
    mv_weights_close(fx->w);
    mv_pool_free(fx->pool);
    memset(fx, 0, sizeof *fx);
}

float *llm_prompt_embeds(const llm_fixture *fx, const mv_safetensors *st, int64_t **ids_out, int *n_out) {
    size_t n = 0, n_vit = 0;
    int64_t *ids = mvt_tensor_i64(st, "input_ids", &n);
    if (!ids) return NULL;
    const int H = mv_llm_hidden(fx->llm);
    int32_t *ids32 = malloc(n * sizeof *ids32);
    float *emb = malloc(n * (size_t)H * sizeof *emb);
    size_t n_img = 0;
    for (size_t i = 0; i < n; i++) {
        ids32[i] = (int32_t)ids[i];
        n_img += ids[i] == LLM_IMG_CONTEXT;
    }
    mv_error err = { 0 };
    if (mv_llm_embed(fx->llm, ids32, (int)n, emb, &err) != MV_OK) {
        fprintf(stderr, "mv_llm_embed: %s\n", err.message);
        mvt_failures++;
        free(emb);
        emb = NULL;
    }
    if (emb && n_img) {
        float *vit = mvt_tensor_f32(st, "vit_embeds", &n_vit);
        CHECK(vit && n_vit == n_img * (size_t)H, "vit_embeds has %zu floats for %zu image tokens", n_vit, n_img);
        for (size_t i = 0, r = 0; vit && n_vit == n_img * (size_t)H && i < n; i++)
            if (ids[i] == LLM_IMG_CONTEXT) memcpy(emb + i * H, vit + (r++) * H, (size_t)H * sizeof *emb);
        free(vit);
    }
    free(ids32);
    *ids_out = ids;
    *n_out = (int)n;
    return emb;
}

int llm_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
