/* test_tensor_spec.c — the tensor list derived from config.json matches the shipped tiny checkpoints
 * exactly and the full InternVL2-1B parameter count; mv_spec_validate accepts the goldens and names the
 * tensor in every rejection. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/config.h"
#include "io/tensor_spec.h"
#include "synthtest.h"
#include "testutil.h"

static int load_config(const char *case_name, mv_config *cfg) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s", case_name);
    mv_error err = { 0 };
    mv_status rc = mv_config_load_dir(mvt_shared(rel), cfg, &err);
    CHECK(rc == MV_OK, "%s config: %s", case_name, err.message);
    return rc == MV_OK;
}

static int same_shape(const mv_tensor_spec *s, const mv_tensor *t) {
    if (s->ndim != t->ndim) return 0;
    for (int d = 0; d < s->ndim; d++)
        if (s->shape[d] != t->shape[d]) return 0;
    return 1;
}

/* Spec == the shipped checkpoint's header: same count, every name with the same shape. */
static void check_tiny(const char *case_name) {
    mv_config cfg;
    if (!load_config(case_name, &cfg)) return;
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s", case_name);
    mv_error err = { 0 };
    mv_weights *w = NULL;
    mv_spec_list s;
    if (mv_weights_open_dir(mvt_shared(rel), &w, &err) != MV_OK || mv_spec_build(&cfg, &s, &err) != MV_OK) {
        CHECK(0, "%s: %s", case_name, err.message);
        mv_weights_close(w);
        return;
    }
    CHECK(s.n == mv_weights_count(w), "%s: spec has %zu tensors, checkpoint %zu", case_name, s.n, mv_weights_count(w));
    uint64_t file_params = 0;
    for (size_t i = 0; i < mv_weights_count(w); i++) file_params += (uint64_t)mv_weights_at(w, i)->numel;
    for (size_t i = 0; i < s.n; i++) {
        const mv_tensor *t = mv_weights_find(w, s.t[i].name);
        CHECK(t && same_shape(&s.t[i], t), "%s: '%s' missing or with another shape", case_name, s.t[i].name);
    }
    CHECK(s.n_params == file_params, "%s: %llu params, file %llu", case_name, (unsigned long long)s.n_params, (unsigned long long)file_params);
    CHECK(mv_spec_validate(w, &cfg, &err) == MV_OK, "%s: validate: %s", case_name, err.message);
    printf("%s: %zu tensors, %llu params match the shipped checkpoint\n", case_name, s.n, (unsigned long long)s.n_params);
    mv_spec_free(&s);
    mv_weights_close(w);
}

static void check_full(void) {
    mv_config cfg;
    if (!load_config("full-internvl2-1b", &cfg)) return;
    mv_spec_list s;
    mv_error err = { 0 };
    if (mv_spec_build(&cfg, &s, &err) != MV_OK) { CHECK(0, "%s", err.message); return; }
    uint64_t want = 0;
    CHECK(synth_manifest_u64("full-internvl2-1b", "num_params", &want) == 0, "manifest num_params");
    CHECK(want == 938158976ull && s.n_params == want, "full: %llu params, manifest %llu", (unsigned long long)s.n_params, (unsigned long long)want);
    /* vision 4 + 24 layers x 14, projector 6, LLM 3 + 24 layers x 12 */
    CHECK(s.n == 4 + 24 * 14 + 6 + 3 + 24 * 12, "full: %zu tensors", s.n);
    mv_spec_free(&s);

    /* Config switches that add or drop tensors. */
    uint64_t base = want;
    cfg.llm.tie_word_embeddings = 1;
    CHECK(mv_spec_build(&cfg, &s, &err) == MV_OK, "%s", err.message);
    CHECK(s.n_params == base - 151655ull * 896, "tied embeddings drop lm_head: %llu", (unsigned long long)s.n_params);
    for (size_t i = 0; i < s.n; i++) CHECK(!strstr(s.t[i].name, "lm_head"), "tied: %s listed", s.t[i].name);
    mv_spec_free(&s);
    cfg.llm.tie_word_embeddings = 0;
    cfg.vit.use_rms_norm = 1;
    cfg.vit.qk_normalization = 1;
    cfg.vit.qkv_bias = 0;
    CHECK(mv_spec_build(&cfg, &s, &err) == MV_OK, "%s", err.message);
    /* per layer: -2 norm biases, +2 q/k norms, -qkv bias (3C) */
    CHECK(s.n_params == base - 24ull * 3 * 1024, "rms/qk-norm/no-qkv-bias: %llu", (unsigned long long)s.n_params);
    int has_qnorm = 0;
    for (size_t i = 0; i < s.n; i++) has_qnorm |= strcmp(s.t[i].name, "vision_model.encoder.layers.23.attn.q_norm.weight") == 0;
    CHECK(has_qnorm, "q_norm listed");
    mv_spec_free(&s);

    snprintf(cfg.llm.architecture, sizeof cfg.llm.architecture, "LlamaForCausalLM");
    mv_status rc = mv_spec_build(&cfg, &s, &err);
    CHECK(rc == MV_ERR_UNSUPPORTED && strstr(err.message, "LlamaForCausalLM") && strstr(err.message, "Qwen2ForCausalLM"),
          "unknown architecture -> %s: %s", mv_status_name(rc), err.message);
    CHECK(s.t == NULL && s.n == 0, "no list on failure");
}

/* A copy of tiny-qwen2's checkpoint with one tensor changed: renamed, reshaped or retyped. */
typedef struct mutation {
    const char *target, *new_name;
    int ndim;
    int64_t shape[4];
    mv_dtype dtype;
} mutation;

static void write_mutant(const mv_weights *w, const mutation *m, const char *dir) {
    mkdir(dir, 0777);
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mv_st_writer *sw = mv_stw_new();
    mv_error err = { 0 };
    void *zeros = NULL;
    for (size_t i = 0; i < mv_weights_count(w); i++) {
        const mv_tensor *t = mv_weights_at(w, i);
        if (strcmp(t->name, m->target) != 0) {
            CHECK(mv_stw_add(sw, t->name, t->dtype, t->ndim, t->shape, t->data, &err) == MV_OK, "%s", err.message);
            continue;
        }
        int64_t n = 1;
        for (int d = 0; d < m->ndim; d++) n *= m->shape[d];
        zeros = calloc((size_t)n, mv_dtype_size(m->dtype));
        CHECK(mv_stw_add(sw, m->new_name, m->dtype, m->ndim, m->shape, zeros, &err) == MV_OK, "%s", err.message);
    }
    CHECK(mv_stw_write(sw, path, &err) == MV_OK, "%s", err.message);
    mv_stw_free(sw);
    free(zeros);
}

static void check_rejects(void) {
    mv_config cfg;
    if (!load_config("tiny-qwen2", &cfg)) return;
    mv_error err = { 0 };
    mv_weights *golden = NULL;
    if (mv_weights_open_dir(mvt_shared("golden/tiny-qwen2"), &golden, &err) != MV_OK) { CHECK(0, "%s", err.message); return; }
    const struct { mutation m; const char *dir, *expect[3]; } cases[] = {
        { { "language_model.model.norm.weight", "language_model.model.norm.weights", 1, { 64 }, MV_BF16 }, "spec-renamed",
          { "'language_model.model.norm.weight'", "missing", "[64]" } },
        { { "mlp1.1.weight", "mlp1.1.weight", 2, { 128, 128 }, MV_BF16 }, "spec-reshaped",
          { "'mlp1.1.weight'", "[128,128]", "[64,256]" } },
        { { "vision_model.encoder.layers.1.ls2", "vision_model.encoder.layers.1.ls2", 1, { 64 }, MV_I32 }, "spec-retyped",
          { "'vision_model.encoder.layers.1.ls2'", "I32", "BF16" } },
        { { "language_model.model.layers.1.self_attn.k_proj.bias", "language_model.model.layers.1.self_attn.k_proj.bias", 2, { 1, 32 }, MV_F32 },
          "spec-rank", { "'language_model.model.layers.1.self_attn.k_proj.bias'", "[1,32]", "[32]" } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char rel[128];
        snprintf(rel, sizeof rel, "synth-test/%s", cases[c].dir);
        const char *dir = mvt_build(rel);
        write_mutant(golden, &cases[c].m, dir);
        mv_weights *w = NULL;
        mv_status rc = mv_weights_open_dir(dir, &w, &err);
        CHECK(rc == MV_OK, "%s: %s", cases[c].dir, err.message);
        if (rc != MV_OK) continue;
        rc = mv_spec_validate(w, &cfg, &err);
        CHECK(rc == MV_ERR_FORMAT, "%s -> %s", cases[c].dir, mv_status_name(rc));
        for (int k = 0; k < 3; k++)
            CHECK(strstr(err.message, cases[c].expect[k]), "%s: message lacks %s: %s", cases[c].dir, cases[c].expect[k], err.message);
        printf("%s: %s\n", cases[c].dir, err.message);
        mv_weights_close(w);
    }
    /* F32 and F16 copies of a tensor are acceptable float dtypes. */
    const mutation f32 = { "mlp1.1.bias", "mlp1.1.bias", 1, { 64 }, MV_F32 };
    write_mutant(golden, &f32, mvt_build("synth-test/spec-f32"));
    mv_weights *w = NULL;
    CHECK(mv_weights_open_dir(mvt_build("synth-test/spec-f32"), &w, &err) == MV_OK, "%s", err.message);
    CHECK(w && mv_spec_validate(w, &cfg, &err) == MV_OK, "F32 tensor rejected: %s", err.message);
    mv_weights_close(w);
    mv_weights_close(golden);
}

int main(void) {
    mkdir(mvt_build("synth-test"), 0777);
    check_tiny("tiny-qwen2");
    check_tiny("tiny-internlm2");
    check_tiny("tiny-phi3");
    check_full();
    check_rejects();
    return mvt_done("test_tensor_spec");
}
