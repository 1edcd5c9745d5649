/* llm.h — the language-model half of an InternVL checkpoint: a decoder-only transformer with a KV cache.
 *
 * One forward pass (decoder.c) serves every LLM family; each family (qwen2.c, later internlm2.c,
 * phi3.c) only maps its checkpoint's tensor names and quirks onto the shared layer description.
 * The caller supplies input embeddings (token rows from mv_llm_embed, with image rows spliced in), so
 * the model never needs to know about images.
 *
 * An mv_llm is read-only after loading and may be shared by threads; an mv_kv_cache belongs to one
 * sequence and must be used by one thread at a time. Weights stay in the checkpoint's mmap. */
#ifndef MV_LLM_LLM_H
#define MV_LLM_LLM_H

#include <stdint.h>

#include "base/threadpool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "minivl.h"

typedef struct mv_llm mv_llm;
typedef struct mv_kv_cache mv_kv_cache;

/* Builds the model for cfg->llm.architecture (MV_ERR_UNSUPPORTED for an unknown family); w must
 * outlive the model. */
mv_status mv_llm_load(const mv_weights *w, const mv_config *cfg, mv_llm **out, mv_error *err);
void mv_llm_free(mv_llm *llm);

/* Quantize every plain matrix of the model (embeddings, projections, lm_head) to t in memory
 * (llm_quant.c); matrices already quantized in the checkpoint, or whose width is not a multiple of
 * the 32-weight block, stay as they are. The mmapped originals are no longer read afterwards: when
 * src (the checkpoint they were loaded from) is given, each one's pages are released as soon as it
 * is quantized (mv_weights_release). */
mv_status mv_llm_quantize(mv_llm *llm, mv_qtype qtype, mv_pool *pool, const mv_weights *src, mv_error *err);
/* 1 when the model's decoder matrices are quantized (at load, or in the checkpoint). */
int mv_llm_is_quantized(const mv_llm *llm);

int mv_llm_hidden(const mv_llm *llm);
int mv_llm_vocab(const mv_llm *llm);
int mv_llm_layers(const mv_llm *llm);
/* The decoder layers' projection matrices (those present: separate or fused), for the model to mark for
 * BF16 activations (precision bf16); not the embeddings or lm_head, which prefill multiplies by one row.
 * Fills up to cap pointers; returns how many there are. */
int mv_llm_matrices(mv_llm *llm, mv_matrix **out, int cap);
/* precision bf16: prefill attention (16 or more new positions) with BF16 products over the cache
 * (mv_attention_bf16_kv); decode keeps the FP32 path, bound by reading the cache. */
void mv_llm_set_bf16_attention(mv_llm *llm, int on);

/* Token embedding rows: out is [n, hidden]. An id outside [0, vocab) gives MV_ERR_ARG. */
mv_status mv_llm_embed(const mv_llm *llm, const int32_t *ids, int n, float *out, mv_error *err);

/* A cache for `capacity` positions with keys and values stored as dtype: MV_F32 (exact; the reference
 * path) or MV_F16 (half the memory and the attention reads; values beyond ±65504 saturate). NULL on
 * allocation failure, capacity < 1 or another dtype. */
mv_kv_cache *mv_kv_create(const mv_llm *llm, int capacity, mv_dtype dtype);
/* The dtype keys and values are stored as. */
mv_dtype mv_kv_dtype(const mv_kv_cache *kv);
void mv_kv_free(mv_kv_cache *kv);
int mv_kv_len(const mv_kv_cache *kv);
int mv_kv_capacity(const mv_kv_cache *kv);
/* Forget every position >= n (n is clamped to [0, len]): a session keeps a shared prompt prefix. */
void mv_kv_truncate(mv_kv_cache *kv, int n);

/* Run n new positions (embeds [n, hidden]) after the kv_len already cached and append them to kv.
 * logits (may be NULL) receives the [vocab] logits of the last new position. MV_ERR_CONTEXT when
 * kv_len + n exceeds the cache capacity; the cache is unchanged on any error. pool may be NULL. */
mv_status mv_llm_forward(const mv_llm *llm, mv_pool *pool, mv_kv_cache *kv, const float *embeds, int n,
                         float *logits, mv_error *err);
/* The same, with logits [n, vocab] for every new position (tests, scoring). */
mv_status mv_llm_forward_all(const mv_llm *llm, mv_pool *pool, mv_kv_cache *kv, const float *embeds, int n,
                             float *logits, mv_error *err);

/* Batch decode: one new position for each of n sequences (n <= 256), each on its own cache (all
 * distinct): embeds [n, hidden], logits (may be NULL) [n, vocab]. The matrices run once over all n
 * rows, so the weights are read once per step instead of once per sequence; attention and RoPE stay
 * per sequence, so each row equals what mv_llm_forward would give that sequence alone. On error no
 * cache is changed. */
mv_status mv_llm_forward_batch(const mv_llm *llm, mv_pool *pool, mv_kv_cache *const *kvs, const float *embeds, int n,
                               float *logits, mv_error *err);

#endif
