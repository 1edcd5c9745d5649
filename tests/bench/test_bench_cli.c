/* `minivl bench --json` on tiny-qwen2 with the fewest repetitions: one JSON object with every key
 * the issue names, each a positive number (speeds are reported, never asserted), threads as asked,
 * weights_mb equal to the checkpoint's tensor bytes, the KV cache auto resolves to (f32 on the
 * reference path, f16 with --quantize q8, unchanged by --quantize-vision) or the one forced; and usage
 * errors exit 2 with a message. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *const numeric_keys[] = { "vision_ms_per_tile", "prefill_tok_s", "load_ms", "peak_rss_mb",
                                            "weights_mb", "threads" };

static void check_positive(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    CHECK(cJSON_IsNumber(v) && v->valuedouble > 0, "%s is a positive number", key);
}

static void check_json(const char *out, const char *quant, const char *quant_vision, const char *kv_cache) {
    cJSON *o = cJSON_Parse(out);
    CHECK(cJSON_IsObject(o), "output is one JSON object: %s", out);
    if (!o) return;
    for (size_t i = 0; i < sizeof numeric_keys / sizeof *numeric_keys; i++) check_positive(o, numeric_keys[i]);
    const cJSON *d = cJSON_GetObjectItem(o, "decode_tok_s");
    CHECK(cJSON_IsObject(d), "decode_tok_s is an object");
    check_positive(d, "300");
    check_positive(d, "2000");
    CHECK(cJSON_GetObjectItem(o, "threads")->valuedouble == 2, "threads = 2");
    const cJSON *p = cJSON_GetObjectItem(o, "precision"), *q = cJSON_GetObjectItem(o, "quant");
    CHECK(cJSON_IsString(p) && !strcmp(p->valuestring, "f32"), "precision f32");
    CHECK(cJSON_IsString(q) && !strcmp(q->valuestring, quant), "quant %s", quant);
    const cJSON *qv = cJSON_GetObjectItem(o, "quant_vision");
    CHECK(cJSON_IsString(qv) && !strcmp(qv->valuestring, quant_vision), "quant_vision %s", quant_vision);
    const cJSON *kv = cJSON_GetObjectItem(o, "kv_cache");
    CHECK(cJSON_IsString(kv) && !strcmp(kv->valuestring, kv_cache), "kv_cache %s", kv_cache);
    /* tiny-qwen2 holds 19,677,824 BF16 parameters (manifest num_params) */
    double mb = cJSON_GetObjectItem(o, "weights_mb")->valuedouble, want = 19677824.0 * 2 / (1024.0 * 1024.0);
    CHECK(mb > want * 0.999 && mb < want * 1.001, "weights_mb %.3f, expected %.3f", mb, want);
    CHECK(cJSON_GetObjectItem(o, "peak_rss_mb")->valuedouble < 4096, "peak RSS below 4 GiB for a 38 MiB model");
    cJSON_Delete(o);
}

/* A usage error: exit status 2 and `want` in the message. */
static void expect_usage_error(const char *args, const char *want) {
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s/minivl' bench %s 2>&1", MV_BUILD_DIR, args);
    int rc = mvt_run(cmd, &out);
    CHECK(rc == 2 && out && strstr(out, want), "bench %s: exit %d, output '%s' lacks '%s'", args, rc, out ? out : "", want);
    free(out);
}

int main(void) {
    char cmd[2048], *out = NULL;
    const char *model = mvt_build("models/tiny-qwen2");
    static const struct { const char *args, *quant, *quant_vision, *kv_cache; } runs[] = {
        { "", "none", "none", "f32" },
        { "--quantize q8", "q8", "none", "f16" },
        { "--quantize q8 --kv-cache f32", "q8", "none", "f32" },
        { "--quantize-vision q8", "none", "q8", "f32" }, /* the cache follows the language model only */
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        snprintf(cmd, sizeof cmd, "'%s/minivl' bench -m '%s' --json -t 2 --reps 1 --vision-reps 1 --decode-tokens 2 %s",
                 MV_BUILD_DIR, model, runs[i].args);
        rc = mvt_run(cmd, &out);
        CHECK(rc == 0, "minivl bench %s: exit %d", runs[i].args, rc);
        if (rc == 0 && out) check_json(out, runs[i].quant, runs[i].quant_vision, runs[i].kv_cache);
        free(out);
        out = NULL;
    }

    expect_usage_error("--json", "-m DIR is required");
    expect_usage_error("-m x --precision fp8", "--precision expects f32 or bf16, got 'fp8'");
    expect_usage_error("-m x --quantize q3", "--quantize expects none, q8 or q4, got 'q3'");
    expect_usage_error("-m x --quantize-vision q4", "--quantize-vision expects none or q8, got 'q4'");
    expect_usage_error("-m x --kv-cache q8", "--kv-cache expects auto, f32 or f16, got 'q8'");
    expect_usage_error("-m x --reps 0", "--reps expects an integer");
    expect_usage_error("-m x --bogus 1", "unknown option '--bogus'");

    snprintf(cmd, sizeof cmd, "'%s/minivl' bench -m '%s/no-such-model' --reps 1 2>&1", MV_BUILD_DIR, MV_BUILD_DIR);
    rc = mvt_run(cmd, &out);
    CHECK(rc == 1 && out && strstr(out, "no-such-model"), "missing model dir: exit %d, '%s'", rc, out ? out : "");
    free(out);
    return mvt_done("test_bench_cli");
}
