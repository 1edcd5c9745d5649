/* llm_fixture.c — loads a tiny golden LLM and builds spliced prompt embeddings for the LLM tests. */
#include "llm_fixture.h"

#include <stdlib.h>
#include <string.h>

/* <IMG_CONTEXT> ids of the golden cases (golden/README.md). */
static const struct {
    const char *name;
    int img_context;
} CASES[] = {
    { "tiny-qwen2", 151648 },
    { "tiny-internlm2", 92546 },
    { "tiny-phi3", 32013 },
};

static int open_files(llm_fixture *fx, const char *name, mv_error *err) {
    memset(fx, 0, sizeof *fx);
    fx->img_context = -1;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (!strcmp(name, CASES[i].name)) fx->img_context = CASES[i].img_context;
    char rel[128];
    snprintf(rel, sizeof rel, "golden/%s", name);
    const char *dir = mvt_shared(rel);
    return fx->img_context >= 0 && mv_config_load_dir(dir, &fx->cfg, err) == MV_OK &&
           mv_weights_open_dir(dir, &fx->w, err) == MV_OK;
}

static int fail(llm_fixture *fx, const char *name, const mv_error *err) {
    fprintf(stderr, "loading %s: %s\n", name, err->message[0] ? err->message : "unknown golden case");
    mvt_failures++;
    llm_fixture_close(fx);
    return 0;
}

int llm_fixture_open_files(llm_fixture *fx, const char *name) {
    mv_error err = { 0 };
    return open_files(fx, name, &err) ? 1 : fail(fx, name, &err);
}

int llm_fixture_open_case(llm_fixture *fx, const char *name) {
    mv_error err = { 0 };
    if (!open_files(fx, name, &err) || mv_llm_load(fx->w, &fx->cfg, &fx->llm, &err) != MV_OK) return fail(fx, name, &err);
    fx->pool = mv_pool_create(2);
    return 1;
}

int llm_fixture_open(llm_fixture *fx) { return llm_fixture_open_case(fx, "tiny-qwen2"); }

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
        n_img += ids[i] == fx->img_context;
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
            if (ids[i] == fx->img_context) memcpy(emb + i * H, vit + (r++) * H, (size_t)H * sizeof *emb);
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
