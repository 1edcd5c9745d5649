/* projector.h — InternVL's vision-to-LLM projector: drop CLS, pixel shuffle (space-to-depth by
 * 1/downsample_ratio, ps_version v1 or v2 token order), then mlp1 = LayerNorm -> Linear -> GELU -> Linear.
 * Also mv_vision_encode: encoder + projector, pixel tiles in, LLM-width image embeddings out. */
#ifndef MV_VISION_PROJECTOR_H
#define MV_VISION_PROJECTOR_H

#include "base/threadpool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "minivl.h"
#include "vision/internvit.h"

typedef struct mv_projector mv_projector;

/* Check the mlp1.* tensors against the config (vision width C, LLM width H) and build the projector
 * (views into w, which must outlive it). */
mv_status mv_projector_load(const mv_weights *w, const mv_config *cfg, mv_projector **out, mv_error *err);
void mv_projector_free(mv_projector *p);
/* Its two matrices (fc1, fc2) for BF16 activations, as mv_internvit_matrices. */
int mv_projector_matrices(mv_projector *p, mv_matrix **out, int cap);

/* Output tokens per tile ((grid / factor)^2, 256 for InternVL2) and output width H. */
int mv_projector_tokens(const mv_projector *p);
int mv_projector_hidden(const mv_projector *p);

/* vit_out [n_tiles, grid^2 + 1, C] (CLS first) -> out [n_tiles, tokens, H]. */
mv_status mv_projector_forward(const mv_projector *p, mv_pool *pool, const float *vit_out, int n_tiles, float *out,
                               mv_error *err);

/* Space-to-depth of one tile's patch grid: in [grid, grid, C] (row-major patches), out
 * [(grid/f)^2, f*f*C]. Output token (i, j) holds patch (f*i + dy, f*j + dx) at feature offset
 * (dy*f + dx)*C; v2 orders tokens row-major (i*(grid/f) + j), v1 (upstream's older order) column-major. */
void mv_pixel_shuffle(const float *in, int grid, int C, int f, int v1, float *out);

/* Encoder + projector: pixel_values [n_tiles, 3, S, S] -> out [n_tiles, tokens, H], one tile at a
 * time so only one tile's encoder output is held. */
mv_status mv_vision_encode(const mv_internvit *vit, const mv_projector *proj, mv_pool *pool, const float *pixel_values,
                           int n_tiles, float *out, mv_error *err);

#endif
