/* test_synth_full.c (slow) — the full-size InternVL2-1B SYNTH-1 checkpoint: generated into the build tree
 * (kept as a cache for other tests), sha256 equal to the README's, 938,158,976 parameters, valid spec. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/config.h"
#include "io/tensor_spec.h"
#include "synthtest.h"
#include "testutil.h"

#define FULL_SHA "6b931272993d517d5ae36881cd1f576999616b97176c2152c5bb35b40cfb2233"

int main(void) {
    const char *dir = MV_BUILD_DIR "/synth-cache/full-internvl2-1b";
    const char *model = MV_BUILD_DIR "/synth-cache/full-internvl2-1b/model.safetensors";
    char sha[65] = "", want[80] = "";
    CHECK(synth_manifest_str("full-internvl2-1b", "model_safetensors_sha256", want, sizeof want) == 0 && strcmp(want, FULL_SHA) == 0,
          "manifest sha256 %s", want);
    mv_error err = { 0 };
    if (access(model, F_OK) == 0 && mvt_sha256_file(model, sha) == 0 && strcmp(sha, FULL_SHA) == 0) {
        printf("cached %s is current\n", model);
    } else {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_OK(mv_synth_checkpoint(mvt_shared("golden/full-internvl2-1b/config.json"), dir, &err), &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("generated %s in %.1f s\n", model, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        CHECK(mvt_sha256_file(model, sha) == 0, "hash %s", model);
    }
    CHECK(strcmp(sha, FULL_SHA) == 0, "sha256 %s, want %s", sha, FULL_SHA);

    mv_config cfg;
    mv_weights *w = NULL;
    CHECK_OK(mv_config_load_dir(dir, &cfg, &err), &err);
    CHECK_OK(mv_weights_open_dir(dir, &w, &err), &err);
    uint64_t params = 0, want_params = 0;
    for (size_t i = 0; i < mv_weights_count(w); i++) params += (uint64_t)mv_weights_at(w, i)->numel;
    CHECK(synth_manifest_u64("full-internvl2-1b", "num_params", &want_params) == 0, "manifest num_params");
    CHECK(params == 938158976ull && params == want_params, "%llu params", (unsigned long long)params);
    CHECK(mv_spec_validate(w, &cfg, &err) == MV_OK, "%s", err.message);
    const mv_tensor *emb = mv_weights_find(w, "language_model.model.embed_tokens.weight");
    const uint16_t first[4] = { 0x3cdd, 0x3d14, 0xbd60, 0xbce6 };
    CHECK(emb && emb->dtype == MV_BF16 && memcmp(emb->data, first, 8) == 0, "embed_tokens first values");
    mv_weights_close(w);
    return mvt_done("test_synth_full");
}
