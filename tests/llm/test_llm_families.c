/* test_llm_families.c — InternLM2 / Phi-3 specifics beyond the golden logits: the LongRoPE switch
 * rule and scale, dynamic-NTK / linear hooks, the sliding-window guard, and bad configs (rope factor
 * lists of the wrong length -> MV_ERR_CONFIG; family fields that contradict the tensors ->
 * MV_ERR_FORMAT naming the tensor). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "llm/llm_impl.h"
#include "llm_fixture.h"

/* Non-fatal CHECK_OK for void helpers (needs an mv_error `err` in scope). */
#define EXPECT_OK(call) CHECK((call) == MV_OK, "%s: %s", #call, err.message)

/* mv_llm_load on an edited config must fail with `code` and a message containing `needle`. */
static void expect_load(const llm_fixture *fx, const mv_config *cfg, mv_status code, const char *needle, const char *what) {
    mv_llm *m = NULL;
    mv_error err = { 0 };
    mv_status rc = mv_llm_load(fx->w, cfg, &m, &err);
    CHECK(rc == code && !m, "%s: got %s, expected %s", what, mv_status_name(rc), mv_status_name(code));
    CHECK(strstr(err.message, needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what, err.message, needle);
    printf("%s -> %s: %s\n", what, mv_status_name(rc), err.message);
    mv_llm_free(m);
}

/* LongRoPE on tiny-phi3: short factors while a call ends at <= 346 positions, long beyond, cos/sin
 * scaled by sqrt(1 + ln(16384/346) / ln(346)); frequencies checked against a double formula. */
static void phi3_switch_rule(const llm_fixture *fx) {
    const mv_llm *m = fx->llm;
    const mv_rope_scaling *s = &fx->cfg.llm.rope_scaling;
    const int half = m->head_dim / 2;
    CHECK(m->rope && m->rope_switch_len == 346, "LongRoPE hook not set up (switch %d)", m->rope_switch_len);
    if (!m->rope) return;
    float inv[64];
    const int ends[] = { 1, 346, 347, 1873 };
    for (int e = 0; e < 4; e++) {
        mv_rope_call rc = { inv, 1.0f, 1.0f };
        m->rope(m, ends[e], &rc);
        const int use_long = ends[e] > 346;
        const float *fac = use_long ? s->long_factor : s->short_factor;
        for (int i = 0; i < half; i++) {
            double want = 1.0 / (fac[i] * pow(10000.0, 2.0 * i / m->head_dim));
            CHECK(fabs(inv[i] - want) <= 1e-6 * want, "end %d: inv_freq[%d] = %g, expected %g (%s factors)", ends[e], i,
                  (double)inv[i], want, use_long ? "long" : "short");
        }
        double scale = sqrt(1.0 + log(16384.0 / 346.0) / log(346.0));
        CHECK(fabs(rc.cos_sin_scale - scale) < 1e-6 && rc.pos_div == 1.0f, "end %d: cos/sin scale %g, expected %g",
              ends[e], (double)rc.cos_sin_scale, scale);
    }
}

/* Prefilling img_chelsea in one call (long factors throughout) and as [0, 300) + rest (the first
 * call ends within 346: short factors for those cached keys) must differ, as upstream's would. */
static void phi3_per_call(const llm_fixture *fx) {
    mv_safetensors *st = NULL;
    mv_error err = { 0 };
    EXPECT_OK(mv_st_open(mvt_shared("golden/tiny-phi3/img_chelsea.safetensors"), &st, &err));
    int64_t *ids = NULL;
    int n = 0;
    float *emb = st ? llm_prompt_embeds(fx, st, &ids, &n) : NULL;
    const int V = mv_llm_vocab(fx->llm), H = mv_llm_hidden(fx->llm);
    float *one = malloc((size_t)V * sizeof *one), *split = malloc((size_t)V * sizeof *split);
    mv_kv_cache *a = mv_kv_create(fx->llm, n > 0 ? n : 1, MV_F32), *b = mv_kv_create(fx->llm, n > 0 ? n : 1, MV_F32);
    if (emb && one && split && a && b && n > 300) {
        EXPECT_OK(mv_llm_forward(fx->llm, fx->pool, a, emb, n, one, &err));
        EXPECT_OK(mv_llm_forward(fx->llm, fx->pool, b, emb, 300, NULL, &err));
        EXPECT_OK(mv_llm_forward(fx->llm, fx->pool, b, emb + (size_t)300 * H, n - 300, split, &err));
        float *ref = mvt_tensor_f32(st, "logits_last", NULL);
        if (ref) mvt_allclose("img_chelsea one-call prefill (long factors)", one, ref, (size_t)V, 1e-4, 1e-4);
        free(ref);
        double d = 0;
        for (int i = 0; i < V; i++) d = fmax(d, fabs((double)one[i] - split[i]));
        CHECK(d > 1e-2, "a prefill split at 300 should keep short-factor keys and differ (max |diff| %g)", d);
        printf("split prefill at 300 vs one call: max |diff| %.3g (expected to differ)\n", d);
    } else {
        CHECK(0, "phi3_per_call setup");
    }
    mv_kv_free(a);
    mv_kv_free(b);
    free(one);
    free(split);
    free(emb);
    free(ids);
    mv_st_close(st);
}

/* A model that refuses to run past sliding_window (upstream would start masking there). */
static void phi3_sliding_window(const llm_fixture *fx) {
    mv_config cfg = fx->cfg;
    cfg.llm.sliding_window = 20;
    mv_llm *m = NULL;
    mv_error err = { 0 };
    EXPECT_OK(mv_llm_load(fx->w, &cfg, &m, &err));
    if (!m) return;
    const int H = mv_llm_hidden(m);
    float *emb = calloc((size_t)21 * H, sizeof *emb);
    mv_kv_cache *kv = mv_kv_create(m, 64, MV_F32);
    for (int i = 0; emb && i < 21 * H; i++) emb[i] = (float)((i % 7) - 3) * 0.1f;
    if (emb && kv) {
        EXPECT_OK(mv_llm_forward(m, fx->pool, kv, emb, 20, NULL, &err));
        mv_status rc = mv_llm_forward(m, fx->pool, kv, emb + (size_t)20 * H, 1, NULL, &err);
        CHECK(rc == MV_ERR_CONTEXT && mv_kv_len(kv) == 20, "position 21 with sliding_window 20: got %s, cache %d",
              mv_status_name(rc), mv_kv_len(kv));
        printf("sliding window: %s\n", err.message);
    }
    mv_kv_free(kv);
    free(emb);
    mv_llm_free(m);
}

static void phi3_bad_configs(const llm_fixture *fx) {
    mv_config cfg = fx->cfg;
    cfg.llm.rope_scaling.n_short = 7;
    expect_load(fx, &cfg, MV_ERR_CONFIG, "short_factor has 7 entries", "short_factor of 7 for head_dim 16");
    cfg = fx->cfg;
    cfg.llm.rope_scaling.n_long = 9;
    expect_load(fx, &cfg, MV_ERR_CONFIG, "long_factor has 9 entries", "long_factor of 9 for head_dim 16");
    cfg = fx->cfg;
    cfg.llm.rope_scaling.n_long = 0;
    expect_load(fx, &cfg, MV_ERR_CONFIG, "long_factor has 0 entries", "long_factor missing");
    cfg = fx->cfg;
    cfg.llm.original_max_position_embeddings = 0;
    expect_load(fx, &cfg, MV_ERR_CONFIG, "original_max_position_embeddings", "original_max_position_embeddings missing");
    cfg = fx->cfg;
    snprintf(cfg.llm.rope_scaling.type, sizeof cfg.llm.rope_scaling.type, "dynamic");
    expect_load(fx, &cfg, MV_ERR_UNSUPPORTED, "'dynamic'", "Phi-3 with dynamic rope_scaling");
    cfg = fx->cfg;
    cfg.llm.intermediate_size = 96;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.layers.0.mlp.gate_up_proj.weight", "intermediate_size 96");
    cfg = fx->cfg;
    cfg.llm.num_kv_heads = 2;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.layers.0.self_attn.qkv_proj.weight", "num_key_value_heads 2");
    cfg = fx->cfg;
    snprintf(cfg.llm.architecture, sizeof cfg.llm.architecture, "InternLM2ForCausalLM");
    cfg.llm.rope_scaling.type[0] = '\0'; /* InternLM2 would reject LongRoPE before reading a tensor */
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.tok_embeddings.weight", "Phi-3 weights as InternLM2");
}

/* The same checks through config.json: a factor list edited in the JSON text. */
static void phi3_bad_json(const llm_fixture *fx) {
    mv_error err = { 0 };
    size_t len = 0;
    char *text = mv_read_file(mvt_shared("golden/tiny-phi3/config.json"), 1u << 20, &len, &err);
    cJSON *root = text ? cJSON_ParseWithLength(text, len) : NULL;
    cJSON *rs = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "llm_config"), "rope_scaling");
    cJSON *sf = cJSON_GetObjectItem(rs, "short_factor");
    CHECK(sf && cJSON_IsArray(sf), "tiny-phi3 config.json has no rope_scaling.short_factor");
    if (sf) {
        mv_config cfg;
        cJSON_AddItemToArray(sf, cJSON_CreateNumber(3.0));  /* 9 entries for head_dim/2 = 8 */
        char *edited = cJSON_PrintUnformatted(root);
        EXPECT_OK(mv_config_parse(edited, strlen(edited), "edited config.json", &cfg, &err));
        CHECK(cfg.llm.rope_scaling.n_short == 9, "parsed %d short factors", cfg.llm.rope_scaling.n_short);
        expect_load(fx, &cfg, MV_ERR_CONFIG, "head_dim/2 = 8", "config.json with 9 short factors");
        cJSON_free(edited);
        cJSON_ReplaceItemInArray(sf, 3, cJSON_CreateString("x"));
        edited = cJSON_PrintUnformatted(root);
        mv_status rc = mv_config_parse(edited, strlen(edited), "edited config.json", &cfg, &err);
        CHECK(rc == MV_ERR_CONFIG && strstr(err.message, "llm_config.rope_scaling.short_factor\"[3]"),
              "non-numeric factor: %s (%s)", mv_status_name(rc), err.message);
        printf("non-numeric factor -> %s: %s\n", mv_status_name(rc), err.message);
        cJSON_free(edited);
    }
    cJSON_Delete(root);
    free(text);
}

/* Dynamic NTK only changes the frequencies past max_position_embeddings (32768); linear divides
 * positions by the factor. */
static void internlm2_rope(const llm_fixture *fx) {
    const mv_llm *m = fx->llm;
    CHECK(m->rope != NULL && m->rope_factor == 2.0 && m->rope_max_pos == 32768, "dynamic NTK hook not set up");
    if (!m->rope) return;
    const int half = m->head_dim / 2, d = m->head_dim;
    float inv[64] = { 0 };
    mv_rope_call rc = { inv, 1.0f, 1.0f };
    m->rope(m, 32768, &rc);
    for (int i = 0; i < half; i++) CHECK(inv[i] == 0.0f, "dynamic NTK wrote frequencies at 32768 positions");
    memcpy(inv, m->inv_freq, (size_t)half * sizeof *inv);
    m->rope(m, 40000, &rc);
    const double base = 1e6 * pow(2.0 * 40000 / 32768 - 1.0, (double)d / (d - 2));
    for (int i = 0; i < half; i++) {
        double want = 1.0 / pow(base, 2.0 * i / d);
        CHECK(fabs(inv[i] - want) <= 1e-6 * want, "dynamic NTK at 40000: inv_freq[%d] = %g, expected %g", i, (double)inv[i], want);
    }
    CHECK(rc.cos_sin_scale == 1.0f && rc.pos_div == 1.0f, "dynamic NTK changed the cos/sin scale or positions");

    mv_config cfg = fx->cfg;
    snprintf(cfg.llm.rope_scaling.type, sizeof cfg.llm.rope_scaling.type, "linear");
    mv_llm *lin = NULL;
    mv_error err = { 0 };
    EXPECT_OK(mv_llm_load(fx->w, &cfg, &lin, &err));
    if (lin) {
        mv_rope_call lc = { inv, 1.0f, 1.0f };
        lin->rope(lin, 10, &lc);
        CHECK(lc.pos_div == 2.0f, "linear scaling: position divisor %g, expected 2", (double)lc.pos_div);
    }
    mv_llm_free(lin);
}

static void internlm2_bad_configs(const llm_fixture *fx) {
    mv_config cfg = fx->cfg;
    cfg.llm.num_kv_heads = 1;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.layers.0.attention.wqkv.weight", "num_key_value_heads 1");
    cfg = fx->cfg;
    cfg.llm.attention_bias = 1;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.layers.0.attention.wqkv.bias", "bias: true without biases");
    cfg = fx->cfg;
    cfg.llm.vocab_size = 92544;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.tok_embeddings.weight", "vocab_size 92544");
    cfg = fx->cfg;
    cfg.llm.tie_word_embeddings = 0;
    cfg.llm.intermediate_size = 256;
    expect_load(fx, &cfg, MV_ERR_FORMAT, "language_model.model.layers.0.feed_forward.w1.weight", "intermediate_size 256");
    cfg = fx->cfg;
    cfg.llm.rope_scaling.factor = 0;
    expect_load(fx, &cfg, MV_ERR_CONFIG, "rope_scaling.factor", "dynamic scaling without a factor");
    cfg = fx->cfg;
    snprintf(cfg.llm.rope_scaling.type, sizeof cfg.llm.rope_scaling.type, "su");
    expect_load(fx, &cfg, MV_ERR_UNSUPPORTED, "'su'", "InternLM2 with su rope_scaling");
}

int main(void) {
    llm_fixture fx;
    if (llm_fixture_open_case(&fx, "tiny-phi3")) {
        phi3_switch_rule(&fx);
        phi3_per_call(&fx);
        phi3_sliding_window(&fx);
        phi3_bad_configs(&fx);
        phi3_bad_json(&fx);
        llm_fixture_close(&fx);
    }
    if (llm_fixture_open_case(&fx, "tiny-internlm2")) {
        internlm2_rope(&fx);
        internlm2_bad_configs(&fx);
        llm_fixture_close(&fx);
    }
    return mvt_done("llm_families");
}
