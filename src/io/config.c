/* config.c — typed parse of an InternVL chat config.json over cJSON. */
#include "io/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"

typedef struct reader {
    const char *source;
    const char *section; /* "", "vision_config.", "llm_config." for messages */
    mv_error *err;
    mv_status rc;
} reader;

static const cJSON *field(reader *r, const cJSON *obj, const char *key, int required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if ((!v || cJSON_IsNull(v)) && required && r->rc == MV_OK)
        r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: missing field \"%s%s\"", r->source, r->section, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static void type_error(reader *r, const char *key, const char *want) {
    if (r->rc == MV_OK)
        r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: field \"%s%s\" must be %s", r->source, r->section, key, want);
}

static int get_int(reader *r, const cJSON *obj, const char *key, int required, int def, int min, int max) {
    const cJSON *v = field(r, obj, key, required);
    if (!v) return def;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < min || v->valuedouble > max) {
        char want[96];
        snprintf(want, sizeof want, "an integer in [%d, %d]", min, max);
        type_error(r, key, want);
        return def;
    }
    return (int)v->valuedouble;
}

static double get_num(reader *r, const cJSON *obj, const char *key, int required, double def) {
    const cJSON *v = field(r, obj, key, required);
    if (!v) return def;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) { type_error(r, key, "a number"); return def; }
    return v->valuedouble;
}

static void get_str(reader *r, const cJSON *obj, const char *key, int required, const char *def, char *dst, size_t cap) {
    const cJSON *v = field(r, obj, key, required);
    const char *s = def;
    if (v && cJSON_IsString(v)) s = v->valuestring;
    else if (v && cJSON_IsArray(v) && cJSON_IsString(cJSON_GetArrayItem(v, 0))) s = cJSON_GetArrayItem(v, 0)->valuestring;
    else if (v) type_error(r, key, "a string");
    snprintf(dst, cap, "%s", s ? s : "");
}

/* eos_token_id may be an int or a list (first entry is the one chat() uses). */
static int get_token_id(reader *r, const cJSON *obj, const char *key) {
    const cJSON *v = field(r, obj, key, 0);
    if (v && cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    if (!v) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9) { type_error(r, key, "a token id"); return -1; }
    return (int)v->valuedouble;
}

static void parse_vit(reader *r, const cJSON *v, mv_vit_config *c) {
    r->section = "vision_config.";
    c->hidden_size = get_int(r, v, "hidden_size", 1, 0, 1, 1 << 16);
    c->intermediate_size = get_int(r, v, "intermediate_size", 1, 0, 1, 1 << 18);
    c->num_layers = get_int(r, v, "num_hidden_layers", 1, 0, 1, 1024);
    c->num_heads = get_int(r, v, "num_attention_heads", 1, 0, 1, 1024);
    c->image_size = get_int(r, v, "image_size", 1, 448, 1, 8192);
    c->patch_size = get_int(r, v, "patch_size", 1, 14, 1, 1024);
    c->num_channels = get_int(r, v, "num_channels", 0, 3, 3, 3);
    c->layer_norm_eps = (float)get_num(r, v, "layer_norm_eps", 0, 1e-6);
    c->qkv_bias = get_int(r, v, "qkv_bias", 0, 1, 0, 1);
    c->qk_normalization = get_int(r, v, "qk_normalization", 0, 0, 0, 1);
    char norm[32];
    get_str(r, v, "norm_type", 0, "layer_norm", norm, sizeof norm);
    c->use_rms_norm = strcmp(norm, "rms_norm") == 0;
    get_str(r, v, "hidden_act", 0, "gelu", c->hidden_act, sizeof c->hidden_act);
    if (r->rc == MV_OK && c->hidden_size % c->num_heads)
        r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: vision_config.hidden_size %d is not a multiple of num_attention_heads %d",
                             r->source, c->hidden_size, c->num_heads);
}

/* One factor list of rope_scaling: an array of positive numbers, stored as float32. */
static int get_factors(reader *r, const cJSON *rs, const char *key, float *dst) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rs, key);
    if (!a || cJSON_IsNull(a)) return 0;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < 0 || n > MV_ROPE_FACTORS_MAX) {
        if (r->rc == MV_OK)
            r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: field \"%s%s\" must be an array of at most %d numbers",
                                 r->source, r->section, key, MV_ROPE_FACTORS_MAX);
        return 0;
    }
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !(e->valuedouble > 0)) {
            if (r->rc == MV_OK)
                r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: \"%s%s\"[%d] must be a positive number",
                                     r->source, r->section, key, i);
            return 0;
        }
        dst[i] = (float)e->valuedouble;
    }
    return n;
}

/* rope_scaling: {"type" | "rope_type", "factor"} (linear/dynamic) or {"type", "short_factor",
 * "long_factor"} (Phi-3 LongRoPE). Whether a type fits the family is the LLM loader's call. */
static void parse_rope_scaling(reader *r, const cJSON *l, mv_rope_scaling *s) {
    const cJSON *rs = field(r, l, "rope_scaling", 0);
    if (!rs) return;
    if (!cJSON_IsObject(rs)) { type_error(r, "rope_scaling", "an object or null"); return; }
    const char *outer = r->section;
    r->section = "llm_config.rope_scaling."; /* messages name the nested field */
    const char *type_key = cJSON_GetObjectItemCaseSensitive(rs, "type") ? "type" : "rope_type";
    get_str(r, rs, type_key, 1, "", s->type, sizeof s->type);
    s->factor = get_num(r, rs, "factor", 0, 0.0);
    s->n_short = get_factors(r, rs, "short_factor", s->short_factor);
    s->n_long = get_factors(r, rs, "long_factor", s->long_factor);
    r->section = outer;
}

static void parse_llm(reader *r, const cJSON *l, mv_llm_config *c) {
    r->section = "llm_config.";
    get_str(r, l, "architectures", 1, "", c->architecture, sizeof c->architecture);
    get_str(r, l, "model_type", 0, "", c->model_type, sizeof c->model_type);
    c->hidden_size = get_int(r, l, "hidden_size", 1, 0, 1, 1 << 16);
    c->intermediate_size = get_int(r, l, "intermediate_size", 1, 0, 1, 1 << 18);
    c->num_layers = get_int(r, l, "num_hidden_layers", 1, 0, 1, 1024);
    c->num_heads = get_int(r, l, "num_attention_heads", 1, 0, 1, 1024);
    c->num_kv_heads = get_int(r, l, "num_key_value_heads", 0, c->num_heads, 1, 1024);
    c->vocab_size = get_int(r, l, "vocab_size", 1, 0, 1, 1 << 24);
    c->max_position_embeddings = get_int(r, l, "max_position_embeddings", 1, 0, 1, 1 << 24);
    c->rms_norm_eps = (float)get_num(r, l, "rms_norm_eps", 0, 1e-6);
    c->rope_theta = get_num(r, l, "rope_theta", 0, 10000.0);
    c->original_max_position_embeddings = get_int(r, l, "original_max_position_embeddings", 0, 0, 1, 1 << 24);
    c->attention_bias = get_int(r, l, "bias", 0, 0, 0, 1);
    c->sliding_window = get_int(r, l, "sliding_window", 0, 0, 1, 1 << 30);
    parse_rope_scaling(r, l, &c->rope_scaling);
    c->tie_word_embeddings = get_int(r, l, "tie_word_embeddings", 0, 0, 0, 1);
    c->bos_token_id = get_token_id(r, l, "bos_token_id");
    c->eos_token_id = get_token_id(r, l, "eos_token_id");
    get_str(r, l, "hidden_act", 0, "silu", c->hidden_act, sizeof c->hidden_act);
    if (r->rc != MV_OK) return;
    if (c->hidden_size % c->num_heads || c->num_heads % c->num_kv_heads)
        r->rc = mv_set_error(r->err, MV_ERR_CONFIG, "%s: llm_config heads (%d attention, %d key/value) do not divide hidden_size %d",
                             r->source, c->num_heads, c->num_kv_heads, c->hidden_size);
    c->head_dim = get_int(r, l, "head_dim", 0, c->hidden_size / c->num_heads, 1, 4096);
}

mv_status mv_config_parse(const char *json, size_t len, const char *source, mv_config *cfg, mv_error *err) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mv_set_error(err, MV_ERR_CONFIG, "%s: not valid JSON (an object was expected)", source);
    }
    reader r = { source, "", err, MV_OK };
    get_str(&r, root, "architectures", 0, "InternVLChatModel", cfg->architecture, sizeof cfg->architecture);
    get_str(&r, root, "template", 1, "", cfg->template_name, sizeof cfg->template_name);
    get_str(&r, root, "ps_version", 0, "v1", cfg->ps_version, sizeof cfg->ps_version);
    get_str(&r, root, "system_message", 0, "", cfg->system_message, sizeof cfg->system_message);
    cfg->select_layer = get_int(&r, root, "select_layer", 0, -1, -1024, 1024);
    cfg->downsample_ratio = (float)get_num(&r, root, "downsample_ratio", 1, 0.5);
    cfg->dynamic_image_size = get_int(&r, root, "dynamic_image_size", 0, 1, 0, 1);
    cfg->use_thumbnail = get_int(&r, root, "use_thumbnail", 0, 0, 0, 1);
    cfg->min_dynamic_patch = get_int(&r, root, "min_dynamic_patch", 0, 1, 1, 1024);
    cfg->max_dynamic_patch = get_int(&r, root, "max_dynamic_patch", 0, 6, 1, 1024);
    const cJSON *v = field(&r, root, "vision_config", 1), *l = field(&r, root, "llm_config", 1);
    if (v && !cJSON_IsObject(v)) type_error(&r, "vision_config", "an object");
    if (l && !cJSON_IsObject(l)) type_error(&r, "llm_config", "an object");
    if (r.rc == MV_OK) parse_vit(&r, v, &cfg->vit);
    if (r.rc == MV_OK) parse_llm(&r, l, &cfg->llm);
    r.section = "";
    cfg->force_image_size = get_int(&r, root, "force_image_size", 0, cfg->vit.image_size, 1, 8192);
    cJSON_Delete(root);
    if (r.rc != MV_OK) return r.rc;
    int side = cfg->force_image_size / cfg->vit.patch_size;
    float ds = cfg->downsample_ratio;
    if (cfg->force_image_size % cfg->vit.patch_size || !(ds > 0 && ds <= 1) || fmodf(side * ds, 1.0f) != 0)
        return mv_set_error(err, MV_ERR_CONFIG, "%s: image size %d, patch %d and downsample_ratio %g do not give a whole token grid",
                            source, cfg->force_image_size, cfg->vit.patch_size, ds);
    cfg->num_image_token = (int)(side * ds) * (int)(side * ds);
    return MV_OK;
}

mv_status mv_config_load_dir(const char *dir, mv_config *cfg, mv_error *err) {
    char *path = mv_path_join(dir, "config.json");
    if (!path) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    size_t len;
    char *text = mv_read_file(path, 16u << 20, &len, err);
    mv_status rc = text ? mv_config_parse(text, len, path, cfg, err) : (err ? err->code : MV_ERR_IO);
    free(text);
    free(path);
    return rc;
}
