/* projector.c — pixel shuffle + mlp1 (LayerNorm eps 1e-5 -> Linear -> erf GELU -> Linear), and the
 * encoder + projector pipeline. */
#include "vision/projector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/weights_util.h"
#include "kernels/kernels.h"

struct mv_projector {
    int C, H, grid, factor, v1, tokens, width; /* width = factor^2 * C */
    float *ln_w, *ln_b;                       /* [width] */
    mv_matrix fc1, fc2;                       /* [H, width], [H, H] */
    float *fc1_b, *fc2_b;                     /* [H] */
};

/* nn.LayerNorm default, as mlp1.0 is built upstream. */
static const float PROJ_LN_EPS = 1e-5f;

/* The space-to-depth factor 1/downsample_ratio, which must be a whole number dividing the grid. */
static mv_status shuffle_geometry(const mv_config *cfg, mv_projector *p, mv_error *err) {
    int image = cfg->force_image_size > 0 ? cfg->force_image_size : cfg->vit.image_size;
    if (cfg->vit.patch_size <= 0 || image % cfg->vit.patch_size)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: image size %d is not a multiple of patch_size %d", image, cfg->vit.patch_size);
    p->grid = image / cfg->vit.patch_size;
    double inv = cfg->downsample_ratio > 0 ? 1.0 / cfg->downsample_ratio : 0;
    p->factor = (int)lround(inv);
    if (p->factor < 1 || fabs(inv - p->factor) > 1e-6 || p->grid % p->factor)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: downsample_ratio %g does not shuffle a %dx%d patch grid by a whole factor",
                            cfg->downsample_ratio, p->grid, p->grid);
    if (strcmp(cfg->ps_version, "v1") && strcmp(cfg->ps_version, "v2"))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config.json: ps_version '%s' is not supported (v1 or v2)", cfg->ps_version);
    p->v1 = strcmp(cfg->ps_version, "v1") == 0;
    int g = p->grid / p->factor;
    p->tokens = g * g;
    return MV_OK;
}

mv_status mv_projector_load(const mv_weights *w, const mv_config *cfg, mv_projector **out, mv_error *err) {
    *out = NULL;
    mv_projector *p = calloc(1, sizeof *p);
    if (!p) return mv_set_error(err, MV_ERR_NOMEM, "out of memory loading the projector");
    p->C = cfg->vit.hidden_size;
    p->H = cfg->llm.hidden_size;
    mv_status rc = shuffle_geometry(cfg, p, err);
    p->width = p->factor * p->factor * p->C;
    if (rc == MV_OK) rc = mv_weight_f32(w, "mlp1.0.weight", p->width, &p->ln_w, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, "mlp1.0.bias", p->width, &p->ln_b, err);
    if (rc == MV_OK) rc = mv_weight_matrix(w, "mlp1.1.weight", p->H, p->width, &p->fc1, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, "mlp1.1.bias", p->H, &p->fc1_b, err);
    if (rc == MV_OK) rc = mv_weight_matrix(w, "mlp1.3.weight", p->H, p->H, &p->fc2, err);
    if (rc == MV_OK) rc = mv_weight_f32(w, "mlp1.3.bias", p->H, &p->fc2_b, err);
    if (rc != MV_OK) {
        mv_projector_free(p);
        return rc;
    }
    *out = p;
    return MV_OK;
}

void mv_projector_free(mv_projector *p) {
    if (!p) return;
    free(p->ln_w);
    free(p->ln_b);
    free(p->fc1_b);
    free(p->fc2_b);
    free(p);
}

int mv_projector_tokens(const mv_projector *p) { return p->tokens; }
int mv_projector_hidden(const mv_projector *p) { return p->H; }

void mv_pixel_shuffle(const float *in, int grid, int C, int f, int v1, float *out) {
    const int g = grid / f, width = f * f * C;
    for (int i = 0; i < g; i++)
        for (int j = 0; j < g; j++) {
            float *dst = out + (size_t)(v1 ? j * g + i : i * g + j) * width;
            for (int dy = 0; dy < f; dy++)
                for (int dx = 0; dx < f; dx++)
                    memcpy(dst + (size_t)(dy * f + dx) * C, in + ((size_t)(f * i + dy) * grid + f * j + dx) * C,
                           (size_t)C * sizeof(float));
        }
}

mv_status mv_projector_forward(const mv_projector *p, mv_pool *pool, const float *vit_out, int n_tiles, float *out,
                               mv_error *err) {
    if (!p || !vit_out || !out || n_tiles < 0)
        return mv_set_error(err, MV_ERR_ARG, "projector: NULL input or negative tile count");
    if (n_tiles == 0) return MV_OK;
    /* all tiles' rows through each product at once (the caller bounds n_tiles, see mv_vision_encode) */
    const size_t n = (size_t)p->tokens, rows = n * (size_t)n_tiles, in_tile = ((size_t)p->grid * p->grid + 1) * p->C;
    float *sh = malloc(rows * p->width * sizeof(float)), *mid = malloc(rows * p->H * sizeof(float));
    if (!sh || !mid) {
        free(sh);
        free(mid);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for projector scratch");
    }
    for (int t = 0; t < n_tiles; t++)
        mv_pixel_shuffle(vit_out + t * in_tile + p->C /* skip CLS */, p->grid, p->C, p->factor, p->v1,
                         sh + (size_t)t * n * p->width);
    mv_layernorm(sh, sh, (int)rows, p->width, p->ln_w, p->ln_b, PROJ_LN_EPS);
    mv_linear(pool, mid, sh, (int)rows, &p->fc1, p->fc1_b);
    mv_gelu_erf(mid, rows * p->H);
    mv_linear(pool, out, mid, (int)rows, &p->fc2, p->fc2_b);
    free(sh);
    free(mid);
    return MV_OK;
}

mv_status mv_vision_encode(const mv_internvit *vit, const mv_projector *proj, mv_pool *pool, const float *pixel_values,
                           int n_tiles, float *out, mv_error *err) {
    if (!vit || !proj || !pixel_values || !out || n_tiles < 0)
        return mv_set_error(err, MV_ERR_ARG, "vision: NULL input or negative tile count");
    const int tokens = mv_internvit_tokens(vit), C = mv_internvit_hidden(vit), S = mv_internvit_image_size(vit);
    if (tokens != proj->grid * proj->grid + 1 || C != proj->C)
        return mv_set_error(err, MV_ERR_ARG, "vision: encoder output [%d, %d] does not match the projector input [%d, %d]",
                            tokens, C, proj->grid * proj->grid + 1, proj->C);
    const int batch = n_tiles < MV_VIT_BATCH_TILES ? n_tiles : MV_VIT_BATCH_TILES;
    float *hidden = malloc((size_t)(batch > 0 ? batch : 1) * tokens * C * sizeof(float));
    if (!hidden) return mv_set_error(err, MV_ERR_NOMEM, "out of memory for the vision encoder output");
    mv_status rc = MV_OK;
    const size_t tile_px = (size_t)3 * S * S, tile_out = (size_t)proj->tokens * proj->H;
    for (int t = 0; t < n_tiles && rc == MV_OK; t += batch) {
        const int k = n_tiles - t < batch ? n_tiles - t : batch;
        rc = mv_internvit_forward(vit, pool, pixel_values + t * tile_px, k, hidden, err);
        if (rc == MV_OK) rc = mv_projector_forward(proj, pool, hidden, k, out + t * tile_out, err);
    }
    free(hidden);
    return rc;
}

int mv_projector_matrices(mv_projector *p, mv_matrix **out, int cap) {
    if (cap > 0) out[0] = &p->fc1;
    if (cap > 1) out[1] = &p->fc2;
    return 2;
}
