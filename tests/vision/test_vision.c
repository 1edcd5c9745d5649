/* test_vision.c — InternViT encoder + projector against the upstream goldens (tiny cases, fp32
 * tolerance 1e-4 + 1e-4|ref|), pixel-shuffle index semantics, select_layer, and bad checkpoints. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "testutil.h"
#include "vision/internvit.h"
#include "vision/projector.h"

static const double ATOL = 1e-4, RTOL = 1e-4;

/* pixel_values = (u8/255 - mean)/std in float32, channel-first — the upstream transform. */
static float *tiles_to_pixels(const char *image, int *n_tiles) {
    char rel[128];
    snprintf(rel, sizeof rel, "golden/images/%s_max12.safetensors", image);
    mv_error err = { 0 };
    mv_safetensors *st = NULL;
    if (mv_st_open(mvt_shared(rel), &st, &err) != MV_OK) {
        CHECK(0, "open %s: %s", rel, err.message);
        return NULL;
    }
    const mv_tensor *t = mv_st_find(st, "tiles_u8");
    CHECK(t && t->dtype == MV_U8 && t->ndim == 4 && t->shape[3] == 3, "%s: tiles_u8 missing or not U8 [T,S,S,3]", rel);
    if (!t || t->dtype != MV_U8 || t->ndim != 4) { mv_st_close(st); return NULL; }
    const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
    const int T = (int)t->shape[0], S = (int)t->shape[1];
    float *px = malloc((size_t)T * 3 * S * S * sizeof *px);
    const uint8_t *u8 = t->data;
    for (int i = 0; i < T; i++)
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < (size_t)S * S; p++)
                px[((size_t)i * 3 + c) * S * S + p] = ((float)u8[((size_t)i * S * S + p) * 3 + c] / 255.0f - mean[c]) / std[c];
    mv_st_close(st);
    *n_tiles = T;
    return px;
}

typedef struct model {
    mv_config cfg;
    mv_weights *w;
    mv_internvit *vit;
    mv_projector *proj;
} model;

static int model_open(const char *dir, model *m, mv_error *err) {
    memset(m, 0, sizeof *m);
    CHECK_OK(mv_config_load_dir(dir, &m->cfg, err), err);
    CHECK_OK(mv_weights_open_dir(dir, &m->w, err), err);
    CHECK_OK(mv_internvit_load(m->w, &m->cfg, &m->vit, err), err);
    CHECK_OK(mv_projector_load(m->w, &m->cfg, &m->proj, err), err);
    return 0;
}

static void model_close(model *m) {
    mv_projector_free(m->proj);
    mv_internvit_free(m->vit);
    mv_weights_close(m->w);
}

/* One prompt's goldens: encoder output of tile 0, then vit_embeds of all tiles (two routes). */
static int check_prompt(const char *cas, const model *m, mv_pool *pool, const char *image) {
    char rel[160], what[160];
    snprintf(rel, sizeof rel, "golden/%s/img_%s.safetensors", cas, image);
    mv_error err = { 0 };
    mv_safetensors *gold = NULL;
    CHECK_OK(mv_st_open(mvt_shared(rel), &gold, &err), &err);
    int T = 0;
    float *px = tiles_to_pixels(image, &T);
    size_t n_hid = 0, n_emb = 0;
    float *ref_hid = mvt_tensor_f32(gold, "vision_last_hidden_tile0", &n_hid);
    float *ref_emb = mvt_tensor_f32(gold, "vit_embeds", &n_emb);
    const int tok = mv_internvit_tokens(m->vit), C = mv_internvit_hidden(m->vit);
    const int ptok = mv_projector_tokens(m->proj), H = mv_projector_hidden(m->proj);
    CHECK(px && ref_hid && ref_emb, "%s: inputs missing", rel);
    CHECK(n_hid == (size_t)tok * C && n_emb == (size_t)T * ptok * H, "%s: golden sizes %zu/%zu", rel, n_hid, n_emb);
    if (px && ref_hid && ref_emb && n_hid == (size_t)tok * C && n_emb == (size_t)T * ptok * H) {
        float *hid = malloc((size_t)T * tok * C * sizeof *hid), *emb = malloc(n_emb * sizeof *emb);
        /* all tiles at once; tile 0 of the batch is the single-tile golden (tiles are independent) */
        CHECK_OK(mv_internvit_forward(m->vit, pool, px, T, hid, &err), &err);
        snprintf(what, sizeof what, "%s/%s vision_last_hidden_tile0", cas, image);
        mvt_allclose(what, hid, ref_hid, n_hid, ATOL, RTOL);
        CHECK_OK(mv_projector_forward(m->proj, pool, hid, T, emb, &err), &err);
        snprintf(what, sizeof what, "%s/%s vit_embeds (encoder, projector)", cas, image);
        mvt_allclose(what, emb, ref_emb, n_emb, ATOL, RTOL);

        if (T == 1) { /* the tile-by-tile pipeline; one tile is enough to prove the plumbing */
            memset(emb, 0, n_emb * sizeof *emb);
            CHECK_OK(mv_vision_encode(m->vit, m->proj, pool, px, T, emb, &err), &err);
            snprintf(what, sizeof what, "%s/%s vit_embeds (mv_vision_encode)", cas, image);
            mvt_allclose(what, emb, ref_emb, n_emb, ATOL, RTOL);
        }
        free(hid);
        free(emb);
    }
    free(px);
    free(ref_hid);
    free(ref_emb);
    mv_st_close(gold);
    return 0;
}

static int test_case(const char *cas, mv_pool *pool, int all_images) {
    char rel[64];
    snprintf(rel, sizeof rel, "golden/%s", cas);
    model m;
    mv_error err = { 0 };
    if (model_open(mvt_shared(rel), &m, &err)) { model_close(&m); return 1; }
    CHECK(mv_projector_tokens(m.proj) == 256 && mv_internvit_tokens(m.vit) == 1025, "%s geometry", cas);
    int rc = check_prompt(cas, &m, pool, "astronaut");
    if (!rc && all_images) rc = check_prompt(cas, &m, pool, "chelsea");
    model_close(&m);
    return rc;
}

/* ------------------------------------------------------------------ pixel shuffle semantics */

/* Upstream's pixel_shuffle as literal view/permute steps on a [G, G, C] tile, scale 1/f. */
static void torch_pixel_shuffle(const float *x, int G, int C, int f, int v1, float *out) {
    /* view(G, G/f, f*C) then permute(1,0,2): a[j][r][m] = x[r][f*j + m/C][m%C] */
    const int g = G / f, fc = f * C, w = f * f * C;
    float *a = malloc((size_t)G * G * C * sizeof *a);
    for (int j = 0; j < g; j++)
        for (int r = 0; r < G; r++)
            for (int mm = 0; mm < fc; mm++) a[((size_t)j * G + r) * fc + mm] = x[((size_t)r * G + f * j + mm / C) * C + mm % C];
    /* view(g, g, f*f*C): b[j][i][q] = a[j][f*i + q/fc][q%fc]; v2 permutes to [i][j] */
    for (int j = 0; j < g; j++)
        for (int i = 0; i < g; i++)
            for (int q = 0; q < w; q++) {
                float val = a[((size_t)j * G + f * i + q / fc) * fc + q % fc];
                out[((size_t)(v1 ? j * g + i : i * g + j)) * w + q] = val;
            }
    free(a);
}

static void test_pixel_shuffle(void) {
    const int G = 6, C = 3;
    float x[6 * 6 * 3], got[6 * 6 * 3], ref[6 * 6 * 3];
    for (int i = 0; i < G * G * C; i++) x[i] = (float)i;
    for (int f = 2; f <= 3; f++)
        for (int v1 = 0; v1 <= 1; v1++) {
            mv_pixel_shuffle(x, G, C, f, v1, got);
            torch_pixel_shuffle(x, G, C, f, v1, ref);
            CHECK(memcmp(got, ref, sizeof got) == 0, "pixel shuffle f=%d v%d differs from the view/permute sequence", f, v1 ? 1 : 2);
        }
    /* v2 token 1 = patches (0,2),(0,3),(1,2),(1,3) for f = 2: spot-check one value */
    mv_pixel_shuffle(x, G, C, 2, 0, got);
    CHECK(got[1 * 12 + 2 * C] == x[(1 * G + 2) * C], "v2 token 1 feature block 2 should be patch (1,2)");
}

/* ------------------------------------------------------------------ select_layer */

static int test_select_layer(mv_pool *pool) {
    model m;
    mv_error err = { 0 };
    if (model_open(mvt_shared("golden/tiny-qwen2"), &m, &err)) { model_close(&m); return 1; }
    int T = 0;
    float *px = tiles_to_pixels("astronaut", &T);
    const size_t n = (size_t)mv_internvit_tokens(m.vit) * mv_internvit_hidden(m.vit);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    mv_internvit *v2 = NULL;
    m.cfg.select_layer = -2; /* hidden_states[-2] = output of layer 1 of 2 */
    CHECK_OK(mv_internvit_load(m.w, &m.cfg, &v2, &err), &err);
    CHECK_OK(mv_internvit_forward(v2, pool, px, 1, a, &err), &err);
    CHECK_OK(mv_internvit_forward_layers(m.vit, pool, px, 1, 1, b, &err), &err);
    CHECK(memcmp(a, b, n * sizeof *a) == 0, "select_layer -2 should equal one layer run");
    mv_internvit_free(v2);
    m.cfg.select_layer = -4;
    CHECK(mv_internvit_load(m.w, &m.cfg, &v2, &err) == MV_ERR_CONFIG && strstr(err.message, "select_layer"),
          "select_layer -4 on 2 layers: %s", err.message);
    m.cfg.select_layer = -1;
    m.cfg.force_image_size = 224;
    CHECK(mv_internvit_load(m.w, &m.cfg, &v2, &err) == MV_ERR_UNSUPPORTED && strstr(err.message, "position_embedding"),
          "224px tiles on a 448px checkpoint: %s", err.message);
    m.cfg.force_image_size = 448;
    m.cfg.ps_version[1] = '3';
    mv_projector *p2 = NULL;
    CHECK(mv_projector_load(m.w, &m.cfg, &p2, &err) == MV_ERR_UNSUPPORTED && strstr(err.message, "ps_version"),
          "ps_version v3: %s", err.message);
    free(a);
    free(b);
    free(px);
    model_close(&m);
    return 0;
}

/* ------------------------------------------------------------------ InternViT-6B options */

/* tiny-internvl-c: RMSNorm, qk-normalisation, no qkv bias, 224px tiles; its config is InternVLModel
 * layout (not a chat config), so the vision part is filled in by hand from its vision_config. */
static int test_internvit_6b(mv_pool *pool) {
    mv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.select_layer = -1;
    cfg.vit = (mv_vit_config){ .hidden_size = 64, .intermediate_size = 128, .num_layers = 3, .num_heads = 4,
                               .image_size = 224, .patch_size = 14, .num_channels = 3, .layer_norm_eps = 1e-6f,
                               .qkv_bias = 0, .qk_normalization = 1, .use_rms_norm = 1, .hidden_act = "gelu" };
    mv_error err = { 0 };
    mv_weights *w = NULL;
    mv_internvit *vit = NULL;
    CHECK_OK(mv_weights_open_dir(mvt_shared("golden/tiny-internvl-c"), &w, &err), &err);
    CHECK_OK(mv_internvit_load(w, &cfg, &vit, &err), &err);
    const char *imgs[] = { "chelsea", "cell" };
    for (int i = 0; i < 2; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "golden/tiny-internvl-c/img_%s.safetensors", imgs[i]);
        mv_safetensors *g = NULL;
        CHECK_OK(mv_st_open(mvt_shared(rel), &g, &err), &err);
        size_t npx = 0, nref = 0;
        float *px = mvt_tensor_f32(g, "pixel_values", &npx), *ref = mvt_tensor_f32(g, "vision_last_hidden", &nref);
        CHECK(npx == 3 * 224 * 224 && nref == 257 * 64, "%s sizes", rel);
        if (px && ref && npx == 3 * 224 * 224 && nref == 257 * 64) {
            float *out = malloc(nref * sizeof *out);
            CHECK_OK(mv_internvit_forward(vit, pool, px, 1, out, &err), &err);
            mvt_allclose(rel, out, ref, nref, ATOL, RTOL);
            free(out);
        }
        free(px);
        free(ref);
        mv_st_close(g);
    }
    mv_internvit_free(vit);
    mv_weights_close(w);
    return 0;
}

/* ------------------------------------------------------------------ bad checkpoints */

/* Copy every tensor of tiny-qwen2 into dir/model.safetensors, giving `bad` (if any) a wrong shape
 * and leaving out `drop` (if any). */
static int write_variant(const mv_weights *src, const char *dir, const char *bad, const char *drop, mv_error *err) {
    mv_st_writer *wr = mv_stw_new();
    for (size_t i = 0; i < mv_weights_count(src); i++) {
        const mv_tensor *t = mv_weights_at(src, i);
        if (drop && strcmp(t->name, drop) == 0) continue;
        int64_t shape[MV_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        if (bad && strcmp(t->name, bad) == 0) { /* same bytes, reshaped [a, b] -> [a/2, 2b] */
            shape[0] /= 2;
            shape[1] *= 2;
        }
        CHECK_OK(mv_stw_add(wr, t->name, t->dtype, t->ndim, shape, t->data, err), err);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(mv_stw_write(wr, path, err), err);
    mv_stw_free(wr);
    return 0;
}

static void expect_load_error(const model *m, const char *dir, const char *bad, const char *drop, int projector) {
    mv_error err = { 0 };
    CHECK(write_variant(m->w, dir, bad, drop, &err) == 0, "write variant: %s", err.message);
    mv_weights *w = NULL;
    if (mv_weights_open_dir(dir, &w, &err) != MV_OK) {
        CHECK(0, "open variant: %s", err.message);
        return;
    }
    mv_internvit *vit = NULL;
    mv_projector *proj = NULL;
    mv_status rc = projector ? mv_projector_load(w, &m->cfg, &proj, &err) : mv_internvit_load(w, &m->cfg, &vit, &err);
    const char *name = bad ? bad : drop;
    CHECK(rc == MV_ERR_FORMAT && strstr(err.message, name), "loading with '%s' %s: got %s: %s", name,
          bad ? "reshaped" : "missing", mv_status_name(rc), err.message);
    CHECK(vit == NULL && proj == NULL, "no object on failure");
    mv_weights_close(w);
}

static int test_bad_weights(void) {
    model m;
    mv_error err = { 0 };
    if (model_open(mvt_shared("golden/tiny-qwen2"), &m, &err)) { model_close(&m); return 1; }
    char dir[] = "/tmp/mv_vision_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    expect_load_error(&m, dir, "vision_model.encoder.layers.1.mlp.fc1.weight", NULL, 0);
    expect_load_error(&m, dir, "vision_model.embeddings.patch_embedding.weight", NULL, 0);
    expect_load_error(&m, dir, NULL, "vision_model.encoder.layers.0.ls2", 0);
    expect_load_error(&m, dir, "mlp1.1.weight", NULL, 1);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    model_close(&m);
    return 0;
}

int main(void) {
    mv_pool *pool = mv_pool_create(2);
    test_pixel_shuffle();
    test_case("tiny-qwen2", pool, 1);
    test_case("tiny-internlm2", pool, 0);
    test_case("tiny-phi3", pool, 0);
    test_select_layer(pool);
    test_internvit_6b(pool);
    test_bad_weights();
    mv_pool_free(pool);
    return mvt_done("test_vision");
}
