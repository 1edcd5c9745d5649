/* vlm.h — the model as a whole: config, weights, tokenizer, vision encoder, projector, LLM.
 * Internal; the public face is mv_model in minivl.h. */
#ifndef MV_VLM_H
#define MV_VLM_H

#include "base/threadpool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "llm/llm.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "vision/internvit.h"
#include "vision/preprocess.h"
#include "vision/projector.h"

struct mv_model {
    char *dir;
    mv_config cfg;
    mv_weights *weights;
    mv_tokenizer *tok;
    mv_internvit *vit;
    mv_projector *proj;
    mv_llm *llm;
    mv_pool *pool;
    const mv_chat_template *tmpl;
    int32_t img_start_id, img_end_id, img_context_id; /* <img>, </img>, <IMG_CONTEXT> */
    int32_t end_id;        /* the template's separator token: generation stops there */
    int32_t eos_id;        /* llm_config eos (also stops) */
    int context_length;
    int max_tiles;
    size_t max_pixels;
    int n_threads;
    double load_ms;
    mv_precision precision;
    mv_kv_type kv_cache;   /* MV_KV_F32 or MV_KV_F16 (AUTO resolved at load) */
};

/* precision.c: mark the vision, projector and decoder-layer float matrices for BF16 activations. */
mv_status mv_model_mark_bf16(mv_model *m, mv_error *err);

double mv_now_ms(void);

/* Preprocess images → tiles, encode them → image embeddings [sum tiles * tokens_per_tile, H].
 * pixel_values (optional out) receives the normalised tiles [T,3,S,S] for dumping. */
typedef struct mv_image_batch {
    int n_images;
    mv_tiles *tiles;       /* per image */
    int *tiles_per_image;
    int total_tiles;
} mv_image_batch;

mv_status mv_images_preprocess(const mv_model *m, const mv_image *const *images, int n, int max_tiles,
                               mv_image_batch *out, mv_error *err);
void mv_image_batch_free(mv_image_batch *b);
/* Normalise and encode images [first, n) of the batch; out [tiles, tokens_per_tile, H]. pixel_out optional. */
mv_status mv_images_encode(const mv_model *m, const mv_image_batch *b, int first, float *embeds_out,
                           float *pixel_out, mv_error *err);

#endif
