/* llm_quant.c — `--quantize q8|q4` at load: the language model's matrices quantized in memory into
 * one buffer owned by the model, so decode reads 8.5 or 4.5 bits per weight instead of 16. */
#include <stdlib.h>

#include "kernels/quant.h"
#include "llm/llm_impl.h"

enum { MAX_LAYER_MATRICES = 9 };

/* The matrix slots of one layer (unused ones have no data). */
static int layer_slots(mv_llm_layer *L, mv_matrix **s) {
    mv_matrix *all[MAX_LAYER_MATRICES] = { &L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo,
                                           &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down };
    for (int i = 0; i < MAX_LAYER_MATRICES; i++) s[i] = all[i];
    return MAX_LAYER_MATRICES;
}

static int wants(const mv_matrix *w) {
    return w->data && w->qtype == MV_Q_NONE && w->rows > 0 && w->cols >= MV_QBLOCK && w->cols % MV_QBLOCK == 0;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static size_t codes_bytes(const mv_matrix *w, mv_qtype t) { return round64((size_t)w->rows * mv_q_row_bytes(t, w->cols)); }
static size_t scale_bytes(const mv_matrix *w) { return round64((size_t)w->rows * (size_t)(w->cols / MV_QBLOCK) * 2); }

/* Quantize *w into the buffer at *at (or only count the bytes when buf is NULL), then release the
 * checkpoint's pages of the original (src non-NULL), so that the process does not keep both: with
 * them, peak RSS was 128–145% of the checkpoint. */
static void visit(mv_matrix *w, mv_qtype t, mv_pool *pool, char *buf, size_t *at, const mv_weights *src) {
    if (!wants(w)) return;
    const size_t cb = codes_bytes(w, t), sb = scale_bytes(w);
    if (buf) {
        const mv_matrix original = *w;
        mv_q_quantize_matrix(pool, &original, t, buf + *at, (uint16_t *)(void *)(buf + *at + cb), w);
        if (src) mv_weights_release(src, original.data, (size_t)original.rows * (size_t)original.cols * mv_dtype_size(original.dtype));
    }
    *at += cb + sb;
}

/* Every matrix once: a tied lm_head shares the embeddings' quantized copy. */
static size_t walk(mv_llm *m, mv_qtype t, mv_pool *pool, char *buf, const mv_weights *src) {
    const int tied = m->lm_head.data == m->embed.data;
    size_t at = 0;
    visit(&m->embed, t, pool, buf, &at, src);
    if (tied) {
        if (buf) m->lm_head = m->embed;
    } else {
        visit(&m->lm_head, t, pool, buf, &at, src);
    }
    for (int l = 0; l < m->n_layers; l++) {
        mv_matrix *s[MAX_LAYER_MATRICES];
        int n = layer_slots(&m->layers[l], s);
        for (int i = 0; i < n; i++) visit(s[i], t, pool, buf, &at, src);
    }
    return at;
}

mv_status mv_llm_quantize(mv_llm *m, mv_qtype t, mv_pool *pool, const mv_weights *src, mv_error *err) {
    if (!m || (t != MV_Q8 && t != MV_Q4)) return mv_set_error(err, MV_ERR_ARG, "mv_llm_quantize: need a model and q8 or q4");
    if (m->qbuf) return mv_set_error(err, MV_ERR_ARG, "mv_llm_quantize: the model is already quantized");
    size_t bytes = walk(m, t, pool, NULL, NULL);
    if (bytes == 0) return MV_OK;
    char *buf = aligned_alloc(64, bytes);
    if (!buf)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory quantizing the language model to %s (%zu MB)",
                            mv_qtype_name(t), bytes >> 20);
    walk(m, t, pool, buf, src);
    m->qbuf = buf;
    return MV_OK;
}

int mv_llm_is_quantized(const mv_llm *m) {
    return m && m->n_layers > 0 && m->layers[0].w_down.qtype != MV_Q_NONE;
}
