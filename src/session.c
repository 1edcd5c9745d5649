/* session.c — one conversation with a model: prompt building, prefix reuse of the KV cache, the
 * vision splice, prefill, and the generation loop with streaming, stop tokens and stop strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "text/sampler.h"
#include "vlm.h"

typedef struct text_out {
    char *s;           /* all complete text generated so far */
    size_t len, cap;
    size_t emitted;    /* bytes already passed to the callback */
    int failed;
} text_out;

static void text_append(text_out *t, const char *p, size_t n) {
    if (t->failed || n == 0) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->len + n + 1) cap *= 2;
        char *g = realloc(t->s, cap);
        if (!g) { t->failed = 1; return; }
        t->s = g;
        t->cap = cap;
    }
    memcpy(t->s + t->len, p, n);
    t->len += n;
    t->s[t->len] = 0;
}

/* Where a stop string occurs (its start), or -1. */
static long find_stop(const text_out *t, const mv_generate_params *p) {
    long best = -1;
    for (int i = 0; i < p->n_stop; i++) {
        if (!p->stop[i] || !*p->stop[i]) continue;
        const char *hit = t->s ? strstr(t->s, p->stop[i]) : NULL;
        if (hit && (best < 0 || hit - t->s < best)) best = hit - t->s;
    }
    return best;
}

/* Bytes at the end of the text that could begin a stop string must wait for more text. */
static size_t held_back(const text_out *t, const mv_generate_params *p) {
    size_t hold = 0;
    for (int i = 0; i < p->n_stop; i++) {
        const char *st = p->stop[i];
        if (!st) continue;
        size_t sl = strlen(st);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= t->len && memcmp(t->s + t->len - k, st, k) == 0) { hold = k; break; }
    }
    return hold;
}

/* Pass text up to `upto` to the callback; returns non-zero when the caller asked to stop. */
static int emit_upto(text_out *t, const mv_generate_params *p, size_t upto, int32_t token) {
    if (upto <= t->emitted) return 0;
    int stop = p->on_token ? p->on_token(p->user, t->s + t->emitted, upto - t->emitted, token) : 0;
    t->emitted = upto;
    return stop;
}

static mv_status push_output(mv_result *r, int32_t tok, size_t *cap) {
    if (r->n_output_ids + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t *g = realloc(r->output_ids, nc * sizeof *g);
        if (!g) return MV_ERR_NOMEM;
        r->output_ids = g;
        *cap = nc;
    }
    r->output_ids[r->n_output_ids++] = tok;
    return MV_OK;
}

/* A generation between mv_session_begin and mv_session_end: one token per mv_batch_decode step. */
typedef struct gen_state {
    int begun, finished;
    mv_generate_params p;
    mv_result r;
    float *logits;          /* [V] of the last position */
    void *scratch;
    mv_rng rng;
    mv_tok_stream *ds;
    text_out t;
    size_t out_cap;
    int step;
    int32_t next_tok;       /* sampled, waiting for its forward pass */
    double t0;
    mv_status rc;           /* first error; reported by mv_session_end */
    mv_error err;
} gen_state;

struct mv_session {
    mv_model *model;
    mv_kv_cache *kv;
    int32_t *ids;      /* tokens whose keys/values are in the cache */
    uint64_t *tags;    /* per position: 0 for text, an image fingerprint for image tokens */
    size_t n;          /* == cache length */
    size_t cap;
    gen_state gen;
};

mv_generate_params mv_generate_default_params(void) {
    mv_generate_params p;
    memset(&p, 0, sizeof p);
    p.sampling.temperature = 0.0f;
    p.sampling.top_k = 0;
    p.sampling.top_p = 1.0f;
    p.sampling.repeat_penalty = 1.0f;
    p.sampling.seed = 0;
    p.max_new_tokens = 512;
    p.stop_at_eos = 1;
    return p;
}

void mv_result_free(mv_result *r) {
    if (!r) return;
    free(r->text);
    free(r->input_ids);
    free(r->output_ids);
    free(r->tiles);
    memset(r, 0, sizeof *r);
}

mv_status mv_session_create(mv_model *model, mv_session **out, mv_error *err) {
    *out = NULL;
    if (!model) return mv_set_error(err, MV_ERR_ARG, "no model");
    mv_session *s = calloc(1, sizeof *s);
    if (!s) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    s->model = model;
    s->cap = (size_t)model->context_length;
    s->ids = malloc(s->cap * sizeof *s->ids);
    s->tags = malloc(s->cap * sizeof *s->tags);
    s->kv = mv_kv_create(model->llm, model->context_length, model->kv_cache == MV_KV_F16 ? MV_F16 : MV_F32);
    if (!s->ids || !s->tags || !s->kv) {
        mv_session_free(s);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for a %d-token context", model->context_length);
    }
    *out = s;
    return MV_OK;
}

void mv_session_free(mv_session *s) {
    if (!s) return;
    if (s->gen.begun) {
        mv_result r;
        mv_session_end(s, &r, NULL);
        mv_result_free(&r);
    }
    mv_kv_free(s->kv);
    free(s->ids);
    free(s->tags);
    free(s);
}

/* ------------------------------------------------------------------ raw tokens */

void mv_session_truncate(mv_session *s, int n) {
    if (!s || n < 0 || (size_t)n >= s->n) return;
    mv_kv_truncate(s->kv, n);
    s->n = (size_t)n;
}

int mv_session_length(const mv_session *s) { return s ? (int)s->n : 0; }

mv_status mv_session_eval(mv_session *s, const int32_t *ids, size_t n, float *logits, mv_error *err) {
    if (!s || (!ids && n)) return mv_set_error(err, MV_ERR_ARG, "no session or token ids");
    if (n == 0) return MV_OK;
    mv_model *m = s->model;
    if (n > s->cap - s->n)
        return mv_set_error(err, MV_ERR_CONTEXT, "%zu tokens after %zu do not fit the %zu-token context", n, s->n, s->cap);
    const size_t H = (size_t)mv_llm_hidden(m->llm);
    float *embeds = malloc(n * H * sizeof *embeds);
    if (!embeds) return mv_set_error(err, MV_ERR_NOMEM, "out of memory for %zu token embeddings", n);
    mv_status rc = mv_llm_embed(m->llm, ids, (int)n, embeds, err);
    if (rc == MV_OK) rc = mv_llm_forward(m->llm, m->pool, s->kv, embeds, (int)n, logits, err);
    free(embeds);
    if (rc != MV_OK) return rc;
    memcpy(s->ids + s->n, ids, n * sizeof *ids);
    memset(s->tags + s->n, 0, n * sizeof *s->tags);
    s->n += n;
    return MV_OK;
}

/* ------------------------------------------------------------------ prompt */

static int count_images(const mv_message *msgs, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += msgs[i].n_images > 0 ? msgs[i].n_images : 0;
    return k;
}

/* All images of the conversation in order (callers free the array, not the images). */
static mv_status collect_images(const mv_message *msgs, int n, const mv_image ***out, int *count, mv_error *err) {
    *count = count_images(msgs, n);
    *out = calloc((size_t)(*count ? *count : 1), sizeof **out);
    if (!*out) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < msgs[i].n_images; j++) {
            if (!msgs[i].images || !msgs[i].images[j]) {
                free(*out);
                *out = NULL;
                return mv_set_error(err, MV_ERR_ARG, "message %d: image %d is NULL", i, j);
            }
            (*out)[k++] = msgs[i].images[j];
        }
    return MV_OK;
}

/* The prompt string for these messages, given each image's tile count. */
static mv_status prompt_text(const mv_model *m, const mv_message *msgs, int n_msgs, const int *tiles, char **prompt,
                             mv_error *err) {
    const char *system = m->cfg.system_message[0] ? m->cfg.system_message : NULL;
    return mv_chat_build_prompt(m->tmpl, system, msgs, n_msgs, tiles, m->cfg.num_image_token, prompt, err);
}

mv_status mv_build_prompt(mv_model *m, const mv_message *msgs, int n_msgs, int max_tiles, char **prompt, mv_error *err) {
    const mv_image **images;
    int n_images;
    mv_status rc = collect_images(msgs, n_msgs, &images, &n_images, err);
    if (rc != MV_OK) return rc;
    mv_image_batch batch;
    rc = mv_images_preprocess(m, images, n_images, max_tiles, &batch, err);
    if (rc == MV_OK)
        rc = prompt_text(m, msgs, n_msgs, batch.tiles_per_image, prompt, err);
    mv_image_batch_free(&batch);
    free(images);
    return rc;
}

/* ------------------------------------------------------------------ one request */

typedef struct request {
    mv_session *s;
    const mv_generate_params *p;
    mv_result *r;
    mv_image_batch batch;
    uint64_t *image_tags;   /* per image */
    int32_t *ids;
    size_t n_ids;
    uint64_t *tags;         /* per prompt position */
    size_t prefix;          /* positions reused from the cache */
    float *logits;          /* [V] */
} request;

static uint64_t fingerprint_tiles(const mv_tiles *t, int image_size) {
    uint64_t h = 1469598103934665603ull;
    size_t n = (size_t)t->count * (size_t)image_size * (size_t)image_size * 3;
    for (size_t i = 0; i < n; i++) h = (h ^ t->rgb[i]) * 1099511628211ull;
    h ^= (uint64_t)t->count << 56;
    return h ? h : 1;
}

/* SentencePiece models (InternLM2, Phi-3) start the prompt with BOS, as their tokenizers'
 * add_bos_token says; Qwen2 has none. */
static mv_status prepend_bos(const mv_model *m, request *q, mv_error *err) {
    int32_t bos = mv_tok_bos_id(m->tok);
    if (bos < 0) return MV_OK;
    int32_t *ids = realloc(q->ids, (q->n_ids + 1) * sizeof *ids);
    if (!ids) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    memmove(ids + 1, ids, q->n_ids * sizeof *ids);
    ids[0] = bos;
    q->ids = ids;
    q->n_ids++;
    return MV_OK;
}

static mv_status tokenize_prompt(request *q, const mv_message *msgs, int n_msgs, mv_error *err) {
    mv_model *m = q->s->model;
    char *prompt = NULL;
    mv_status rc = prompt_text(m, msgs, n_msgs, q->batch.tiles_per_image, &prompt, err);
    if (rc == MV_OK) rc = mv_tokenizer_encode_text(m->tok, prompt, strlen(prompt), &q->ids, &q->n_ids, err);
    free(prompt);
    if (rc == MV_OK) rc = prepend_bos(m, q, err);
    if (rc != MV_OK) return rc;
    if (q->n_ids == 0) return mv_set_error(err, MV_ERR_ARG, "the prompt is empty");
    if (q->n_ids > (size_t)m->context_length)
        return mv_set_error(err, MV_ERR_CONTEXT, "the prompt is %zu tokens but the context holds %d", q->n_ids, m->context_length);
    q->tags = calloc(q->n_ids, sizeof *q->tags);
    if (!q->tags) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    /* Tag image positions with their image's fingerprint; the count must match the tiles. */
    size_t per_image_tok = 0, img = 0, seen = 0, expected = (size_t)q->batch.total_tiles * (size_t)m->cfg.num_image_token;
    for (size_t i = 0; i < q->n_ids; i++) {
        if (q->ids[i] != m->img_context_id) continue;
        while (img < (size_t)q->batch.n_images &&
               per_image_tok >= (size_t)q->batch.tiles_per_image[img] * (size_t)m->cfg.num_image_token) {
            img++;
            per_image_tok = 0;
        }
        if (img >= (size_t)q->batch.n_images) break;
        q->tags[i] = q->image_tags[img] ^ (uint64_t)per_image_tok;
        per_image_tok++;
        seen++;
    }
    size_t total = 0;
    for (size_t i = 0; i < q->n_ids; i++) total += q->ids[i] == m->img_context_id;
    if (total != expected || seen != expected)
        return mv_set_error(err, MV_ERR_ARG, "the prompt holds %zu <IMG_CONTEXT> tokens but its images need %zu (do not write <IMG_CONTEXT> in text)",
                            total, expected);
    return MV_OK;
}

/* Longest common prefix with the cache; at least one prompt token is always recomputed so the
 * request gets fresh logits. A dump needs every image encoded, so it disables reuse of images. */
static void choose_prefix(request *q) {
    mv_session *s = q->s;
    size_t n = 0;
    while (n < s->n && n < q->n_ids && s->ids[n] == q->ids[n] && s->tags[n] == q->tags[n]) n++;
    if (n >= q->n_ids) n = q->n_ids - 1;
    q->prefix = n;
    mv_kv_truncate(s->kv, (int)n);
    s->n = n;
}

/* Index of the first image with a token after the reused prefix. */
static int first_image_needed(const request *q) {
    mv_model *m = q->s->model;
    size_t count = 0, tokens_before = 0;
    int img = 0;
    for (size_t i = 0; i < q->n_ids && img < q->batch.n_images; i++) {
        if (q->ids[i] != m->img_context_id) continue;
        if (i >= q->prefix) return img;
        if (++count == tokens_before + (size_t)q->batch.tiles_per_image[img] * (size_t)m->cfg.num_image_token) {
            tokens_before = count;
            img++;
        }
    }
    return img;
}

static mv_status write_dump(const request *q, const float *pixels, const float *embeds, mv_error *err) {
    mv_model *m = q->s->model;
    int T = q->batch.total_tiles, S = m->cfg.force_image_size, H = mv_llm_hidden(m->llm), V = mv_llm_vocab(m->llm);
    mv_st_writer *w = mv_stw_new();
    if (!w) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    const int64_t pv_shape[4] = { T, 3, S, S }, ve_shape[3] = { T, m->cfg.num_image_token, H }, lg_shape[1] = { V };
    mv_status rc = MV_OK;
    if (T > 0) {
        rc = mv_stw_add(w, "pixel_values", MV_F32, 4, pv_shape, pixels, err);
        if (rc == MV_OK) rc = mv_stw_add(w, "vit_embeds", MV_F32, 3, ve_shape, embeds, err);
    }
    if (rc == MV_OK) rc = mv_stw_add(w, "logits_last", MV_F32, 1, lg_shape, q->logits, err);
    if (rc == MV_OK) rc = mv_stw_write(w, q->p->dump_tensors_path, err);
    mv_stw_free(w);
    return rc;
}

/* Encode the images the prefill needs, embed the new tokens with the image rows spliced in, and
 * run the prompt through the LLM. */
static mv_status prefill(request *q, mv_error *err) {
    mv_session *s = q->s;
    mv_model *m = s->model;
    const int H = mv_llm_hidden(m->llm), S = m->cfg.force_image_size, per_tile = m->cfg.num_image_token;
    int first = q->p->dump_tensors_path ? 0 : first_image_needed(q);
    size_t rows_before = 0, rows = 0, pixels_n = 0;
    for (int i = 0; i < q->batch.n_images; i++) {
        size_t r = (size_t)q->batch.tiles_per_image[i] * (size_t)per_tile;
        if (i < first) rows_before += r;
        else { rows += r; pixels_n += (size_t)q->batch.tiles_per_image[i] * 3 * (size_t)S * (size_t)S; }
    }
    size_t n_new = q->n_ids - q->prefix;
    float *embeds = malloc((rows ? rows : 1) * (size_t)H * sizeof *embeds);
    float *tokens = malloc(n_new * (size_t)H * sizeof *tokens);
    float *pixels = q->p->dump_tensors_path && pixels_n ? malloc(pixels_n * sizeof *pixels) : NULL;
    mv_status rc = (embeds && tokens && (pixels || !q->p->dump_tensors_path || !pixels_n)) ? MV_OK
                   : mv_set_error(err, MV_ERR_NOMEM, "out of memory for the prompt embeddings");
    double t0 = mv_now_ms();
    if (rc == MV_OK && rows) rc = mv_images_encode(m, &q->batch, first, embeds, pixels, err);
    double t1 = mv_now_ms();
    q->r->timings.vision_ms = t1 - t0;
    if (rc == MV_OK) rc = mv_llm_embed(m->llm, q->ids + q->prefix, (int)n_new, tokens, err);
    if (rc == MV_OK) {
        size_t row = 0;
        for (size_t i = 0; i < q->n_ids; i++) {
            if (q->ids[i] != m->img_context_id) continue;
            if (i >= q->prefix)
                memcpy(tokens + (i - q->prefix) * (size_t)H, embeds + (row - rows_before) * (size_t)H, (size_t)H * sizeof *tokens);
            row++;
        }
        rc = mv_llm_forward(m->llm, m->pool, s->kv, tokens, (int)n_new, q->logits, err);
    }
    q->r->timings.prefill_ms = mv_now_ms() - t1;
    q->r->timings.prefill_tokens = (int)n_new;
    if (rc == MV_OK) {
        memcpy(s->ids + q->prefix, q->ids + q->prefix, n_new * sizeof *s->ids);
        memcpy(s->tags + q->prefix, q->tags + q->prefix, n_new * sizeof *s->tags);
        s->n = q->n_ids;
    } else {
        mv_kv_truncate(s->kv, (int)q->prefix);
    }
    if (rc == MV_OK && q->p->dump_tensors_path) rc = write_dump(q, pixels, embeds, err);
    free(pixels);
    free(tokens);
    free(embeds);
    return rc;
}

/* ------------------------------------------------------------------ generation */

static void gen_release(gen_state *g) {
    mv_tok_stream_free(g->ds);
    free(g->scratch);
    free(g->logits);
    g->ds = NULL;
    g->scratch = NULL;
    g->logits = NULL;
}

/* The generation is over: pass the rest of the text to the callback and fill the result. */
static void gen_finish(gen_state *g, mv_finish finish) {
    if (g->finished) return;
    g->finished = 1;
    g->r.finish = finish;
    if (g->rc == MV_OK && finish == MV_FINISH_LENGTH) {
        const char *piece;
        size_t piece_len;
        g->rc = mv_tok_stream_flush(g->ds, &piece, &piece_len, &g->err);
        if (g->rc == MV_OK) text_append(&g->t, piece, piece_len);
    }
    if (g->rc == MV_OK && finish != MV_FINISH_CANCELLED) emit_upto(&g->t, &g->p, g->t.len, -1);
    g->r.timings.decode_ms = mv_now_ms() - g->t0;
    g->r.timings.decode_tokens = (int)g->r.n_output_ids;
    if (g->rc == MV_OK && g->t.failed) g->rc = mv_set_error(&g->err, MV_ERR_NOMEM, "out of memory");
    g->r.text = g->t.s ? g->t.s : calloc(1, 1);
    if (g->t.s) g->t.s[g->t.len] = 0;
    g->t.s = NULL;
    if (g->rc == MV_OK && !g->r.text) g->rc = mv_set_error(&g->err, MV_ERR_NOMEM, "out of memory");
    gen_release(g);
}

static void gen_fail(gen_state *g, mv_status rc, const mv_error *err) {
    if (g->rc == MV_OK) {
        g->rc = rc;
        if (err) g->err = *err;
        g->err.code = rc;
    }
    gen_finish(g, MV_FINISH_CANCELLED);
}

/* Sample the next token, stream its text and apply the stop rules. Returns 1 when the token must
 * still run through the model (the generation goes on), 0 when the generation has finished. */
static int gen_sample(mv_session *s) {
    gen_state *g = &s->gen;
    mv_model *m = s->model;
    if (g->step >= g->p.max_new_tokens) { gen_finish(g, MV_FINISH_LENGTH); return 0; }
    int32_t tok = mv_sample(&g->p.sampling, g->logits, mv_llm_vocab(m->llm), s->ids, s->n, &g->rng, g->scratch);
    g->step++;
    if (push_output(&g->r, tok, &g->out_cap) != MV_OK) {
        gen_fail(g, mv_set_error(&g->err, MV_ERR_NOMEM, "out of memory"), NULL);
        return 0;
    }
    if (g->p.stop_at_eos && (tok == m->end_id || tok == m->eos_id)) { gen_finish(g, MV_FINISH_STOP); return 0; }
    const char *piece;
    size_t piece_len;
    mv_error e;
    mv_status rc = mv_tok_stream_push(g->ds, tok, &piece, &piece_len, &e);
    if (rc != MV_OK) { gen_fail(g, rc, &e); return 0; }
    text_append(&g->t, piece, piece_len);
    long stop_at = find_stop(&g->t, &g->p);
    if (stop_at >= 0) {
        g->t.len = (size_t)stop_at;
        emit_upto(&g->t, &g->p, g->t.len, tok);
        gen_finish(g, MV_FINISH_STOP);
        return 0;
    }
    if (emit_upto(&g->t, &g->p, g->t.len - held_back(&g->t, &g->p), tok)) { gen_finish(g, MV_FINISH_CANCELLED); return 0; }
    if (g->step == g->p.max_new_tokens || s->n >= s->cap) { gen_finish(g, MV_FINISH_LENGTH); return 0; }
    g->next_tok = tok;
    return 1;
}

/* The forward pass of the sampled token succeeded: it is now in the cache. */
static void gen_commit(mv_session *s) {
    s->ids[s->n] = s->gen.next_tok;
    s->tags[s->n] = 0;
    s->n++;
}

/* One forward pass over the sampled tokens of k sessions (k >= 1), each on its own KV cache. */
static mv_status batch_forward(mv_session *const *ss, int k, mv_error *err) {
    mv_model *m = ss[0]->model;
    const size_t H = (size_t)mv_llm_hidden(m->llm), V = (size_t)mv_llm_vocab(m->llm);
    float *embeds = malloc((size_t)k * H * sizeof *embeds);
    float *logits = malloc((size_t)k * V * sizeof *logits);
    mv_kv_cache **kvs = malloc((size_t)k * sizeof *kvs);
    mv_status rc = embeds && logits && kvs ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == MV_OK && i < k; i++) {
        kvs[i] = ss[i]->kv;
        rc = mv_llm_embed(m->llm, &ss[i]->gen.next_tok, 1, embeds + (size_t)i * H, err);
    }
    if (rc == MV_OK) rc = mv_llm_forward_batch(m->llm, m->pool, kvs, embeds, k, logits, err);
    for (int i = 0; rc == MV_OK && i < k; i++) memcpy(ss[i]->gen.logits, logits + (size_t)i * V, V * sizeof *logits);
    free(embeds);
    free(logits);
    free(kvs);
    return rc;
}

mv_status mv_batch_decode(mv_session *const *sessions, int n, mv_error *err) {
    if (n < 0 || (n > 0 && !sessions)) return mv_set_error(err, MV_ERR_ARG, "mv_batch_decode: no sessions");
    for (int i = 0; i < n; i++) {
        if (!sessions[i] || sessions[i]->model != sessions[0]->model)
            return mv_set_error(err, MV_ERR_ARG, "mv_batch_decode: session %d is NULL or belongs to another model", i);
        for (int j = 0; j < i; j++)
            if (sessions[j] == sessions[i]) return mv_set_error(err, MV_ERR_ARG, "mv_batch_decode: session %d is listed twice", i);
    }
    mv_session **go = malloc((size_t)(n ? n : 1) * sizeof *go);
    if (!go) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++)
        if (mv_session_active(sessions[i]) && gen_sample(sessions[i])) go[k++] = sessions[i];
    mv_error e;
    mv_status rc = k ? batch_forward(go, k, &e) : MV_OK;
    for (int i = 0; i < k; i++) {
        if (rc == MV_OK) gen_commit(go[i]);
        else {
            mv_kv_truncate(go[i]->kv, (int)go[i]->n);
            gen_fail(&go[i]->gen, rc, &e);
        }
    }
    free(go);
    return MV_OK;
}

int mv_session_active(const mv_session *s) { return s && s->gen.begun && !s->gen.finished; }

mv_status mv_session_end(mv_session *s, mv_result *out, mv_error *err) {
    memset(out, 0, sizeof *out);
    if (!s || !s->gen.begun) return mv_set_error(err, MV_ERR_ARG, "mv_session_end: no generation was begun");
    gen_state *g = &s->gen;
    gen_finish(g, MV_FINISH_CANCELLED);
    mv_status rc = g->rc;
    if (rc == MV_OK) *out = g->r;
    else {
        if (err) *err = g->err;
        mv_result_free(&g->r);
    }
    memset(g, 0, sizeof *g);
    return rc;
}

static mv_status fill_result_images(request *q, mv_error *err) {
    mv_result *r = q->r;
    r->n_images = q->batch.n_images;
    r->tiles = calloc((size_t)(r->n_images ? r->n_images : 1), sizeof *r->tiles);
    if (!r->tiles) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->n_images; i++) {
        r->tiles[i].cols = q->batch.tiles[i].cols;
        r->tiles[i].rows = q->batch.tiles[i].rows;
        r->tiles[i].count = q->batch.tiles[i].count;
    }
    r->n_image_tokens = q->batch.total_tiles * q->s->model->cfg.num_image_token;
    return MV_OK;
}

/* Preprocess, tokenize and prefill; on success the prompt's ids and last logits move into s->gen. */
static mv_status begin_request(request *q, const mv_message *msgs, int n_msgs, mv_error *err) {
    mv_session *s = q->s;
    mv_model *m = s->model;
    const mv_image **images = NULL;
    int n_images = 0;
    double t0 = mv_now_ms();
    mv_status rc = collect_images(msgs, n_msgs, &images, &n_images, err);
    if (rc == MV_OK) rc = mv_images_preprocess(m, images, n_images, q->p->max_tiles, &q->batch, err);
    if (rc == MV_OK && !(q->image_tags = calloc((size_t)(n_images ? n_images : 1), sizeof *q->image_tags)))
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == MV_OK && i < q->batch.n_images; i++)
        q->image_tags[i] = fingerprint_tiles(&q->batch.tiles[i], m->cfg.force_image_size);
    q->r->timings.preprocess_ms = mv_now_ms() - t0;
    if (rc == MV_OK) rc = fill_result_images(q, err);
    if (rc == MV_OK) rc = tokenize_prompt(q, msgs, n_msgs, err);
    if (rc == MV_OK && !(q->logits = malloc((size_t)mv_llm_vocab(m->llm) * sizeof *q->logits)))
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (rc == MV_OK) {
        choose_prefix(q);
        rc = prefill(q, err);
    }
    free(images);
    return rc;
}

/* Sampler, stream decoder and result for the generation that follows a successful prefill. */
static mv_status gen_start(mv_session *s, request *q, mv_error *err) {
    gen_state *g = &s->gen;
    mv_rng_seed(&g->rng, g->p.sampling.seed);
    g->scratch = malloc(mv_sample_scratch_bytes(mv_llm_vocab(s->model->llm)));
    if (!g->scratch) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    mv_status rc = mv_tok_stream_new(s->model->tok, &g->ds, err);
    if (rc != MV_OK) return rc;
    g->logits = q->logits;
    q->logits = NULL;
    g->r.input_ids = q->ids;
    g->r.n_input_ids = q->n_ids;
    q->ids = NULL;
    g->r.finish = MV_FINISH_LENGTH;
    g->t0 = mv_now_ms();
    g->begun = 1;
    return MV_OK;
}

mv_status mv_session_begin(mv_session *s, const mv_message *msgs, int n_msgs, const mv_generate_params *params,
                           mv_error *err) {
    if (!s || (!msgs && n_msgs) || n_msgs < 0) return mv_set_error(err, MV_ERR_ARG, "no session or messages");
    if (s->gen.begun) return mv_set_error(err, MV_ERR_ARG, "the session already has a generation in progress");
    gen_state *g = &s->gen;
    memset(g, 0, sizeof *g);
    g->p = params ? *params : mv_generate_default_params();
    g->r.timings.load_ms = s->model->load_ms;
    request q = { .s = s, .p = &g->p, .r = &g->r };
    mv_status rc = begin_request(&q, msgs, n_msgs, err);
    if (rc == MV_OK) rc = gen_start(s, &q, err);
    if (rc != MV_OK) {
        gen_release(g);
        mv_result_free(&g->r);
        memset(g, 0, sizeof *g);
    }
    free(q.logits);
    free(q.ids);
    free(q.tags);
    free(q.image_tags);
    mv_image_batch_free(&q.batch);
    return rc;
}

mv_status mv_session_chat(mv_session *s, const mv_message *msgs, int n_msgs, const mv_generate_params *params,
                          mv_result *out, mv_error *err) {
    memset(out, 0, sizeof *out);
    mv_status rc = mv_session_begin(s, msgs, n_msgs, params, err);
    if (rc != MV_OK) return rc;
    while (mv_session_active(s)) mv_batch_decode(&s, 1, NULL);
    return mv_session_end(s, out, err);
}
