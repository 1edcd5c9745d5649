/* test_vision_full.c — full-size InternViT-300M + mlp1 (InternVL2-1B shapes) on tile 0 of chelsea
 * against full-internvl2-1b's vit_embeds. The checkpoint is not shipped: the vision_model.* and
 * mlp1.* tensors are regenerated with SYNTH-1 (golden README) into a temp dir. Slow (minutes with
 * the reference kernels), labelled "slow". The generator is first checked bit-exact against the
 * shipped tiny-qwen2 checkpoint. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/config.h"
#include "io/safetensors.h"
#include "testutil.h"
#include "vision/internvit.h"
#include "vision/projector.h"

typedef struct spec { char name[128]; int ndim; int64_t shape[4]; int64_t numel; } spec;
typedef struct spec_list { spec *v; int n, cap; } spec_list;

static void add(spec_list *l, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    if (l->n == l->cap) l->v = realloc(l->v, (size_t)(l->cap = l->cap ? 2 * l->cap : 64) * sizeof *l->v);
    spec *s = &l->v[l->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    int64_t sh[4] = { a, b, c, d };
    s->numel = 1;
    for (int k = 0; k < ndim; k++) s->numel *= (s->shape[k] = sh[k]);
}

/* SYNTH-1 value of element i of tensor s (name hash h), as bf16 bits. */
static uint16_t synth1(const spec *s, uint64_t h, uint64_t i) {
    uint64_t z = h + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double r = 2.0 * ((double)(z >> 11) * 0x1p-53) - 1.0, v;
    size_t L = strlen(s->name);
    if (s->ndim == 1) v = (L >= 4 && strcmp(s->name + L - 4, "bias") == 0) ? 0.02 * r : 1.0 + 0.1 * r;
    else v = r * sqrt(3.0 / (double)(s->numel / s->shape[0]));
    return mv_f32_to_bf16((float)v);
}

static void gen(void *user, const char *name, size_t off, void *dst, size_t nbytes) {
    const spec_list *l = user;
    const spec *s = NULL;
    for (int i = 0; i < l->n && !s; i++) if (strcmp(l->v[i].name, name) == 0) s = &l->v[i];
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    uint16_t *o = dst;
    for (size_t i = 0; i < nbytes / 2; i++) o[i] = synth1(s, h, off / 2 + i);
}

static void vision_specs(const mv_config *cfg, spec_list *l) {
    const int C = cfg->vit.hidden_size, I = cfg->vit.intermediate_size, P = cfg->vit.patch_size;
    const int G = cfg->vit.image_size / P, H = cfg->llm.hidden_size;
    add(l, "vision_model.embeddings.class_embedding", 3, 1, 1, C, 0);
    add(l, "vision_model.embeddings.patch_embedding.weight", 4, C, 3, P, P);
    add(l, "vision_model.embeddings.patch_embedding.bias", 1, C, 0, 0, 0);
    add(l, "vision_model.embeddings.position_embedding", 3, 1, G * G + 1, C, 0);
    static const struct { const char *name; int r, c; } per_layer[] = {
        { "attn.qkv.weight", 3, 1 }, { "attn.qkv.bias", 3, 0 }, { "attn.proj.weight", 1, 1 }, { "attn.proj.bias", 1, 0 },
        { "ls1", 1, 0 }, { "ls2", 1, 0 }, { "mlp.fc1.weight", -1, 1 }, { "mlp.fc1.bias", -1, 0 },
        { "mlp.fc2.weight", 1, -1 }, { "mlp.fc2.bias", 1, 0 }, { "norm1.weight", 1, 0 }, { "norm1.bias", 1, 0 },
        { "norm2.weight", 1, 0 }, { "norm2.bias", 1, 0 },
    }; /* r, c: multiples of C, -1 = intermediate size, c 0 = a vector */
    for (int layer = 0; layer < cfg->vit.num_layers; layer++)
        for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
            char n[128];
            snprintf(n, sizeof n, "vision_model.encoder.layers.%d.%s", layer, per_layer[k].name);
            int64_t rows = per_layer[k].r < 0 ? I : per_layer[k].r * C, cols = per_layer[k].c < 0 ? I : per_layer[k].c * C;
            add(l, n, cols ? 2 : 1, rows, cols, 0, 0);
        }
    add(l, "mlp1.0.weight", 1, 4 * C, 0, 0, 0);
    add(l, "mlp1.0.bias", 1, 4 * C, 0, 0, 0);
    add(l, "mlp1.1.weight", 2, H, 4 * C, 0, 0);
    add(l, "mlp1.1.bias", 1, H, 0, 0, 0);
    add(l, "mlp1.3.weight", 2, H, H, 0, 0);
    add(l, "mlp1.3.bias", 1, H, 0, 0, 0);
}

static int write_synth(const mv_config *cfg, const char *path, spec_list *l, mv_error *err) {
    vision_specs(cfg, l);
    mv_st_writer *w = mv_stw_new();
    for (int i = 0; i < l->n; i++)
        CHECK_OK(mv_stw_add_generated(w, l->v[i].name, MV_BF16, l->v[i].ndim, l->v[i].shape, gen, l, err), err);
    CHECK_OK(mv_stw_write(w, path, err), err);
    mv_stw_free(w);
    return 0;
}

/* The generator reproduces the shipped tiny checkpoint's vision tensors byte for byte. */
static int check_generator(const char *dir) {
    mv_error err = { 0 };
    mv_config cfg;
    mv_weights *mine = NULL, *ref = NULL;
    spec_list l = { 0 };
    CHECK_OK(mv_config_load_dir(mvt_shared("golden/tiny-qwen2"), &cfg, &err), &err);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (write_synth(&cfg, path, &l, &err)) return 1;
    CHECK_OK(mv_weights_open_dir(dir, &mine, &err), &err);
    CHECK_OK(mv_weights_open_dir(mvt_shared("golden/tiny-qwen2"), &ref, &err), &err);
    for (int i = 0; i < l.n; i++) {
        const mv_tensor *a = mv_weights_find(mine, l.v[i].name), *b = mv_weights_find(ref, l.v[i].name);
        CHECK(a && b && a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "SYNTH-1 of %s", l.v[i].name);
    }
    mv_weights_close(mine);
    mv_weights_close(ref);
    free(l.v);
    return 0;
}

static float *chelsea_tile0(void) {
    mv_error err = { 0 };
    mv_safetensors *st = NULL;
    if (mv_st_open(mvt_shared("golden/images/chelsea_max12.safetensors"), &st, &err) != MV_OK) return NULL;
    const mv_tensor *t = mv_st_find(st, "tiles_u8");
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, sd[3] = { 0.229f, 0.224f, 0.225f };
    const int S = 448;
    float *px = t && t->dtype == MV_U8 ? malloc((size_t)3 * S * S * sizeof *px) : NULL;
    for (int c = 0; px && c < 3; c++)
        for (int p = 0; p < S * S; p++) px[c * S * S + p] = ((float)((const uint8_t *)t->data)[p * 3 + c] / 255.0f - mean[c]) / sd[c];
    mv_st_close(st);
    return px;
}

static int check_full(const char *dir) {
    mv_error err = { 0 };
    mv_config cfg;
    spec_list l = { 0 };
    CHECK_OK(mv_config_load_dir(mvt_shared("golden/full-internvl2-1b"), &cfg, &err), &err);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (write_synth(&cfg, path, &l, &err)) return 1;
    free(l.v);
    mv_weights *w = NULL;
    mv_internvit *vit = NULL;
    mv_projector *proj = NULL;
    CHECK_OK(mv_weights_open_dir(dir, &w, &err), &err);
    CHECK_OK(mv_internvit_load(w, &cfg, &vit, &err), &err);
    CHECK_OK(mv_projector_load(w, &cfg, &proj, &err), &err);
    mv_safetensors *g = NULL;
    CHECK_OK(mv_st_open(mvt_shared("golden/full-internvl2-1b/img_chelsea.safetensors"), &g, &err), &err);
    size_t n = 0;
    float *ref = mvt_tensor_f32(g, "vit_embeds", &n), *px = chelsea_tile0();
    const size_t tile = (size_t)mv_projector_tokens(proj) * mv_projector_hidden(proj);
    CHECK(ref && px && n >= tile, "goldens");
    if (ref && px && n >= tile) {
        float *emb = malloc(tile * sizeof *emb);
        mv_pool *pool = mv_pool_create(2);
        CHECK_OK(mv_vision_encode(vit, proj, pool, px, 1, emb, &err), &err);
        mvt_allclose("full-internvl2-1b/chelsea vit_embeds tile 0", emb, ref, tile, 1e-4, 1e-4);
        mv_pool_free(pool);
        free(emb);
    }
    free(ref);
    free(px);
    mv_st_close(g);
    mv_projector_free(proj);
    mv_internvit_free(vit);
    mv_weights_close(w);
    return 0;
}

int main(void) {
    char dir[] = "/tmp/mv_vision_full_XXXXXX", path[512];
    if (!mkdtemp(dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (check_generator(dir) == 0 && mvt_failures == 0) check_full(dir);
    unlink(path);
    rmdir(dir);
    return mvt_done("test_vision_full");
}
