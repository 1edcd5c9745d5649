/* test_synth_tiny.c — mv_synth_checkpoint on the tiny golden configs reproduces the shipped checkpoints
 * byte for byte (and so their manifest sha256), and fails cleanly on bad input. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "synthtest.h"
#include "testutil.h"

static void check_case(const char *case_name) {
    char rel[256], out_dir[1024], want[80], got[65] = "";
    snprintf(rel, sizeof rel, "synth-test/%s", case_name);
    snprintf(out_dir, sizeof out_dir, "%s", mvt_build(rel));
    char *model = mv_path_join(out_dir, "model.safetensors"), *cfg = mv_path_join(out_dir, "config.json");
    remove(model); /* prove this run generates it */
    snprintf(rel, sizeof rel, "golden/%s/config.json", case_name);
    char cfg_in[1024];
    snprintf(cfg_in, sizeof cfg_in, "%s", mvt_shared(rel));
    mv_error err = { 0 };
    mv_status rc = mv_synth_checkpoint(cfg_in, out_dir, &err);
    CHECK(rc == MV_OK, "%s: %s", case_name, err.message);
    CHECK(synth_manifest_str(case_name, "model_safetensors_sha256", want, sizeof want) == 0, "%s: manifest sha", case_name);
    CHECK(mvt_sha256_file(model, got) == 0, "%s: cannot hash %s", case_name, model);
    CHECK(strcmp(got, want) == 0, "%s: sha256 %s, manifest %s", case_name, got, want);
    snprintf(rel, sizeof rel, "golden/%s/model.safetensors", case_name);
    CHECK(synth_files_equal(model, mvt_shared(rel)), "%s: differs from the shipped model.safetensors", case_name);
    CHECK(synth_files_equal(cfg, cfg_in), "%s: config.json is not a byte copy", case_name);
    printf("%s: sha256 %s\n", case_name, got);
    free(model);
    free(cfg);
}

/* tiny-qwen2's config with its LLM architecture renamed. */
static void check_unsupported(void) {
    size_t len;
    mv_error err = { 0 };
    char *text = mv_read_file(mvt_shared("golden/tiny-qwen2/config.json"), 1 << 20, &len, &err);
    CHECK(text != NULL, "read config");
    if (!text) return;
    char *p = strstr(text, "\"Qwen2ForCausalLM\"");
    CHECK(p != NULL, "architecture in config");
    if (p) memcpy(p, "\"LlamaForCausalLM\"", 18);
    const char *cfg = mvt_build("synth-test/llama-config.json");
    CHECK(mvt_write_file(cfg, text, len) == 0, "write config");
    free(text);
    const char *out = mvt_build("synth-test/llama-out");
    mv_status rc = mv_synth_checkpoint(cfg, out, &err);
    CHECK(rc == MV_ERR_UNSUPPORTED, "unsupported architecture -> %s", mv_status_name(rc));
    CHECK(strstr(err.message, "LlamaForCausalLM") && strstr(err.message, "Qwen2ForCausalLM") &&
              strstr(err.message, "InternLM2ForCausalLM") && strstr(err.message, "Phi3ForCausalLM"),
          "message names the architecture and the supported ones: %s", err.message);
    CHECK(access(mvt_build("synth-test/llama-out/model.safetensors"), F_OK) != 0, "nothing written");
}

static void check_bad_paths(void) {
    mv_error err = { 0 };
    mv_status rc = mv_synth_checkpoint(mvt_build("synth-test/no-such-config.json"), mvt_build("synth-test/x"), &err);
    CHECK(rc == MV_ERR_IO && strstr(err.message, "no-such-config.json"), "missing config -> %s: %s", mv_status_name(rc), err.message);
    const char *bad = mvt_build("synth-test/bad-config.json");
    CHECK(mvt_write_file(bad, "{\"template\": ", 13) == 0, "write");
    rc = mv_synth_checkpoint(bad, mvt_build("synth-test/x"), &err);
    CHECK(rc == MV_ERR_CONFIG, "broken config -> %s: %s", mv_status_name(rc), err.message);
    /* out_dir below a regular file */
    const char *file = mvt_build("synth-test/plain-file");
    CHECK(mvt_write_file(file, "x", 1) == 0, "write");
    rc = mv_synth_checkpoint(mvt_shared("golden/tiny-qwen2/config.json"), mvt_build("synth-test/plain-file/sub"), &err);
    CHECK(rc == MV_ERR_IO && strstr(err.message, "plain-file"), "out dir under a file -> %s: %s", mv_status_name(rc), err.message);
    rc = mv_synth_checkpoint(NULL, "x", &err);
    CHECK(rc == MV_ERR_ARG, "NULL config -> %s", mv_status_name(rc));
}

int main(void) {
    check_case("tiny-qwen2");
    check_case("tiny-internlm2");
    check_case("tiny-phi3");
    check_unsupported();
    check_bad_paths();
    return mvt_done("test_synth_tiny");
}
