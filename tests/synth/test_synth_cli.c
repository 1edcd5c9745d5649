/* test_synth_cli.c — `minivl synth`: writes the checkpoint, copies tokenizer files, prints sha256s,
 * and rejects bad usage with a non-zero exit. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synthtest.h"
#include "testutil.h"

static int run(const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' synth %s 2>&1", mvt_build("minivl"), args);
    return mvt_run(cmd, out);
}

int main(void) {
    char args[3072], want[80], *out = NULL;
    const char *dir = mvt_build("synth-test/cli-qwen2"), *tok = mvt_shared("tokenizers/qwen2-internvl2-1b");
    snprintf(args, sizeof args, "--config '%s' --out '%s' --tokenizer '%s'", mvt_shared("golden/tiny-qwen2/config.json"), dir, tok);
    int rc = run(args, &out);
    CHECK(rc == 0, "exit %d: %s", rc, out ? out : "");
    CHECK(synth_manifest_str("tiny-qwen2", "model_safetensors_sha256", want, sizeof want) == 0, "manifest");
    CHECK(out && strstr(out, want) && strstr(out, "model.safetensors"), "output lacks the model's sha256: %s", out ? out : "");
    static const char *const copied[] = { "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt" };
    for (int i = 0; i < 4; i++) {
        char a[2048], b[2048];
        snprintf(a, sizeof a, "%s/%s", dir, copied[i]);
        snprintf(b, sizeof b, "%s/%s", tok, copied[i]);
        CHECK(synth_files_equal(a, b), "%s not copied", copied[i]);
        CHECK(out && strstr(out, a), "output does not mention %s", a);
    }
    char absent[2048];
    snprintf(absent, sizeof absent, "%s/tokenizer.model", dir);
    CHECK(access(absent, F_OK) != 0, "tokenizer.model copied though absent in the source");
    free(out);

    rc = run("--config", &out);
    CHECK(rc == 2 && out && strstr(out, "usage"), "missing value -> exit %d: %s", rc, out ? out : "");
    free(out);
    rc = run("--bogus x", &out);
    CHECK(rc == 2 && out && strstr(out, "--bogus"), "unknown option -> exit %d: %s", rc, out ? out : "");
    free(out);
    snprintf(args, sizeof args, "--config '%s' --out '%s'", mvt_build("synth-test/no-such.json"), mvt_build("synth-test/cli-x"));
    rc = run(args, &out);
    CHECK(rc == 1 && out && strstr(out, "no-such.json"), "missing config -> exit %d: %s", rc, out ? out : "");
    free(out);
    return mvt_done("test_synth_cli");
}
