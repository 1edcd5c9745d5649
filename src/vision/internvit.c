/* internvit.c — InternViT forward pass: patch embedding (im2col + mv_linear), CLS and position
 * embeddings, pre-norm transformer blocks with layer scale. Tiles run one after another through all
 * layers, so scratch memory is one tile's worth whatever the tile count. */
#include "vision/internvit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/weights_util.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

typedef struct vit_layer {
    float *norm1_w, *norm1_b, *norm2_w, *norm2_b; /* biases NULL with RMSNorm */
    mv_matrix qkv, proj, fc1, fc2;
    float *qkv_b;                                 /* NULL without qkv_bias */
    float *q_norm, *k_norm;                       /* NULL without qk_normalization */
    float *proj_b, *fc1_b, *fc2_b, *ls1, *ls2;
} vit_layer;

struct mv_internvit {
    int C, inter, heads, head_dim, n_layers, out_layers;
    int patch, image, grid, tokens; /* tokens = grid^2 + 1 */
    int rms;
    float eps;
    float *class_emb;               /* [C] */
    mv_matrix patch_w;              /* [C, 3*P*P], the conv kernel flattened (c, ky, kx) */
    float *patch_b;                 /* [C] */
    float *pos_emb;                 /* [tokens, C] */
    vit_layer *layers;
    int bf16_attention;             /* precision bf16: attention products in BF16 (mv_attention_bf16) */
    void *qbuf;                     /* codes and scales of the matrices quantized at load, or NULL */
};

/* ------------------------------------------------------------------ loading */

#define EMB "vision_model.embeddings."

static mv_status layer_vec(const mv_weights *w, int l, const char *what, int64_t n, float **out, mv_error *err) {
    char name[160];
    snprintf(name, sizeof name, "vision_model.encoder.layers.%d.%s", l, what);
    return mv_weight_f32(w, name, n, out, err);
}

static mv_status layer_mat(const mv_weights *w, int l, const char *what, int rows, int cols, mv_matrix *out,
                           mv_error *err) {
    char name[160];
    snprintf(name, sizeof name, "vision_model.encoder.layers.%d.%s", l, what);
    return mv_weight_matrix(w, name, rows, cols, out, err);
}

static mv_status load_layer(const mv_weights *w, const mv_vit_config *vc, int l, vit_layer *L, mv_error *err) {
    const int C = vc->hidden_size, I = vc->intermediate_size;
    mv_status rc = MV_OK;
#define TRY(call) do { if (rc == MV_OK) rc = (call); } while (0)
    TRY(layer_vec(w, l, "norm1.weight", C, &L->norm1_w, err));
    TRY(layer_vec(w, l, "norm2.weight", C, &L->norm2_w, err));
    if (!vc->use_rms_norm) {
        TRY(layer_vec(w, l, "norm1.bias", C, &L->norm1_b, err));
        TRY(layer_vec(w, l, "norm2.bias", C, &L->norm2_b, err));
    }
    TRY(layer_mat(w, l, "attn.qkv.weight", 3 * C, C, &L->qkv, err));
    if (vc->qkv_bias) TRY(layer_vec(w, l, "attn.qkv.bias", 3 * C, &L->qkv_b, err));
    if (vc->qk_normalization) {
        TRY(layer_vec(w, l, "attn.q_norm.weight", C, &L->q_norm, err));
        TRY(layer_vec(w, l, "attn.k_norm.weight", C, &L->k_norm, err));
    }
    TRY(layer_mat(w, l, "attn.proj.weight", C, C, &L->proj, err));
    TRY(layer_vec(w, l, "attn.proj.bias", C, &L->proj_b, err));
    TRY(layer_vec(w, l, "ls1", C, &L->ls1, err));
    TRY(layer_vec(w, l, "ls2", C, &L->ls2, err));
    TRY(layer_mat(w, l, "mlp.fc1.weight", I, C, &L->fc1, err));
    TRY(layer_vec(w, l, "mlp.fc1.bias", I, &L->fc1_b, err));
    TRY(layer_mat(w, l, "mlp.fc2.weight", C, I, &L->fc2, err));
    TRY(layer_vec(w, l, "mlp.fc2.bias", C, &L->fc2_b, err));
#undef TRY
    return rc;
}

static void free_layer(vit_layer *L) {
    float *v[] = { L->norm1_w, L->norm1_b, L->norm2_w, L->norm2_b, L->qkv_b, L->q_norm, L->k_norm,
                   L->proj_b, L->fc1_b, L->fc2_b, L->ls1, L->ls2 };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) free(v[i]);
}

/* Which hidden state select_layer names, as a count of layers run (HF hidden_states indexing). */
static mv_status resolve_select_layer(const mv_config *cfg, int *n_out, mv_error *err) {
    int L = cfg->vit.num_layers, k = cfg->select_layer;
    int n = k < 0 ? L + 1 + k : k;
    if (n < 0 || n > L)
        return mv_set_error(err, MV_ERR_CONFIG, "config.json: select_layer %d is out of range for a %d-layer vision encoder", k, L);
    *n_out = n;
    return MV_OK;
}

/* The tile side the model is fed with, and a check that the checkpoint's position grid fits it. */
static mv_status load_embeddings(const mv_weights *w, const mv_config *cfg, mv_internvit *v, mv_error *err) {
    const mv_vit_config *vc = &cfg->vit;
    const int C = v->C, P = v->patch;
    v->image = cfg->force_image_size > 0 ? cfg->force_image_size : vc->image_size;
    if (v->image % P)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: image size %d is not a multiple of patch_size %d", v->image, P);
    v->grid = v->image / P;
    v->tokens = v->grid * v->grid + 1;

    const mv_tensor *pos = mv_weights_find(w, EMB "position_embedding");
    if (pos && pos->ndim == 3 && pos->shape[0] == 1 && pos->shape[2] == C) {
        int64_t n = pos->shape[1] - 1, g = (int64_t)llround(sqrt((double)(n > 0 ? n : 0)));
        if (g * g == n && g != v->grid)
            return mv_set_error(err, MV_ERR_UNSUPPORTED,
                                "%s: position_embedding covers a %lldx%lld patch grid but %dpx tiles need %dx%d; "
                                "resampling position embeddings is not supported", pos->file, (long long)g, (long long)g,
                                v->image, v->grid, v->grid);
    }
    const int64_t pos_shape[3] = { 1, v->tokens, C }, cls_shape[3] = { 1, 1, C };
    const int64_t conv_shape[4] = { C, vc->num_channels, P, P };
    const mv_tensor *conv = NULL;
    mv_status rc = mv_weight_shape(w, EMB "position_embedding", 3, pos_shape, NULL, err);
    if (rc == MV_OK) rc = mv_weight_shape(w, EMB "class_embedding", 3, cls_shape, NULL, err);
    if (rc == MV_OK) rc = mv_weight_shape(w, EMB "patch_embedding.weight", 4, conv_shape, &conv, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, EMB "position_embedding", (int64_t)v->tokens * C, &v->pos_emb, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, EMB "class_embedding", C, &v->class_emb, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, EMB "patch_embedding.bias", C, &v->patch_b, err);
    if (rc != MV_OK) return rc;
    v->patch_w = (mv_matrix){ .dtype = conv->dtype, .data = conv->data, .rows = C, .cols = vc->num_channels * P * P };
    return MV_OK;
}

mv_status mv_internvit_load(const mv_weights *w, const mv_config *cfg, mv_internvit **out, mv_error *err) {
    *out = NULL;
    const mv_vit_config *vc = &cfg->vit;
    if (strcmp(vc->hidden_act, "gelu") != 0)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: vision_config.hidden_act '%s' is not supported (only 'gelu')", vc->hidden_act);
    if (vc->num_channels != 3)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: vision_config.num_channels %d is not supported (only 3)", vc->num_channels);
    if (vc->hidden_size <= 0 || vc->num_heads <= 0 || vc->hidden_size % vc->num_heads)
        return mv_set_error(err, MV_ERR_CONFIG, "config.json: vision_config.hidden_size %d does not split into %d heads", vc->hidden_size, vc->num_heads);
    mv_internvit *v = calloc(1, sizeof *v);
    if (!v) return mv_set_error(err, MV_ERR_NOMEM, "out of memory loading the vision encoder");
    v->C = vc->hidden_size;
    v->inter = vc->intermediate_size;
    v->heads = vc->num_heads;
    v->head_dim = v->C / v->heads;
    v->n_layers = vc->num_layers;
    v->patch = vc->patch_size;
    v->rms = vc->use_rms_norm;
    v->eps = vc->layer_norm_eps;
    mv_status rc = resolve_select_layer(cfg, &v->out_layers, err);
    if (rc == MV_OK) rc = load_embeddings(w, cfg, v, err);
    if (rc == MV_OK && !(v->layers = calloc((size_t)v->n_layers, sizeof *v->layers)))
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory loading the vision encoder");
    for (int l = 0; rc == MV_OK && l < v->n_layers; l++) rc = load_layer(w, vc, l, &v->layers[l], err);
    if (rc != MV_OK) {
        mv_internvit_free(v);
        return rc;
    }
    *out = v;
    return MV_OK;
}

void mv_internvit_free(mv_internvit *v) {
    if (!v) return;
    if (v->layers)
        for (int l = 0; l < v->n_layers; l++) free_layer(&v->layers[l]);
    free(v->layers);
    free(v->class_emb);
    free(v->patch_b);
    free(v->pos_emb);
    free(v->qbuf);
    free(v);
}

int mv_internvit_image_size(const mv_internvit *v) { return v->image; }
int mv_internvit_tokens(const mv_internvit *v) { return v->tokens; }
int mv_internvit_hidden(const mv_internvit *v) { return v->C; }

/* ------------------------------------------------------------------ row-parallel helpers */

typedef enum { ROW_NORM, ROW_GELU, ROW_SCALED_ADD } row_op;

/* One elementwise or per-row operation over `rows` rows of `dim` values, `stride` floats apart. */
typedef struct row_job {
    row_op op;
    int rows, dim, stride;
    float *out;
    const float *in;
    const float *gamma, *beta; /* norm weights; gamma = layer scale for ROW_SCALED_ADD */
    float eps;
    int rms;
} row_job;

enum { ROW_CHUNK = 32 };

static void row_chunk(void *ctx, int chunk, int thread) {
    (void)thread;
    const row_job *j = ctx;
    int r1 = (chunk + 1) * ROW_CHUNK < j->rows ? (chunk + 1) * ROW_CHUNK : j->rows;
    for (int r = chunk * ROW_CHUNK; r < r1; r++) {
        float *o = j->out + (size_t)r * j->stride;
        const float *x = j->in + (size_t)r * j->stride;
        switch (j->op) {
        case ROW_NORM:
            if (j->rms) mv_rmsnorm(o, x, 1, j->dim, j->gamma, j->eps);
            else mv_layernorm(o, x, 1, j->dim, j->gamma, j->beta, j->eps);
            break;
        case ROW_GELU:
            mv_gelu_erf(o, (size_t)j->dim);
            break;
        case ROW_SCALED_ADD:
            for (int c = 0; c < j->dim; c++) o[c] += j->gamma[c] * x[c];
            break;
        }
    }
}

static void run_rows(mv_pool *pool, const row_job *j) {
    mv_pool_for(pool, (j->rows + ROW_CHUNK - 1) / ROW_CHUNK, row_chunk, (void *)j);
}

static void norm_rows(mv_pool *pool, float *out, const float *in, int rows, int dim, int stride, const float *gamma,
                      const float *beta, float eps, int rms) {
    row_job j = { ROW_NORM, rows, dim, stride, out, in, gamma, beta, eps, rms };
    run_rows(pool, &j);
}

/* ------------------------------------------------------------------ forward */

typedef struct vit_scratch {
    int tiles;   /* tiles of a batch the buffers hold */
    float *h;    /* [tiles·tokens, C]: normed input, then attention output */
    float *o;    /* [tiles·tokens, C]: projection outputs before the residual */
    float *big;  /* [tiles·tokens, max(3C, inter, 3P^2)]: qkv, fc1 activations, im2col */
} vit_scratch;

static void scratch_free(vit_scratch *s) {
    free(s->h);
    free(s->o);
    free(s->big);
}

static mv_status scratch_alloc(const mv_internvit *v, int tiles, vit_scratch *s, mv_error *err) {
    size_t tok = (size_t)tiles * (size_t)v->tokens, wide = (size_t)3 * v->C;
    s->tiles = tiles;
    if ((size_t)v->inter > wide) wide = (size_t)v->inter;
    if ((size_t)v->patch_w.cols > wide) wide = (size_t)v->patch_w.cols;
    s->h = malloc(tok * v->C * sizeof(float));
    s->o = malloc(tok * v->C * sizeof(float));
    s->big = malloc(tok * wide * sizeof(float));
    if (!s->h || !s->o || !s->big) {
        scratch_free(s);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for vision encoder scratch (%zu tokens x %zu)", tok, wide);
    }
    return MV_OK;
}

/* Patch rows in raster order, each the (c, ky, kx)-flattened P x P window of all channels. */
static void im2col(const mv_internvit *v, const float *px, float *cols) {
    const int P = v->patch, S = v->image, K = v->patch_w.cols;
    for (int p = 0; p < v->grid * v->grid; p++) {
        int y0 = (p / v->grid) * P, x0 = (p % v->grid) * P;
        float *row = cols + (size_t)p * K;
        for (int c = 0; c < 3; c++)
            for (int ky = 0; ky < P; ky++)
                memcpy(row + (c * P + ky) * P, px + ((size_t)c * S + y0 + ky) * S + x0, (size_t)P * sizeof(float));
    }
}

static void embed_tile(const mv_internvit *v, mv_pool *pool, const float *px, float *x, vit_scratch *s) {
    im2col(v, px, s->big);
    mv_linear(pool, x + v->C, s->big, v->tokens - 1, &v->patch_w, v->patch_b);
    memcpy(x, v->class_emb, (size_t)v->C * sizeof(float));
    mv_add(x, v->pos_emb, (size_t)v->tokens * v->C);
}

/* The blocks run on the rows of all `tiles` tiles of a batch at once (x: [tiles·tokens, C]); only
 * attention is per tile. */
static void attention_block(const mv_internvit *v, const vit_layer *L, mv_pool *pool, float *x, int tiles,
                            vit_scratch *s) {
    const int tok = v->tokens, n = tiles * tok, C = v->C;
    norm_rows(pool, s->h, x, n, C, C, L->norm1_w, L->norm1_b, v->eps, v->rms);
    mv_linear(pool, s->big, s->h, n, &L->qkv, L->qkv_b);
    if (L->q_norm) { /* InternViT-6B: RMSNorm over all heads of q and of k, before the head split */
        norm_rows(pool, s->big, s->big, n, C, 3 * C, L->q_norm, NULL, v->eps, 1);
        norm_rows(pool, s->big + C, s->big + C, n, C, 3 * C, L->k_norm, NULL, v->eps, 1);
    }
    /* q | k | v sit side by side in each [3C] row, every part [heads, head_dim]; all heads at once
     * (precision bf16: with BF16 products, like the matrices) */
    const float scale = 1.0f / sqrtf((float)v->head_dim);
    for (int t = 0; t < tiles; t++) {
        const float *qkv = s->big + (size_t)t * tok * 3 * C;
        float *out = s->h + (size_t)t * tok * C;
        if (!(v->bf16_attention &&
              mv_attention_bf16(pool, out, C, qkv, 3 * C, qkv + C, qkv + 2 * C, 3 * C, v->heads, v->head_dim, tok, tok, scale)))
            mv_attention(pool, out, C, qkv, 3 * C, qkv + C, qkv + 2 * C, 3 * C, v->heads, v->heads, v->head_dim, tok,
                         tok, scale, 0, 0);
    }
    mv_linear(pool, s->o, s->h, n, &L->proj, L->proj_b);
    row_job res = { ROW_SCALED_ADD, n, C, C, x, s->o, L->ls1, NULL, 0.f, 0 };
    run_rows(pool, &res);
}

static void mlp_block(const mv_internvit *v, const vit_layer *L, mv_pool *pool, float *x, int tiles, vit_scratch *s) {
    const int n = tiles * v->tokens, C = v->C;
    norm_rows(pool, s->h, x, n, C, C, L->norm2_w, L->norm2_b, v->eps, v->rms);
    mv_linear(pool, s->big, s->h, n, &L->fc1, L->fc1_b);
    row_job act = { ROW_GELU, n, v->inter, v->inter, s->big, s->big, NULL, NULL, 0.f, 0 };
    run_rows(pool, &act);
    mv_linear(pool, s->o, s->big, n, &L->fc2, L->fc2_b);
    row_job res = { ROW_SCALED_ADD, n, C, C, x, s->o, L->ls2, NULL, 0.f, 0 };
    run_rows(pool, &res);
}

mv_status mv_internvit_forward_layers(const mv_internvit *v, mv_pool *pool, const float *pixel_values,
                                      int n_tiles, int n_layers, float *out, mv_error *err) {
    if (!v || !pixel_values || !out || n_tiles < 0)
        return mv_set_error(err, MV_ERR_ARG, "vision encoder: NULL input or negative tile count");
    if (n_layers < 0 || n_layers > v->n_layers)
        return mv_set_error(err, MV_ERR_ARG, "vision encoder: %d layers requested, the model has %d", n_layers, v->n_layers);
    if (n_tiles == 0) return MV_OK;
    vit_scratch s = { 0 };
    mv_status rc = scratch_alloc(v, n_tiles < MV_VIT_BATCH_TILES ? n_tiles : MV_VIT_BATCH_TILES, &s, err);
    if (rc != MV_OK) return rc;
    const size_t tile_px = (size_t)3 * v->image * v->image, tile_out = (size_t)v->tokens * v->C;
    for (int t0 = 0; t0 < n_tiles; t0 += s.tiles) {
        const int tiles = n_tiles - t0 < s.tiles ? n_tiles - t0 : s.tiles;
        float *x = out + (size_t)t0 * tile_out; /* the residual stream lives in the output */
        for (int t = 0; t < tiles; t++)
            embed_tile(v, pool, pixel_values + (size_t)(t0 + t) * tile_px, x + (size_t)t * tile_out, &s);
        for (int l = 0; l < n_layers; l++) {
            attention_block(v, &v->layers[l], pool, x, tiles, &s);
            mlp_block(v, &v->layers[l], pool, x, tiles, &s);
        }
    }
    scratch_free(&s);
    return MV_OK;
}

mv_status mv_internvit_forward(const mv_internvit *v, mv_pool *pool, const float *pixel_values, int n_tiles,
                               float *out, mv_error *err) {
    if (!v) return mv_set_error(err, MV_ERR_ARG, "vision encoder: NULL model");
    return mv_internvit_forward_layers(v, pool, pixel_values, n_tiles, v->out_layers, out, err);
}

mv_status mv_internvit_quantize(mv_internvit *v, mv_qtype t, mv_pool *pool, const mv_weights *src, mv_error *err) {
    if (t != MV_Q8)
        return mv_set_error(err, MV_ERR_ARG, "vision encoder: %s is not offered, only q8 (q4 moved vit_embeds to cosine "
                                             "0.981 of the reference on the SYNTH-1 golden, q8 to 0.9999; docs/QUANT.md)",
                            mv_qtype_name(t));
    if (v->qbuf) return mv_set_error(err, MV_ERR_ARG, "vision encoder: already quantized");
    const int n = mv_internvit_matrices(v, NULL, 0);
    mv_matrix **mats = malloc((size_t)n * sizeof *mats);
    if (!mats) return mv_set_error(err, MV_ERR_NOMEM, "out of memory quantizing the vision encoder");
    mv_internvit_matrices(v, mats, n);
    mv_status rc = mv_weights_quantize(src, mats, n, t, pool, "the vision encoder", &v->qbuf, err);
    free(mats);
    return rc;
}

void mv_internvit_set_bf16_attention(mv_internvit *v, int on) { v->bf16_attention = on; }

int mv_internvit_matrices(mv_internvit *v, mv_matrix **out, int cap) {
    int n = 0;
    if (n < cap) out[n] = &v->patch_w;
    n++;
    for (int l = 0; l < v->n_layers; l++) {
        mv_matrix *mats[] = { &v->layers[l].qkv, &v->layers[l].proj, &v->layers[l].fc1, &v->layers[l].fc2 };
        for (int i = 0; i < 4; i++, n++)
            if (n < cap) out[n] = mats[i];
    }
    return n;
}
