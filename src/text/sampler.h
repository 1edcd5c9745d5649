/* sampler.h — next-token choice from logits: repetition penalty, temperature, top-k, top-p, greedy.
 * Order of operations follows HF generate(): repetition penalty (also applied when greedy), then
 * temperature, top-k, top-p, then a draw from the renormalised distribution. */
#ifndef MV_TEXT_SAMPLER_H
#define MV_TEXT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "minivl.h"

typedef struct mv_rng { uint64_t s[4]; } mv_rng;

void mv_rng_seed(mv_rng *rng, uint64_t seed);
/* Uniform double in [0, 1). */
double mv_rng_uniform(mv_rng *rng);

/* Pick a token. logits [V] is modified in place. history: tokens seen so far (prompt + generated)
 * for the repetition penalty. scratch: V floats + V int32 (caller-owned, reused across steps). */
int32_t mv_sample(const mv_sampling_params *p, float *logits, int V, const int32_t *history, size_t n_history,
                  mv_rng *rng, void *scratch);
size_t mv_sample_scratch_bytes(int V);

/* Index of the largest logit; ties go to the lowest index (torch.argmax). */
int32_t mv_argmax(const float *x, int n);

#endif
