/* llm_fixture.h — shared setup for the LLM tests: a tiny golden model (tiny-qwen2, tiny-internlm2,
 * tiny-phi3) and golden prompt embeddings. */
#ifndef MV_TEST_LLM_FIXTURE_H
#define MV_TEST_LLM_FIXTURE_H

#include "io/config.h"
#include "llm/llm.h"
#include "testutil.h"

typedef struct llm_fixture {
    mv_weights *w;
    mv_config cfg;
    mv_llm *llm;
    mv_pool *pool;
    int img_context;   /* the case's <IMG_CONTEXT> token id */
} llm_fixture;

/* Load golden/tiny-qwen2 (0 on failure, message printed). */
int llm_fixture_open(llm_fixture *fx);
/* Load golden/<name> for name = "tiny-qwen2", "tiny-internlm2" or "tiny-phi3". */
int llm_fixture_open_case(llm_fixture *fx, const char *name);
/* Config and weights of golden/<name> only (no model): for tests that edit the config first. */
int llm_fixture_open_files(llm_fixture *fx, const char *name);
void llm_fixture_close(llm_fixture *fx);

/* Prompt embeddings [n, hidden] for a golden prompt file: token rows with the <IMG_CONTEXT> rows
 * replaced by vit_embeds rows in order. Returns malloc'd embeds (NULL on failure), ids in *ids_out. */
float *llm_prompt_embeds(const llm_fixture *fx, const mv_safetensors *st, int64_t **ids_out, int *n_out);

/* Index of the largest value (first on ties), as the greedy reference. */
int llm_argmax(const float *x, int n);

#endif
