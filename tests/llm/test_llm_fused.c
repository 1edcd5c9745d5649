/* test_llm_fused.c — the decoder's fused-weight paths (used by InternLM2 and Phi-3) on tiny-qwen2.
 *
 * The Qwen2 q/k/v and gate/up matrices are rearranged into the fused layouts (Phi-3 "concat"
 * qkv_proj + gate_up_proj; InternLM2 "grouped" wqkv) as F32 copies; the rebuilt models must give the
 * separate-weight logits on text_hello's prompt and on two cached decode steps. */
#include <stdlib.h>
#include <string.h>

#include "llm/llm_impl.h"
#include "llm_fixture.h"

/* Copy rows [r0, r0+n) of m into dst (F32, row-major). */
static void copy_rows(const mv_matrix *m, int r0, int n, float *dst) {
    size_t es = mv_dtype_size(m->dtype);
    for (int r = 0; r < n; r++)
        mv_to_f32(m->dtype, (const char *)m->data + (size_t)(r0 + r) * m->cols * es, dst + (size_t)r * m->cols, (size_t)m->cols);
}

typedef struct fused_model {
    mv_llm m;             /* shallow copy of the Qwen2 model with its own layer array */
    mv_llm_layer *layers;
    float **owned;        /* buffers to free */
    int n_owned;
} fused_model;

static float *own(fused_model *f, size_t n) {
    float *p = malloc(n * sizeof *p);
    f->owned[f->n_owned++] = p;
    return p;
}

/* Fuse q/k/v (and gate/up when fuse_mlp) of every layer into the given layout. */
static void build_fused(fused_model *f, const mv_llm *src, mv_qkv_layout layout, int fuse_mlp) {
    const int H = src->hidden, hd = src->head_dim, nkv = src->n_kv_heads, grp = src->n_heads / nkv, I = src->inter;
    const int rows = (src->n_heads + 2 * nkv) * hd;
    f->m = *src;
    f->m.qkv_layout = layout;
    f->layers = calloc((size_t)src->n_layers, sizeof *f->layers);
    f->owned = calloc((size_t)src->n_layers * 3, sizeof *f->owned);
    f->m.layers = f->layers;
    for (int l = 0; l < src->n_layers; l++) {
        const mv_llm_layer *S = &src->layers[l];
        mv_llm_layer *L = &f->layers[l];
        *L = *S;
        float *w = own(f, (size_t)rows * H), *b = own(f, (size_t)rows);
        /* each piece: (matrix, bias, first row) appended at `at` */
        int at = 0;
#define PIECE(M, B, r0, n) do { copy_rows(&(M), (r0), (n), w + (size_t)at * H); memcpy(b + at, (B) + (r0), (size_t)(n) * sizeof *b); at += (n); } while (0)
        if (layout == MV_QKV_CONCAT) {
            PIECE(S->wq, S->bq, 0, src->n_heads * hd);
            PIECE(S->wk, S->bk, 0, nkv * hd);
            PIECE(S->wv, S->bv, 0, nkv * hd);
        } else {
            for (int g = 0; g < nkv; g++) {
                PIECE(S->wq, S->bq, g * grp * hd, grp * hd);
                PIECE(S->wk, S->bk, g * hd, hd);
                PIECE(S->wv, S->bv, g * hd, hd);
            }
        }
#undef PIECE
        L->wqkv = (mv_matrix){ .dtype = MV_F32, .data = w, .rows = rows, .cols = H };
        L->bqkv = b;
        L->wq.data = L->wk.data = L->wv.data = NULL;
        L->bq = L->bk = L->bv = NULL;
        if (fuse_mlp) {
            float *gu = own(f, (size_t)2 * I * H);
            copy_rows(&S->w_gate, 0, I, gu);
            copy_rows(&S->w_up, 0, I, gu + (size_t)I * H);
            L->w_gate_up = (mv_matrix){ .dtype = MV_F32, .data = gu, .rows = 2 * I, .cols = H };
            L->w_gate.data = L->w_up.data = NULL;
        }
    }
}

static void free_fused(fused_model *f) {
    for (int i = 0; i < f->n_owned; i++) free(f->owned[i]);
    free(f->owned);
    free(f->layers);
}

/* Prompt prefill then two decode steps; logits [3, V]. */
static int run(const mv_llm *m, mv_pool *pool, const float *emb, int n, float *out) {
    const int V = mv_llm_vocab(m), H = mv_llm_hidden(m);
    mv_kv_cache *kv = mv_kv_create(m, n + 2, MV_F32);
    mv_error err = { 0 };
    int ok = kv && mv_llm_forward(m, pool, kv, emb, n, out, &err) == MV_OK;
    /* the decode steps feed the prompt's first two rows again: any embedding exercises the cache */
    for (int s = 0; ok && s < 2; s++) ok = mv_llm_forward(m, pool, kv, emb + (size_t)s * H, 1, out + (size_t)(s + 1) * V, &err) == MV_OK;
    CHECK(ok, "forward failed: %s", err.message);
    mv_kv_free(kv);
    return ok;
}

int main(void) {
    llm_fixture fx;
    mv_safetensors *st = NULL;
    mv_error err = { 0 };
    if (!llm_fixture_open(&fx)) return mvt_done("llm_fused");
    CHECK_OK(mv_st_open(mvt_shared("golden/tiny-qwen2/text_hello.safetensors"), &st, &err), &err);
    int64_t *ids = NULL;
    int n = 0;
    float *emb = llm_prompt_embeds(&fx, st, &ids, &n);
    const size_t V = (size_t)mv_llm_vocab(fx.llm);
    float *ref = malloc(3 * V * sizeof *ref), *got = malloc(3 * V * sizeof *got);
    if (emb && run(fx.llm, fx.pool, emb, n, ref)) {
        float *gold = mvt_tensor_f32(st, "logits_last", NULL);
        if (gold) mvt_allclose("separate weights: logits_last", ref, gold, V, 1e-4, 1e-4);
        free(gold);
        const struct { mv_qkv_layout layout; int fuse_mlp; const char *name; } cases[] = {
            { MV_QKV_CONCAT, 1, "concat qkv + fused gate_up (Phi-3 layout)" },
            { MV_QKV_GROUPED, 0, "grouped qkv (InternLM2 layout)" },
        };
        for (int c = 0; c < 2; c++) {
            fused_model f = { 0 };
            build_fused(&f, fx.llm, cases[c].layout, cases[c].fuse_mlp);
            if (run(&f.m, fx.pool, emb, n, got)) mvt_allclose(cases[c].name, got, ref, 3 * V, 1e-5, 0);
            free_fused(&f);
        }
    }
    free(ref);
    free(got);
    free(emb);
    free(ids);
    mv_st_close(st);
    llm_fixture_close(&fx);
    return mvt_done("llm_fused");
}
