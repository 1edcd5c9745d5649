/* tensor_spec.h — the complete list of tensors (names and shapes) an InternVL chat checkpoint must hold,
 * derived from its config.json alone.
 *
 * Used twice: the SYNTH-1 generator writes exactly these tensors, and the model loader validates a real
 * checkpoint against them up front, so a wrong or truncated checkpoint fails at load naming the tensor.
 * The LLM part is a table with one row per supported architecture (Qwen2, InternLM2, Phi-3). */
#ifndef MV_IO_TENSOR_SPEC_H
#define MV_IO_TENSOR_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "io/config.h"
#include "io/safetensors.h"
#include "minivl.h"

#define MV_SPEC_NAME_MAX 128
#define MV_SPEC_MAX_DIMS 4

typedef struct mv_tensor_spec {
    char name[MV_SPEC_NAME_MAX]; /* exact state-dict key, e.g. "vision_model.encoder.layers.0.ls1" */
    int ndim;
    int64_t shape[MV_SPEC_MAX_DIMS];
    int64_t numel;
} mv_tensor_spec;

typedef struct mv_spec_list {
    mv_tensor_spec *t;
    size_t n;
    uint64_t n_params; /* sum of numel */
} mv_spec_list;

/* Build the list for cfg (order: vision, projector, LLM; callers that need sorted keys sort).
 * Unknown llm_config.architectures[0] -> MV_ERR_UNSUPPORTED naming the supported ones. */
mv_status mv_spec_build(const mv_config *cfg, mv_spec_list *out, mv_error *err);
void mv_spec_free(mv_spec_list *s);

/* "Qwen2ForCausalLM, InternLM2ForCausalLM, ..." (static string). */
const char *mv_spec_supported_llms(void);

/* Every spec'd tensor present in w with exactly that shape and a float dtype (BF16/F16/F32) — or, for
 * matrices, quantized (Q8/Q4, docs/QUANT.md) with consistent codes and scales; otherwise
 * MV_ERR_FORMAT naming the tensor (and both shapes when they differ). Extra tensors are allowed. */
mv_status mv_spec_validate(const mv_weights *w, const mv_config *cfg, mv_error *err);

#endif
