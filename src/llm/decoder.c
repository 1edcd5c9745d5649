/* decoder.c — the decoder-only transformer shared by every LLM family (Qwen2, InternLM2, Phi-3
 * plug in through llm_impl.h): RMSNorm, GQA attention with rotate-half RoPE over a KV cache,
 * SwiGLU MLP, final norm and lm_head.
 *
 * Scaled RoPE variants come from rope.c through the model's hook, evaluated once per call.
 *
 * Numerics follow Hugging Face's float32 eager path: inv_freq = 1/theta^(2i/d) in float32, angle =
 * float32(pos) * inv_freq, scores q·kᵀ/√d with a causal mask, float32 softmax. Prompts are processed
 * in chunks of MV_LLM_CHUNK positions so scratch memory is O(chunk × max(hidden, inter)) whatever the
 * prompt length, and lm_head (the largest matrix) runs only for positions whose logits are asked for. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/weights_util.h"
#include "kernels/quant.h"
#include "llm/llm_impl.h"

/* Prefill positions per pass (mv_llm.prefill_chunk): the integer GEMM packs each weight panel once per
 * pass, so a 512-token prompt in one pass rather than two took the Q8 prefill from ~555 to ~615 tok/s
 * (pack 14% → 7% of the GEMM time); scratch is ~30 MB for Qwen2-0.5B at 512. */
enum { MV_LLM_CHUNK = 512, MV_LLM_MAX_BATCH = 256 };

/* ------------------------------------------------------------------ loading */

typedef mv_status (*family_load_fn)(mv_llm *llm, const mv_weights *w, const mv_config *cfg, mv_error *err);

static const struct {
    const char *architecture;
    family_load_fn load;
} FAMILIES[] = {
    { "Qwen2ForCausalLM", mv_qwen2_load },
    { "InternLM2ForCausalLM", mv_internlm2_load },
    { "Phi3ForCausalLM", mv_phi3_load },
};

mv_status mv_llm_get_matrix(const mv_weights *w, mv_matrix *m, int rows, int cols, mv_error *err,
                            const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return mv_weight_matrix(w, name, rows, cols, m, err);
}

mv_status mv_llm_get_vector(const mv_weights *w, float **v, int n, mv_error *err, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return mv_weight_f32(w, name, n, v, err);
}

static mv_status check_config(const mv_llm_config *c, mv_error *err) {
    if (c->hidden_size < 1 || c->intermediate_size < 1 || c->num_layers < 1 || c->num_heads < 1 ||
        c->num_kv_heads < 1 || c->vocab_size < 1 || c->head_dim < 2)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: sizes must be positive (hidden %d, intermediate %d, "
                            "layers %d, heads %d, kv heads %d, vocab %d, head_dim %d)", c->hidden_size,
                            c->intermediate_size, c->num_layers, c->num_heads, c->num_kv_heads, c->vocab_size, c->head_dim);
    if (c->num_heads % c->num_kv_heads)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                            c->num_heads, c->num_kv_heads);
    if (c->head_dim % 2)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: head_dim %d is odd; rotary embedding needs it even", c->head_dim);
    if (!(c->rope_theta > 0))
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: rope_theta %g must be positive", c->rope_theta);
    if (!(c->rms_norm_eps >= 0))
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: rms_norm_eps %g must be non-negative", (double)c->rms_norm_eps);
    return MV_OK;
}

mv_status mv_llm_load(const mv_weights *w, const mv_config *cfg, mv_llm **out, mv_error *err) {
    if (!w || !cfg || !out) return mv_set_error(err, MV_ERR_ARG, "mv_llm_load: NULL argument");
    *out = NULL;
    const mv_llm_config *c = &cfg->llm;
    family_load_fn load = NULL;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (!strcmp(c->architecture, FAMILIES[i].architecture)) load = FAMILIES[i].load;
    if (!load)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "llm_config.architectures: '%s' is not a supported language model",
                            c->architecture);
    mv_status rc = check_config(c, err);
    if (rc != MV_OK) return rc;

    mv_llm *m = calloc(1, sizeof *m);
    if (!m) return mv_set_error(err, MV_ERR_NOMEM, "out of memory loading the language model");
    m->family = c->architecture;
    m->prefill_chunk = MV_LLM_CHUNK;
    m->hidden = c->hidden_size;
    m->inter = c->intermediate_size;
    m->n_layers = c->num_layers;
    m->n_heads = c->num_heads;
    m->n_kv_heads = c->num_kv_heads;
    m->head_dim = c->head_dim;
    m->vocab = c->vocab_size;
    m->norm_eps = c->rms_norm_eps;
    m->rope_theta = c->rope_theta;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->inv_freq = malloc((size_t)(m->head_dim / 2) * sizeof *m->inv_freq);
    if (!m->layers || !m->inv_freq) {
        mv_llm_free(m);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory loading the language model");
    }
    mv_rope_inv_freq(m->inv_freq, m->head_dim, m->rope_theta, NULL);
    if ((rc = load(m, w, cfg, err)) != MV_OK) {
        mv_llm_free(m);
        return rc;
    }
    *out = m;
    return MV_OK;
}

static void free_layer(mv_llm_layer *L) {
    free(L->attn_norm);
    free(L->mlp_norm);
    free(L->bq);
    free(L->bk);
    free(L->bv);
    free(L->bqkv);
    free(L->bo);
}

void mv_llm_free(mv_llm *m) {
    if (!m) return;
    for (int i = 0; m->layers && i < m->n_layers; i++) free_layer(&m->layers[i]);
    free(m->layers);
    free(m->final_norm);
    free(m->inv_freq);
    free(m->rope_inv_short);
    free(m->rope_inv_long);
    free(m->qbuf);
    free(m);
}

int mv_llm_hidden(const mv_llm *m) { return m->hidden; }
int mv_llm_vocab(const mv_llm *m) { return m->vocab; }
int mv_llm_layers(const mv_llm *m) { return m->n_layers; }

mv_status mv_llm_embed(const mv_llm *m, const int32_t *ids, int n, float *out, mv_error *err) {
    if (!m || (n > 0 && (!ids || !out)) || n < 0) return mv_set_error(err, MV_ERR_ARG, "mv_llm_embed: invalid arguments");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return mv_set_error(err, MV_ERR_ARG, "token id %d at position %d is outside the vocabulary [0, %d)",
                                (int)ids[i], i, m->vocab);
    for (int i = 0; i < n; i++) mv_matrix_row_f32(&m->embed, ids[i], out + (size_t)i * m->hidden);
    return MV_OK;
}

/* ------------------------------------------------------------------ forward pass */

/* Scratch for one forward call of n positions, sized for `cap` positions per chunk. */
typedef struct fwd {
    const mv_llm *m;
    mv_pool *pool;
    mv_kv_cache *kv;
    mv_kv_cache *const *kvs; /* batch decode: row r is the next position of sequence kvs[r]; else NULL */
    int cap;
    float *x;          /* [cap, hidden] residual stream */
    float *h;          /* [cap, hidden] normed input / sublayer output */
    float *q, *k, *v;  /* [cap, heads*hd], [cap, kv_heads*hd] x2 */
    float *qkv;        /* [cap, (heads+2*kv_heads)*hd], fused layouts only */
    float *att;        /* [cap, heads*hd] */
    float *mlp;        /* [cap, 2*inter]: gate | up */
    float *cos_t, *sin_t; /* [cap, hd/2] */
    mv_rope_call rope; /* rotary table parameters for this call */
    void *arena;
} fwd;

static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}

static int fwd_init(fwd *f, const mv_llm *m, mv_pool *pool, mv_kv_cache *kv, int n, int cap) {
    memset(f, 0, sizeof *f);
    f->m = m;
    f->pool = pool;
    f->kv = kv;
    f->cap = cap;
    const size_t C = (size_t)f->cap, H = (size_t)m->hidden, hd = (size_t)m->head_dim;
    const size_t qd = (size_t)m->n_heads * hd, kvd = (size_t)m->n_kv_heads * hd, half = hd / 2;
    const size_t fused = m->qkv_layout == MV_QKV_SEPARATE ? 0 : C * (qd + 2 * kvd);
    size_t total = 2 * C * H + 2 * C * qd + 2 * C * kvd + fused + 2 * C * (size_t)m->inter + 2 * C * half + half;
    float *p = malloc(total * sizeof(float));
    if (!p) return 0;
    f->arena = p;
    f->x = carve(&p, C * H);
    f->h = carve(&p, C * H);
    f->q = carve(&p, C * qd);
    f->att = carve(&p, C * qd);
    f->k = carve(&p, C * kvd);
    f->v = carve(&p, C * kvd);
    f->qkv = fused ? carve(&p, fused) : NULL;
    f->mlp = carve(&p, 2 * C * (size_t)m->inter);
    f->cos_t = carve(&p, C * half);
    f->sin_t = carve(&p, C * half);
    f->rope = (mv_rope_call){ carve(&p, half), 1.0f, 1.0f };
    memcpy(f->rope.inv_freq, m->inv_freq, half * sizeof(float));
    if (m->rope) m->rope(m, kv->len + n, &f->rope);
    return 1;
}

/* cos/sin per position of the chunk: angle = float32(pos) * inv_freq in float32, as HF (linear
 * scaling divides the float32 position first, as upstream's `t / scaling_factor`). */
static void rope_row(fwd *f, int r, int pos) {
    const int half = f->m->head_dim / 2;
    const mv_rope_call *rc = &f->rope;
    float t = (float)pos;
    if (rc->pos_div != 1.0f) t /= rc->pos_div;
    for (int i = 0; i < half; i++) {
        float angle = t * rc->inv_freq[i];
        f->cos_t[(size_t)r * half + i] = cosf(angle) * rc->cos_sin_scale;
        f->sin_t[(size_t)r * half + i] = sinf(angle) * rc->cos_sin_scale;
    }
}

static void rope_tables(fwd *f, int p0, int n) {
    for (int r = 0; r < n; r++) rope_row(f, r, p0 + r);
}

/* Batch decode: each sequence is its own forward call of one position, so a scaled-RoPE hook is
 * evaluated per row with that sequence's end, exactly as a single-sequence call would. */
static void rope_tables_batch(fwd *f, int n) {
    const mv_llm *m = f->m;
    for (int r = 0; r < n; r++) {
        if (m->rope) {
            float *inv = f->rope.inv_freq;
            memcpy(inv, m->inv_freq, (size_t)(m->head_dim / 2) * sizeof *inv);
            f->rope = (mv_rope_call){ inv, 1.0f, 1.0f };
            m->rope(m, f->kvs[r]->len + 1, &f->rope);
        }
        rope_row(f, r, f->kvs[r]->len);
    }
}

/* Spread fused q/k/v rows into the separate q, k, v buffers. */
static void split_qkv(fwd *f, int n) {
    const mv_llm *m = f->m;
    const size_t hd = (size_t)m->head_dim, qd = (size_t)m->n_heads * hd, kvd = (size_t)m->n_kv_heads * hd;
    const size_t width = qd + 2 * kvd, group = (size_t)(m->n_heads / m->n_kv_heads);
    for (int r = 0; r < n; r++) {
        const float *src = f->qkv + (size_t)r * width;
        float *q = f->q + (size_t)r * qd, *k = f->k + (size_t)r * kvd, *v = f->v + (size_t)r * kvd;
        if (m->qkv_layout == MV_QKV_CONCAT) {
            memcpy(q, src, qd * sizeof *q);
            memcpy(k, src + qd, kvd * sizeof *k);
            memcpy(v, src + qd + kvd, kvd * sizeof *v);
            continue;
        }
        for (int g = 0; g < m->n_kv_heads; g++) {
            const float *blk = src + (size_t)g * (group + 2) * hd;
            memcpy(q + (size_t)g * group * hd, blk, group * hd * sizeof *q);
            memcpy(k + (size_t)g * hd, blk + group * hd, hd * sizeof *k);
            memcpy(v + (size_t)g * hd, blk + (group + 1) * hd, hd * sizeof *v);
        }
    }
}

static void project_qkv(fwd *f, const mv_llm_layer *L, int n) {
    if (f->m->qkv_layout == MV_QKV_SEPARATE) {
        const mv_linear_out qkv[] = { { f->q, &L->wq, L->bq }, { f->k, &L->wk, L->bk }, { f->v, &L->wv, L->bv } };
        mv_linear_many(f->pool, f->h, n, qkv, 3);
    } else {
        mv_linear(f->pool, f->qkv, f->h, n, &L->wqkv, L->bqkv);
        split_qkv(f, n);
    }
}

/* Row r's queries and keys rotated in place. */
static void rope_qk_row(fwd *f, int r) {
    const mv_llm *m = f->m;
    const size_t half = (size_t)m->head_dim / 2, qd = (size_t)m->n_heads * m->head_dim,
                 kvd = (size_t)m->n_kv_heads * m->head_dim;
    mv_rope_cs(f->q + r * qd, m->n_heads, m->head_dim, f->cos_t + r * half, f->sin_t + r * half);
    mv_rope_cs(f->k + r * kvd, m->n_kv_heads, m->head_dim, f->cos_t + r * half, f->sin_t + r * half);
}

/* Row r's (rotated) keys and values to position pos of kv. */
static void store_kv_row(fwd *f, mv_kv_cache *kv, int layer, int pos, int r) {
    const mv_llm *m = f->m;
    const size_t hd = (size_t)m->head_dim, kvd = (size_t)m->n_kv_heads * hd;
    for (int g = 0; g < m->n_kv_heads; g++) mv_kv_store(kv, layer, g, pos, f->k + r * kvd + g * hd, f->v + r * kvd + g * hd);
}

/* Row r's keys and values appended at cache position p0 + r (batch: to its own cache's end). */
static void store_kv(fwd *f, int layer, int p0, int r) {
    if (f->kvs) store_kv_row(f, f->kvs[r], layer, f->kvs[r]->len, r);
    else store_kv_row(f, f->kv, layer, p0 + r, r);
}

/* Causal attention of one sequence's queries (positions p0..p0+n-1) over its cache positions
 * 0..p0+n-1, all heads at once; the cache's per-head blocks are read in place through the KV head
 * stride. */
static void attention_one(fwd *f, const mv_kv_cache *kv, int layer, float *out, const float *q, int p0, int n) {
    const mv_llm *m = f->m;
    const int hd = m->head_dim, stride = m->n_heads * hd;
    const size_t head_stride = (size_t)kv->capacity * (size_t)hd;
    const void *k = mv_kv_k(kv, layer, 0), *v = mv_kv_v(kv, layer, 0);
    const float scale = 1.0f / sqrtf((float)hd);
    if (m->bf16_attention && n >= MV_BF16_MIN_M &&
        mv_attention_bf16_kv(f->pool, out, stride, q, stride, k, v, kv->dtype, hd, head_stride, m->n_heads,
                             m->n_kv_heads, hd, n, p0 + n, scale, 1, p0))
        return;
    mv_attention_kv(f->pool, out, stride, q, stride, k, v, kv->dtype, hd, head_stride, m->n_heads, m->n_kv_heads, hd, n,
                    p0 + n, scale, 1, p0);
}

/* The chunk's attention; in batch decode row r is the new query of sequence kvs[r] over its own cache. */
static void attention(fwd *f, int layer, int p0, int n) {
    if (!f->kvs) {
        attention_one(f, f->kv, layer, f->att, f->q, p0, n);
        return;
    }
    const size_t stride = (size_t)f->m->n_heads * (size_t)f->m->head_dim;
    for (int r = 0; r < n; r++)
        attention_one(f, f->kvs[r], layer, f->att + (size_t)r * stride, f->q + (size_t)r * stride, f->kvs[r]->len, 1);
}

/* The per-row work between the products, spread over the pool in blocks of rows: run on the calling
 * thread alone, the norms, rotary embedding, cache stores, SwiGLU and residual adds left the other
 * threads idle for ~5% of a 2-thread prefill. */
typedef enum rows_step {
    ROWS_ATTN_IN,  /* h = attn_norm(x) */
    ROWS_ROPE_KV,  /* rotate q and k, append k and v to the cache */
    ROWS_ATTN_OUT, /* x += h; h = mlp_norm(x) */
    ROWS_SWIGLU,   /* gate = silu(gate) * up */
    ROWS_MLP_OUT,  /* x += h */
} rows_step;

typedef struct rows_job {
    fwd *f;
    int layer, p0, n;
    rows_step step;
} rows_job;

enum { ROWS_PER_ITEM = 16 };

static void rows_item(void *ctx, int item, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    fwd *f = j->f;
    const mv_llm *m = f->m;
    const mv_llm_layer *L = &m->layers[j->layer];
    const int r0 = item * ROWS_PER_ITEM, r1 = r0 + ROWS_PER_ITEM < j->n ? r0 + ROWS_PER_ITEM : j->n, rows = r1 - r0;
    const size_t H = (size_t)m->hidden, I = (size_t)m->inter, at = (size_t)r0 * H, len = (size_t)rows * H;
    switch (j->step) {
    case ROWS_ATTN_IN: mv_rmsnorm(f->h + at, f->x + at, rows, m->hidden, L->attn_norm, m->norm_eps); break;
    case ROWS_ROPE_KV:
        for (int r = r0; r < r1; r++) {
            rope_qk_row(f, r);
            store_kv(f, j->layer, j->p0, r);
        }
        break;
    case ROWS_ATTN_OUT:
        mv_add(f->x + at, f->h + at, len);
        mv_rmsnorm(f->h + at, f->x + at, rows, m->hidden, L->mlp_norm, m->norm_eps);
        break;
    case ROWS_SWIGLU:
        if (L->w_gate_up.data)
            for (int r = r0; r < r1; r++) mv_swiglu(f->mlp + (size_t)r * 2 * I, f->mlp + (size_t)r * 2 * I + I, I);
        else mv_swiglu(f->mlp + (size_t)r0 * I, f->mlp + (size_t)j->n * I + (size_t)r0 * I, (size_t)rows * I);
        break;
    case ROWS_MLP_OUT: mv_add(f->x + at, f->h + at, len); break;
    }
}

static void for_rows(fwd *f, int layer, int p0, int n, rows_step step) {
    rows_job j = { f, layer, p0, n, step };
    mv_pool_for(f->pool, (n + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM, rows_item, &j);
}

/* h = down(silu(gate(h)) * up(h)). */
static void mlp(fwd *f, int layer, int n) {
    const mv_llm_layer *L = &f->m->layers[layer];
    const size_t I = (size_t)f->m->inter;
    float *gate = f->mlp;
    if (L->w_gate_up.data) {
        /* fused rows are [gate | up]; compact each row's result to [n, I] (row r moves down to r*I,
         * over rows before it: in order, on one thread) */
        mv_linear(f->pool, f->mlp, f->h, n, &L->w_gate_up, NULL);
        for_rows(f, layer, 0, n, ROWS_SWIGLU);
        for (int r = 1; r < n; r++) memmove(gate + (size_t)r * I, f->mlp + (size_t)r * 2 * I, I * sizeof *gate);
    } else {
        const mv_linear_out gate_up[] = { { gate, &L->w_gate, NULL }, { f->mlp + (size_t)n * I, &L->w_up, NULL } };
        mv_linear_many(f->pool, f->h, n, gate_up, 2);
        for_rows(f, layer, 0, n, ROWS_SWIGLU);
    }
    mv_linear(f->pool, f->h, gate, n, &L->w_down, NULL);
}

/* One chunk of n positions through every layer; appends them to the cache. */
static void run_chunk(fwd *f, const float *embeds, int n) {
    const mv_llm *m = f->m;
    const int p0 = f->kvs ? 0 : f->kv->len;
    const size_t nh = (size_t)n * (size_t)m->hidden;
    memcpy(f->x, embeds, nh * sizeof(float));
    if (f->kvs) rope_tables_batch(f, n);
    else rope_tables(f, p0, n);
    for (int l = 0; l < m->n_layers; l++) {
        const mv_llm_layer *L = &m->layers[l];
        for_rows(f, l, p0, n, ROWS_ATTN_IN);
        project_qkv(f, L, n);
        for_rows(f, l, p0, n, ROWS_ROPE_KV);
        attention(f, l, p0, n);
        mv_linear(f->pool, f->h, f->att, n, &L->wo, L->bo);
        for_rows(f, l, p0, n, ROWS_ATTN_OUT);
        mlp(f, l, n);
        for_rows(f, l, p0, n, ROWS_MLP_OUT);
    }
    if (f->kvs) for (int r = 0; r < n; r++) f->kvs[r]->len++;
    else f->kv->len = p0 + n;
}

/* logits [rows, vocab] for chunk rows first..first+rows-1. */
static void chunk_logits(fwd *f, int first, int rows, float *logits) {
    const mv_llm *m = f->m;
    const size_t H = (size_t)m->hidden;
    mv_rmsnorm(f->h, f->x + (size_t)first * H, rows, m->hidden, m->final_norm, m->norm_eps);
    mv_linear(f->pool, logits, f->h, rows, &m->lm_head, NULL);
}

static mv_status check_forward(const mv_llm *m, const mv_kv_cache *kv, const float *embeds, int n, mv_error *err) {
    if (!m || !kv || !embeds || n < 1)
        return mv_set_error(err, MV_ERR_ARG, "mv_llm_forward: need a model, a KV cache and n >= 1 embeddings (n = %d)", n);
    if (kv->n_layers != m->n_layers || kv->n_kv_heads != m->n_kv_heads || kv->head_dim != m->head_dim)
        return mv_set_error(err, MV_ERR_ARG, "mv_llm_forward: the KV cache was created for a different model");
    if (n > kv->capacity - kv->len)
        return mv_set_error(err, MV_ERR_CONTEXT, "context overflow: %d cached + %d new positions exceed the KV cache capacity of %d tokens",
                            kv->len, n, kv->capacity);
    if (m->max_seq > 0 && kv->len + n > m->max_seq)
        return mv_set_error(err, MV_ERR_CONTEXT, "context overflow: %d positions exceed the %s sliding window of %d "
                            "(windowed attention is not implemented)", kv->len + n, m->family, m->max_seq);
    return MV_OK;
}

static mv_status forward(const mv_llm *m, mv_pool *pool, mv_kv_cache *kv, const float *embeds, int n, float *logits,
                         int all_rows, mv_error *err) {
    mv_status rc = check_forward(m, kv, embeds, n, err);
    if (rc != MV_OK) return rc;
    fwd f;
    if (!fwd_init(&f, m, pool, kv, n, n < m->prefill_chunk ? n : m->prefill_chunk))
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for the forward pass over %d positions", n);
    const size_t H = (size_t)m->hidden, V = (size_t)m->vocab;
    for (int s = 0; s < n; s += f.cap) {
        const int c = n - s < f.cap ? n - s : f.cap;
        run_chunk(&f, embeds + (size_t)s * H, c);
        if (logits && all_rows) chunk_logits(&f, 0, c, logits + (size_t)s * V);
        else if (logits && s + c == n) chunk_logits(&f, c - 1, 1, logits);
    }
    free(f.arena);
    return MV_OK;
}

mv_status mv_llm_forward(const mv_llm *m, mv_pool *pool, mv_kv_cache *kv, const float *embeds, int n, float *logits,
                         mv_error *err) {
    return forward(m, pool, kv, embeds, n, logits, 0, err);
}

mv_status mv_llm_forward_all(const mv_llm *m, mv_pool *pool, mv_kv_cache *kv, const float *embeds, int n,
                             float *logits, mv_error *err) {
    return forward(m, pool, kv, embeds, n, logits, 1, err);
}

mv_status mv_llm_forward_batch(const mv_llm *m, mv_pool *pool, mv_kv_cache *const *kvs, const float *embeds, int n,
                               float *logits, mv_error *err) {
    if (!kvs || n < 1 || n > MV_LLM_MAX_BATCH)
        return mv_set_error(err, MV_ERR_ARG, "mv_llm_forward_batch: need 1..%d sequences (got %d)", MV_LLM_MAX_BATCH, n);
    for (int r = 0; r < n; r++) {
        mv_status rc = check_forward(m, kvs[r], embeds, 1, err);
        if (rc != MV_OK) return rc;
        for (int q = 0; q < r; q++)
            if (kvs[q] == kvs[r]) return mv_set_error(err, MV_ERR_ARG, "mv_llm_forward_batch: sequence %d repeats a KV cache", r);
    }
    fwd f;
    if (!fwd_init(&f, m, pool, kvs[0], n, n))
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for a batched decode step of %d sequences", n);
    f.kvs = kvs;
    run_chunk(&f, embeds, n);
    if (logits) chunk_logits(&f, 0, n, logits);
    free(f.arena);
    return MV_OK;
}
