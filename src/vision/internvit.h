/* internvit.h — the InternViT vision encoder (InternViT-300M-448px layout, InternViT-6B options).
 *
 * Input tiles are float32 pixel values, channel-first [T, 3, S, S] (S = tile side, 448); the output
 * is the hidden state selected by config select_layer, [T, N+1, C] with the CLS token first
 * (N = (S/patch)^2 patches). Weights stay in the checkpoint mmap; only small vectors are converted. */
#ifndef MV_VISION_INTERNVIT_H
#define MV_VISION_INTERNVIT_H

#include "base/threadpool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "minivl.h"

typedef struct mv_internvit mv_internvit;

/* Check every vision_model.* tensor against the config and build the encoder (views into w, which
 * must outlive it). */
mv_status mv_internvit_load(const mv_weights *w, const mv_config *cfg, mv_internvit **out, mv_error *err);
void mv_internvit_free(mv_internvit *vit);

/* The encoder's weight matrices (patch embedding, then per layer qkv, proj, fc1, fc2), for the model
 * to mark for BF16 activations (precision bf16). Fills up to cap pointers; returns how many there are. */
int mv_internvit_matrices(mv_internvit *vit, mv_matrix **out, int cap);

/* `--quantize-vision q8` at load: the encoder's matrices (all but the patch embedding, whose width
 * 588 is not whole blocks) quantized in memory; products then run on the integer GEMM. Only q8 is
 * accepted (MV_ERR_ARG otherwise). src as for mv_weights_quantize: the originals' pages released. */
mv_status mv_internvit_quantize(mv_internvit *vit, mv_qtype t, mv_pool *pool, const mv_weights *src, mv_error *err);

/* precision bf16: the attention's two products in BF16 (mv_attention_bf16) whatever the matrices'
 * storage (quantized matrices keep the integer GEMM except on AMX, float ones go BF16). */
void mv_internvit_set_bf16_attention(mv_internvit *vit, int on);

/* Geometry: tile side S in pixels, tokens per tile N+1 (CLS included), hidden width C. */
int mv_internvit_image_size(const mv_internvit *vit);
int mv_internvit_tokens(const mv_internvit *vit);
int mv_internvit_hidden(const mv_internvit *vit);

/* Tiles encoded together: their rows go through each matrix product as one (the weights are read
 * once per batch, not once per tile); the scratch grows by ~30 MB per tile of InternViT-300M. */
enum { MV_VIT_BATCH_TILES = 4 };

/* The hidden state chosen by select_layer (-1: the last layer's output, which is
 * last_hidden_state) for n_tiles tiles: out [n_tiles, N+1, C]. */
mv_status mv_internvit_forward(const mv_internvit *vit, mv_pool *pool, const float *pixel_values, int n_tiles,
                               float *out, mv_error *err);
/* The same after exactly n_layers encoder layers (0 = the embeddings), i.e. HF hidden_states[n_layers]. */
mv_status mv_internvit_forward_layers(const mv_internvit *vit, mv_pool *pool, const float *pixel_values,
                                      int n_tiles, int n_layers, float *out, mv_error *err);

#endif
