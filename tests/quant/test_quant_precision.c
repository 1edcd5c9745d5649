/* test_quant_precision.c — how far Q8/Q4 weights, or a float16 KV cache, move the next-token
 * distributions, on a golden prompt:
 *   test_quant_precision MODEL_DIR CASE PROMPT q8|q4|kv16 TOP1_MIN KL_MAX KL_MAX_STEP
 * The golden prompt (input ids, and the golden vit_embeds spliced in at the image tokens: the vision
 * tower is never quantized) is run through the reference model (weights as stored, FP32 math, F32
 * cache) and through the fast path: the same checkpoint quantized at load with the KV cache the model
 * picks for it (auto: F16), or for kv16 the weights as stored with an F16 cache; teacher-forced along the golden greedy continuation,
 * so both see the same 16 contexts (prefill + 15 decode steps). Per step: top-1 agreement of the two
 * distributions and KL(reference ‖ quantized) in nats. Asserts agreement ≥ TOP1_MIN, mean KL ≤ KL_MAX
 * and every step's KL ≤ KL_MAX_STEP; the reference's own top-1 is checked against the golden ids
 * where the golden margin allows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm.h"
#include "testutil.h"
#include "vlm.h"

typedef struct run {
    mv_model *model;
    mv_kv_cache *kv;
    float *logits;
} run;

/* Prompt embeddings: token rows, with the golden image rows at the <IMG_CONTEXT> positions. */
static float *prompt_embeds(const mv_model *m, const int64_t *ids, size_t n, const float *vit, size_t n_vit) {
    const size_t H = (size_t)mv_llm_hidden(m->llm);
    float *e = malloc(n * H * sizeof *e);
    int32_t *ids32 = malloc(n * sizeof *ids32);
    mv_error err;
    for (size_t i = 0; i < n; i++) ids32[i] = (int32_t)ids[i];
    CHECK(mv_llm_embed(m->llm, ids32, (int)n, e, &err) == MV_OK, "embed: %s", err.message);
    size_t row = 0;
    for (size_t i = 0; i < n; i++)
        if (ids32[i] == m->img_context_id) {
            CHECK(vit && (row + 1) * H <= n_vit, "golden vit_embeds cover image token %zu", row);
            if (vit && (row + 1) * H <= n_vit) memcpy(e + i * H, vit + row * H, H * sizeof *e);
            row++;
        }
    free(ids32);
    return e;
}

/* log-softmax in double */
static void log_softmax(const float *x, int n, double *out) {
    double mx = -INFINITY, s = 0;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    const double lse = mx + log(s);
    for (int i = 0; i < n; i++) out[i] = (double)x[i] - lse;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Advance one model by n embedding rows; its logits then hold the last row's distribution. */
static int step(run *r, const float *embeds, int n) {
    mv_error err;
    mv_status rc = mv_llm_forward(r->model->llm, r->model->pool, r->kv, embeds, n, r->logits, &err);
    CHECK(rc == MV_OK, "forward: %s", err.message);
    return rc == MV_OK;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s MODEL_DIR CASE PROMPT q8|q4|kv16 TOP1_MIN KL_MAX KL_MAX_STEP\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *case_name = argv[2], *prompt = argv[3], *qtype = argv[4];
    const double top1_min = atof(argv[5]), kl_max = atof(argv[6]), kl_step_max = atof(argv[7]);
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s/%s.safetensors", case_name, prompt);
    mv_error err = { 0 };
    mv_safetensors *gold = NULL;
    CHECK_OK(mv_st_open(mvt_shared(rel), &gold, &err), &err);
    size_t n_ids, n_gen, n_vit = 0, n_margin;
    int64_t *ids = mvt_tensor_i64(gold, "input_ids", &n_ids), *gen = mvt_tensor_i64(gold, "gen_ids", &n_gen);
    float *vit = mv_st_find(gold, "vit_embeds") ? mvt_tensor_f32(gold, "vit_embeds", &n_vit) : NULL;
    float *margins = mvt_tensor_f32(gold, "gen_top2_margin", &n_margin);
    if (!ids || !gen || !margins) return mvt_done("test_quant_precision");

    run r[2] = { { 0 } };
    for (int i = 0; i < 2; i++) {
        mv_model_params p = mv_model_default_params();
        p.n_threads = 2;
        p.context_length = (int)(n_ids + n_gen + 1);
        const int kv16_only = !strcmp(qtype, "kv16");
        p.quantize = i && !kv16_only ? qtype : NULL;
        p.kv_cache = i == 0 ? MV_KV_F32 : kv16_only ? MV_KV_F16 : MV_KV_AUTO;
        CHECK_OK(mv_model_load(dir, &p, &r[i].model, &err), &err);
        r[i].kv = mv_kv_create(r[i].model->llm, p.context_length, r[i].model->kv_cache == MV_KV_F16 ? MV_F16 : MV_F32);
        CHECK(i == 0 || r[i].model->kv_cache == MV_KV_F16, "the fast path's cache is F16");
        r[i].logits = malloc((size_t)mv_llm_vocab(r[i].model->llm) * sizeof(float));
        CHECK(r[i].kv && r[i].logits, "allocations");
    }
    const int V = mv_llm_vocab(r[0].model->llm), H = mv_llm_hidden(r[0].model->llm);
    double *lp_ref = malloc((size_t)V * sizeof *lp_ref), *lp_q = malloc((size_t)V * sizeof *lp_q);
    float *embeds = prompt_embeds(r[0].model, ids, n_ids, vit, n_vit);
    float *tok = malloc((size_t)H * sizeof *tok);
    int agree = 0, ref_golden = 0, steps = 0, golden_checked = 0, diverged = 0;
    double kl_sum = 0, kl_worst = 0;
    printf("%s %s %s: step  ref-top1 q-top1  golden  margin   KL(ref||q)\n", case_name, prompt, qtype);
    for (size_t s = 0; s < n_gen; s++) {
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++) {
            if (s == 0) {
                ok = step(&r[i], embeds, (int)n_ids);
            } else {
                int32_t id = (int32_t)gen[s - 1]; /* teacher forcing along the golden continuation */
                ok = mv_llm_embed(r[i].model->llm, &id, 1, tok, &err) == MV_OK && step(&r[i], tok, 1);
            }
        }
        if (!ok) break;
        log_softmax(r[0].logits, V, lp_ref);
        log_softmax(r[1].logits, V, lp_q);
        double kl = 0;
        for (int v = 0; v < V; v++) kl += exp(lp_ref[v]) * (lp_ref[v] - lp_q[v]);
        const int a = argmax(r[0].logits, V), b = argmax(r[1].logits, V);
        agree += a == b;
        kl_sum += kl;
        kl_worst = kl > kl_worst ? kl : kl_worst;
        /* the reference path must follow the golden ids wherever the golden margin exceeds its error */
        if (!diverged && margins[s] >= 1e-3f) {
            golden_checked++;
            ref_golden += a == gen[s];
        }
        diverged |= a != gen[s];
        steps++;
        printf("  %4zu  %8d %8d %8lld  %.4f  %.3e\n", s, a, b, (long long)gen[s], (double)margins[s], kl);
    }
    const double top1 = steps ? (double)agree / steps : 0, kl_mean = steps ? kl_sum / steps : INFINITY;
    printf("RESULT %s %s %s: top-1 agreement %d/%d = %.3f, KL mean %.3e max %.3e (nats); reference = golden on "
           "%d/%d steps\n", case_name, prompt, qtype, agree, steps, top1, kl_mean, kl_worst, ref_golden, golden_checked);
    CHECK(steps == (int)n_gen, "ran %d of %zu steps", steps, n_gen);
    CHECK(ref_golden == golden_checked, "reference path left the golden ids");
    CHECK(top1 >= top1_min, "top-1 agreement %.3f below %.3f", top1, top1_min);
    CHECK(kl_mean <= kl_max, "mean KL %.3e above %.3e", kl_mean, kl_max);
    CHECK(kl_worst <= kl_step_max, "worst step KL %.3e above %.3e", kl_worst, kl_step_max);
    for (int i = 0; i < 2; i++) {
        mv_kv_free(r[i].kv);
        free(r[i].logits);
        mv_model_free(r[i].model);
    }
    free(lp_ref);
    free(lp_q);
    free(embeds);
    free(tok);
    free(ids);
    free(gen);
    free(vit);
    free(margins);
    mv_st_close(gold);
    return mvt_done("test_quant_precision");
}
