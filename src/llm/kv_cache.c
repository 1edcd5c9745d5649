/* kv_cache.c — the per-sequence key/value cache: float32 [layers][kv_heads][capacity][head_dim].
 *
 * Keys are stored after RoPE, so a cached prefix is position-final and can be reused as is; each
 * (layer, head) block is contiguous so attention reads keys with a plain row stride. Memory is
 * allocated for the requested capacity only. */
#include <stdlib.h>

#include "llm/llm_impl.h"

mv_kv_cache *mv_kv_create(const mv_llm *llm, int capacity) {
    if (!llm || capacity < 1) return NULL;
    mv_kv_cache *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layers = llm->n_layers;
    kv->n_kv_heads = llm->n_kv_heads;
    kv->head_dim = llm->head_dim;
    kv->capacity = capacity;
    size_t n = (size_t)llm->n_layers * (size_t)llm->n_kv_heads * (size_t)capacity * (size_t)llm->head_dim;
    /* malloc, not calloc: rows are always written before they are read */
    kv->k = malloc(n * sizeof *kv->k);
    kv->v = malloc(n * sizeof *kv->v);
    if (!kv->k || !kv->v) {
        mv_kv_free(kv);
        return NULL;
    }
    return kv;
}

void mv_kv_free(mv_kv_cache *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
}

int mv_kv_len(const mv_kv_cache *kv) { return kv ? kv->len : 0; }

int mv_kv_capacity(const mv_kv_cache *kv) { return kv ? kv->capacity : 0; }

void mv_kv_truncate(mv_kv_cache *kv, int n) {
    if (!kv) return;
    if (n < 0) n = 0;
    if (n < kv->len) kv->len = n;
}
