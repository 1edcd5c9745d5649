/* vlm.c — loading a checkpoint directory as one model, and the image path from pixels to
 * embeddings (preprocess → InternViT → pixel shuffle + mlp1). */
#include "vlm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "io/tensor_spec.h"
#include "kernels/quant.h"

double mv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

mv_model_params mv_model_default_params(void) {
    mv_model_params p = { 0 };
    return p;
}

static mv_status lookup_token(const mv_model *m, const char *text, int32_t *id, mv_error *err) {
    *id = mv_tok_token_id(m->tok, text, strlen(text));
    if (*id < 0) return mv_set_error(err, MV_ERR_FORMAT, "%s: tokenizer has no token \"%s\" the template needs", m->dir, text);
    return MV_OK;
}

/* A quantization type named in the params (NULL or "": none); an unknown name is refused, naming the
 * field and the types it takes. */
static mv_status param_qtype(const char *name, const char *field, const char *offered, mv_qtype *out, mv_error *err) {
    *out = name && *name ? mv_qtype_parse(name) : MV_Q_NONE;
    if (name && *name && *out == MV_Q_NONE)
        return mv_set_error(err, MV_ERR_ARG, "%s: '%s' is not a quantization type (%s)", field, name, offered);
    return MV_OK;
}

static mv_status load_parts(mv_model *m, const mv_model_params *p, mv_error *err) {
    mv_qtype quant, vquant;
    mv_status rc = param_qtype(p->quantize, "quantize", "q8, q4", &quant, err);
    if (rc == MV_OK) rc = param_qtype(p->quantize_vision, "quantize_vision", "q8", &vquant, err);
    if (rc != MV_OK) return rc;
    if (p->kv_cache != MV_KV_AUTO && p->kv_cache != MV_KV_F32 && p->kv_cache != MV_KV_F16)
        return mv_set_error(err, MV_ERR_ARG, "mv_model_params.kv_cache: unknown value %d", (int)p->kv_cache);
    rc = mv_config_load_dir(m->dir, &m->cfg, err);
    if (rc != MV_OK) return rc;
    m->tmpl = mv_chat_template_find(m->cfg.template_name);
    if (!m->tmpl)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s/config.json: template \"%s\" is not supported (supported: %s)",
                            m->dir, m->cfg.template_name, mv_chat_template_names());
    if ((rc = mv_weights_open_dir(m->dir, &m->weights, err)) != MV_OK) return rc;
    if ((rc = mv_spec_validate(m->weights, &m->cfg, err)) != MV_OK) return rc;
    if ((rc = mv_tokenizer_load_dir(m->dir, &m->tok, err)) != MV_OK) return rc;
    if ((rc = lookup_token(m, "<img>", &m->img_start_id, err)) != MV_OK) return rc;
    if ((rc = lookup_token(m, "</img>", &m->img_end_id, err)) != MV_OK) return rc;
    if ((rc = lookup_token(m, "<IMG_CONTEXT>", &m->img_context_id, err)) != MV_OK) return rc;
    if ((rc = lookup_token(m, m->tmpl->end_token, &m->end_id, err)) != MV_OK) return rc;
    m->eos_id = m->cfg.llm.eos_token_id;
    if ((rc = mv_internvit_load(m->weights, &m->cfg, &m->vit, err)) != MV_OK) return rc;
    if ((rc = mv_projector_load(m->weights, &m->cfg, &m->proj, err)) != MV_OK) return rc;
    if ((rc = mv_llm_load(m->weights, &m->cfg, &m->llm, err)) != MV_OK) return rc;
    m->n_threads = p->n_threads > 0 ? p->n_threads : (mv_cpu_count() < 256 ? mv_cpu_count() : 256);
    if (!(m->pool = mv_pool_create(m->n_threads))) return mv_set_error(err, MV_ERR_NOMEM, "cannot start %d threads", m->n_threads);
    if (vquant != MV_Q_NONE && (rc = mv_internvit_quantize(m->vit, vquant, m->pool, m->weights, err)) != MV_OK) return rc;
    if (quant != MV_Q_NONE && (rc = mv_llm_quantize(m->llm, quant, m->pool, m->weights, err)) != MV_OK) return rc;
    int max_ctx = m->cfg.llm.max_position_embeddings < 32768 ? m->cfg.llm.max_position_embeddings : 32768;
    m->context_length = p->context_length > 0 && p->context_length < max_ctx ? p->context_length : max_ctx;
    m->max_tiles = p->max_tiles > 0 ? p->max_tiles : m->cfg.max_dynamic_patch;
    m->max_pixels = p->max_pixels ? p->max_pixels : MV_DEFAULT_MAX_PIXELS;
    if (p->precision != MV_PRECISION_F32 && p->precision != MV_PRECISION_BF16)
        return mv_set_error(err, MV_ERR_ARG, "mv_model_params.precision: unknown value %d", (int)p->precision);
    m->precision = p->precision;
    /* auto: the reference path keeps its exact cache; a fast path already trades exactness for speed */
    const int fast = m->precision == MV_PRECISION_BF16 || mv_llm_is_quantized(m->llm);
    m->kv_cache = p->kv_cache != MV_KV_AUTO ? p->kv_cache : fast ? MV_KV_F16 : MV_KV_F32;
    if (m->precision == MV_PRECISION_BF16) return mv_model_mark_bf16(m, err);
    return MV_OK;
}

mv_status mv_model_load(const char *dir, const mv_model_params *params, mv_model **out, mv_error *err) {
    *out = NULL;
    double t0 = mv_now_ms();
    mv_model_params defaults = mv_model_default_params();
    if (!dir) return mv_set_error(err, MV_ERR_ARG, "no model directory given");
    mv_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    }
    mv_status rc = load_parts(m, params ? params : &defaults, err);
    if (rc != MV_OK) { mv_model_free(m); return rc; }
    m->load_ms = mv_now_ms() - t0;
    *out = m;
    return MV_OK;
}

void mv_model_free(mv_model *m) {
    if (!m) return;
    mv_pool_free(m->pool);
    mv_llm_free(m->llm);
    mv_projector_free(m->proj);
    mv_internvit_free(m->vit);
    mv_tokenizer_free(m->tok);
    mv_weights_close(m->weights);
    free(m->dir);
    free(m);
}

void mv_model_get_info(const mv_model *m, mv_model_info *info) {
    memset(info, 0, sizeof *info);
    info->architecture = m->cfg.llm.architecture;
    info->template_name = m->cfg.template_name;
    info->vocab_size = m->cfg.llm.vocab_size;
    info->context_length = m->context_length;
    info->max_tiles = m->max_tiles;
    info->image_size = m->cfg.force_image_size;
    info->tokens_per_tile = m->cfg.num_image_token;
    info->weights_bytes = mv_weights_bytes(m->weights);
    for (size_t i = 0; i < mv_weights_count(m->weights); i++) info->n_params += (uint64_t)mv_weights_at(m->weights, i)->numel;
    info->n_threads = m->n_threads;
    info->load_ms = m->load_ms;
    info->precision = m->precision;
    info->bf16_kernel = mv_bf16_kernel();
    info->kv_cache = m->kv_cache;
}

mv_status mv_tokenize(const mv_model *m, const char *text, size_t len, int32_t **ids, size_t *n_ids, mv_error *err) {
    return mv_tokenizer_encode_text(m->tok, text, len, ids, n_ids, err);
}

mv_status mv_detokenize(const mv_model *m, const int32_t *ids, size_t n_ids, char **text, mv_error *err) {
    return mv_tokenizer_decode_ids(m->tok, ids, n_ids, text, err);
}

int32_t mv_token_id(const mv_model *m, const char *token) { return mv_tok_token_id(m->tok, token, strlen(token)); }

/* ------------------------------------------------------------------ images */

mv_status mv_images_preprocess(const mv_model *m, const mv_image *const *images, int n, int max_tiles,
                               mv_image_batch *out, mv_error *err) {
    memset(out, 0, sizeof *out);
    if (n <= 0) return MV_OK;
    out->tiles = calloc((size_t)n, sizeof *out->tiles);
    out->tiles_per_image = calloc((size_t)n, sizeof *out->tiles_per_image);
    if (!out->tiles || !out->tiles_per_image) { mv_image_batch_free(out); return mv_set_error(err, MV_ERR_NOMEM, "out of memory"); }
    const mv_config *c = &m->cfg;
    int budget = max_tiles > 0 ? max_tiles : m->max_tiles;
    if (!c->dynamic_image_size) budget = 1;
    for (int i = 0; i < n; i++) {
        mv_status rc = mv_preprocess(images[i], c->force_image_size, c->min_dynamic_patch, budget, c->use_thumbnail,
                                     &out->tiles[i], err);
        if (rc != MV_OK) { mv_image_batch_free(out); return mv_error_prefix(err, "image %d: ", i + 1); }
        out->n_images = i + 1;
        out->tiles_per_image[i] = out->tiles[i].count;
        out->total_tiles += out->tiles[i].count;
    }
    return MV_OK;
}

void mv_image_batch_free(mv_image_batch *b) {
    for (int i = 0; b->tiles && i < b->n_images; i++) mv_tiles_free(&b->tiles[i]);
    free(b->tiles);
    free(b->tiles_per_image);
    memset(b, 0, sizeof *b);
}

mv_status mv_images_encode(const mv_model *m, const mv_image_batch *b, int first, float *embeds_out,
                           float *pixel_out, mv_error *err) {
    int S = m->cfg.force_image_size, T = 0;
    for (int i = first; i < b->n_images; i++) T += b->tiles[i].count;
    if (T == 0) return MV_OK;
    size_t tile_floats = (size_t)3 * S * S;
    float *pixels = pixel_out ? pixel_out : malloc((size_t)T * tile_floats * sizeof *pixels);
    if (!pixels) return mv_set_error(err, MV_ERR_NOMEM, "out of memory for %d image tiles", T);
    size_t off = 0;
    for (int i = first; i < b->n_images; i++) {
        mv_tiles_normalize(&b->tiles[i], pixels + off);
        off += (size_t)b->tiles[i].count * tile_floats;
    }
    mv_status rc = mv_vision_encode(m->vit, m->proj, m->pool, pixels, T, embeds_out, err);
    if (!pixel_out) free(pixels);
    return rc;
}
