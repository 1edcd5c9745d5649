/* test_precision_golden.c — precision bf16 end to end against the FP32 PyTorch goldens:
 *   test_precision_golden MODEL_DIR CASE PROMPT MIN_COS [RUN_OPTIONS]
 * runs `minivl run --precision bf16 [RUN_OPTIONS] --dump-tensors` on one golden prompt (RUN_OPTIONS:
 * e.g. "--quantize-vision q8") and asserts that the cosine similarity of vit_embeds and of
 * logits_last with the golden is at least MIN_COS; it also checks in-process what the model reports
 * for each precision and that bad values are refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "testutil.h"
#include "vlm.h"

typedef struct cmp { double cos, max_abs, ref_max; } cmp;

static cmp compare(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    cmp c = { 0, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= c.max_abs)) c.max_abs = d;
        if (fabs(b[i]) > c.ref_max) c.ref_max = fabs(b[i]);
    }
    c.cos = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1 : 0);
    return c;
}

static size_t argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy top-1 must agree where the golden's first-step top-2 margin is wider than BF16's logit error
 * (max |d| ≈ 0.04 on the goldens); a closer call may flip, and is only reported. */
static const double TOP1_MARGIN = 0.1;

static void check_tensor(const mv_safetensors *dump, const mv_safetensors *gold, const char *name, double min_cos) {
    size_t n = 0, n_ref = 0;
    float *got = mvt_tensor_f32(dump, name, &n), *ref = mvt_tensor_f32(gold, name, &n_ref);
    CHECK(got && ref && n == n_ref, "%s: %zu values, golden %zu", name, n, n_ref);
    if (got && ref && n == n_ref) {
        cmp c = compare(got, ref, n);
        printf("%s: cosine %.6f (1 - cos = %.2e), max |d| %.4g of max |ref| %.4g", name, c.cos, 1 - c.cos, c.max_abs,
               c.ref_max);
        if (!strcmp(name, "logits_last")) {
            size_t n_m = 0;
            float *margin = mvt_tensor_f32(gold, "gen_top2_margin", &n_m);
            printf(", top-1 %zu vs golden %zu (golden margin %.4f)", argmax(got, n), argmax(ref, n), margin ? margin[0] : 0);
            if (margin && n_m && margin[0] >= TOP1_MARGIN)
                CHECK(argmax(got, n) == argmax(ref, n), "top-1 differs at golden margin %.4f", margin[0]);
            free(margin);
        }
        printf("\n");
        CHECK(c.cos >= min_cos, "%s: cosine %.6f < %.6f", name, c.cos, min_cos);
    }
    free(got);
    free(ref);
}

/* The info reports the precision asked for, and auto resolves the KV cache by it; bad values are refused. */
static void check_precision_info(const char *model) {
    mv_error err = { 0 };
    for (int prec = MV_PRECISION_F32; prec <= MV_PRECISION_BF16; prec++) {
        mv_model_params mp = mv_model_default_params();
        mp.n_threads = 2;
        mp.precision = (mv_precision)prec;
        mv_model *m = NULL;
        if (mv_model_load(model, &mp, &m, &err) != MV_OK) { CHECK(0, "load: %s", err.message); return; }
        mv_model_info info;
        mv_model_get_info(m, &info);
        printf("precision %s: BF16 kernel %s (weights %.1f MB)\n", prec ? "bf16" : "f32", info.bf16_kernel,
               info.weights_bytes / 1e6);
        CHECK(info.precision == (mv_precision)prec, "info.precision");
        /* auto: the reference path keeps an exact cache, the fast path gets F16 */
        CHECK(info.kv_cache == (prec ? MV_KV_F16 : MV_KV_F32), "kv_cache auto resolved to %d", (int)info.kv_cache);
        mv_model_free(m);
    }
    mv_model_params bad = mv_model_default_params();
    bad.precision = (mv_precision)7;
    mv_model *m = NULL;
    CHECK(mv_model_load(model, &bad, &m, &err) == MV_ERR_ARG && !m, "unknown precision refused");
    bad = mv_model_default_params();
    bad.kv_cache = (mv_kv_type)9;
    CHECK(mv_model_load(model, &bad, &m, &err) == MV_ERR_ARG && !m && strstr(err.message, "kv_cache"),
          "unknown KV-cache type refused: %s", err.message);
}

/* quantize_vision "q8": every encoder matrix of whole 32-blocks is Q8, the patch embedding (width
 * 3·P·P, not whole blocks) and the language model stay as stored; q4 and unknown names are refused. */
static void check_vision_quantization(const char *model) {
    mv_error err = { 0 };
    mv_model_params mp = mv_model_default_params();
    mp.n_threads = 2;
    mp.quantize_vision = "q8";
    mv_model *m = NULL;
    if (mv_model_load(model, &mp, &m, &err) != MV_OK) { CHECK(0, "load with quantize_vision q8: %s", err.message); return; }
    mv_matrix *mats[512];
    const int n = mv_internvit_matrices(m->vit, mats, 512);
    int q8 = 0, whole_blocks = 0;
    for (int i = 0; i < n && i < 512; i++) {
        whole_blocks += mats[i]->cols % 32 == 0;
        q8 += mats[i]->qtype == MV_Q8;
    }
    printf("quantize_vision q8: %d of %d encoder matrices Q8 (%d of whole blocks)\n", q8, n, whole_blocks);
    CHECK(n <= 512 && q8 == whole_blocks && q8 == n - 1, "Q8 exactly where the width is whole blocks");
    CHECK(!mv_llm_is_quantized(m->llm), "the language model stays as stored");
    mv_model_free(m);
    static const struct { const char *type, *msg; } bad[] = { { "q4", "only q8" }, { "q3", "not a quantization type" } };
    for (int i = 0; i < 2; i++) {
        mp.quantize_vision = bad[i].type;
        m = NULL;
        CHECK(mv_model_load(model, &mp, &m, &err) == MV_ERR_ARG && !m && strstr(err.message, bad[i].msg),
              "quantize_vision %s refused: %s", bad[i].type, err.message);
    }
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: %s MODEL_DIR CASE PROMPT MIN_COS [RUN_OPTIONS]\n", argv[0]); return 2; }
    const char *model = argv[1], *case_name = argv[2], *prompt_name = argv[3], *run_options = argc == 6 ? argv[5] : "";
    double min_cos = atof(argv[4]);
    char rel[512], cmd[8192], dump_path[600];
    mv_error err = { 0 };
    check_precision_info(model);
    check_vision_quantization(model);

    snprintf(rel, sizeof rel, "golden/%s/manifest.json", case_name);
    size_t len;
    char *mtext = mv_read_file(mvt_shared(rel), 1 << 26, &len, &err);
    CHECK(mtext, "%s", err.message);
    cJSON *manifest = mtext ? cJSON_ParseWithLength(mtext, len) : NULL;
    const cJSON *p = NULL, *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(manifest, "prompts"))
        if (!strcmp(cJSON_GetObjectItem(it, "prompt")->valuestring, prompt_name)) p = it;
    CHECK(p, "prompt %s in %s", prompt_name, rel);
    if (!p) { cJSON_Delete(manifest); free(mtext); return mvt_done("test_precision_golden"); }

    /* the process id keeps runs of the same prompt with other options (in parallel under ctest -j) apart */
    snprintf(dump_path, sizeof dump_path, "%s/prec-%s-%s-%ld.safetensors", MV_BUILD_DIR, case_name, prompt_name,
             (long)getpid());
    int n = snprintf(cmd, sizeof cmd, "'%s/minivl' run -m '%s' -t 2 -n 1 --precision bf16 %s --json --dump-tensors '%s'",
                     MV_BUILD_DIR, model, run_options, dump_path);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(p, "images")) {
        snprintf(rel, sizeof rel, "golden/images/%s.png", it->valuestring);
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -i '%s'", mvt_shared(rel));
    }
    snprintf(cmd + n, sizeof cmd - (size_t)n, " -p '%s'", cJSON_GetObjectItem(p, "question")->valuestring);
    char *out = NULL;
    int status = mvt_run(cmd, &out);
    CHECK(status == 0, "minivl run --precision bf16 exited %d", status);

    snprintf(rel, sizeof rel, "golden/%s/%s.safetensors", case_name, prompt_name);
    mv_safetensors *gold = NULL, *dump = NULL;
    CHECK_OK(mv_st_open(mvt_shared(rel), &gold, &err), &err);
    if (mv_st_open(dump_path, &dump, &err) == MV_OK) {
        if (mv_st_find(gold, "vit_embeds")) check_tensor(dump, gold, "vit_embeds", min_cos);
        check_tensor(dump, gold, "logits_last", min_cos);
        mv_st_close(dump);
    } else {
        CHECK(0, "dump file: %s", err.message);
    }
    mv_st_close(gold);
    cJSON_Delete(manifest);
    free(out);
    free(mtext);
    remove(dump_path);
    return mvt_done("test_precision_golden");
}
