/* tensor_spec.c — table-driven list of an InternVL chat checkpoint's tensors, and validation against it. */
#include "io/tensor_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/weights_util.h"

/* Symbolic dimensions, resolved from the config by dim_value(). */
typedef enum dim_sym {
    D_END = 0,
    D_1,
    V_C, V_3C, V_I, V_CH, V_P, V_POS, /* vision: hidden, qkv rows, MLP, channels, patch, positions+CLS */
    V_C4,                             /* projector input: hidden * (1/downsample)^2 after pixel shuffle */
    L_H, L_Q, L_KV, L_QKV, L_I, L_2I, L_V, /* LLM: hidden, q rows, k/v rows, fused qkv, MLP, gate|up, vocab */
} dim_sym;

/* When a row applies. */
typedef enum when_flag { W_ALWAYS = 0, W_QKV_BIAS, W_NORM_BIAS, W_QK_NORM, W_UNTIED } when_flag;

typedef struct spec_row {
    const char *name; /* printf pattern; "%d" = layer index in per-layer tables */
    when_flag when;
    dim_sym dims[MV_SPEC_MAX_DIMS];
} spec_row;

#define ROWS_END { NULL, W_ALWAYS, { D_END } }

static const spec_row vit_global[] = {
    { "vision_model.embeddings.class_embedding", W_ALWAYS, { D_1, D_1, V_C } },
    { "vision_model.embeddings.patch_embedding.weight", W_ALWAYS, { V_C, V_CH, V_P, V_P } },
    { "vision_model.embeddings.patch_embedding.bias", W_ALWAYS, { V_C } },
    { "vision_model.embeddings.position_embedding", W_ALWAYS, { D_1, V_POS, V_C } },
    /* mlp1 = LayerNorm(C4), Linear(C4 -> H), GELU (index 2, no weights), Linear(H -> H) */
    { "mlp1.0.weight", W_ALWAYS, { V_C4 } },
    { "mlp1.0.bias", W_ALWAYS, { V_C4 } },
    { "mlp1.1.weight", W_ALWAYS, { L_H, V_C4 } },
    { "mlp1.1.bias", W_ALWAYS, { L_H } },
    { "mlp1.3.weight", W_ALWAYS, { L_H, L_H } },
    { "mlp1.3.bias", W_ALWAYS, { L_H } },
    ROWS_END,
};

static const spec_row vit_layer[] = {
    { "vision_model.encoder.layers.%d.attn.qkv.weight", W_ALWAYS, { V_3C, V_C } },
    { "vision_model.encoder.layers.%d.attn.qkv.bias", W_QKV_BIAS, { V_3C } },
    { "vision_model.encoder.layers.%d.attn.q_norm.weight", W_QK_NORM, { V_C } },
    { "vision_model.encoder.layers.%d.attn.k_norm.weight", W_QK_NORM, { V_C } },
    { "vision_model.encoder.layers.%d.attn.proj.weight", W_ALWAYS, { V_C, V_C } },
    { "vision_model.encoder.layers.%d.attn.proj.bias", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.ls1", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.ls2", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.mlp.fc1.weight", W_ALWAYS, { V_I, V_C } },
    { "vision_model.encoder.layers.%d.mlp.fc1.bias", W_ALWAYS, { V_I } },
    { "vision_model.encoder.layers.%d.mlp.fc2.weight", W_ALWAYS, { V_C, V_I } },
    { "vision_model.encoder.layers.%d.mlp.fc2.bias", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.norm1.weight", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.norm1.bias", W_NORM_BIAS, { V_C } },
    { "vision_model.encoder.layers.%d.norm2.weight", W_ALWAYS, { V_C } },
    { "vision_model.encoder.layers.%d.norm2.bias", W_NORM_BIAS, { V_C } },
    ROWS_END,
};

#define LLM_GLOBAL_MAX 4
#define LLM_LAYER_MAX 16

/* One row per LLM architecture: its global tensors and its per-layer tensors. */
typedef struct llm_arch {
    const char *name;
    spec_row global[LLM_GLOBAL_MAX];
    spec_row layer[LLM_LAYER_MAX];
} llm_arch;

#define LM "language_model."
#define LL "language_model.model.layers.%d."

static const llm_arch llm_archs[] = {
    { "Qwen2ForCausalLM",
      { { LM "model.embed_tokens.weight", W_ALWAYS, { L_V, L_H } },
        { LM "model.norm.weight", W_ALWAYS, { L_H } },
        { LM "lm_head.weight", W_UNTIED, { L_V, L_H } },
        ROWS_END },
      { { LL "input_layernorm.weight", W_ALWAYS, { L_H } },
        { LL "post_attention_layernorm.weight", W_ALWAYS, { L_H } },
        { LL "self_attn.q_proj.weight", W_ALWAYS, { L_Q, L_H } },
        { LL "self_attn.q_proj.bias", W_ALWAYS, { L_Q } },
        { LL "self_attn.k_proj.weight", W_ALWAYS, { L_KV, L_H } },
        { LL "self_attn.k_proj.bias", W_ALWAYS, { L_KV } },
        { LL "self_attn.v_proj.weight", W_ALWAYS, { L_KV, L_H } },
        { LL "self_attn.v_proj.bias", W_ALWAYS, { L_KV } },
        { LL "self_attn.o_proj.weight", W_ALWAYS, { L_H, L_Q } },
        { LL "mlp.gate_proj.weight", W_ALWAYS, { L_I, L_H } },
        { LL "mlp.up_proj.weight", W_ALWAYS, { L_I, L_H } },
        { LL "mlp.down_proj.weight", W_ALWAYS, { L_H, L_I } },
        ROWS_END } },
    { "InternLM2ForCausalLM",
      { { LM "model.tok_embeddings.weight", W_ALWAYS, { L_V, L_H } },
        { LM "model.norm.weight", W_ALWAYS, { L_H } },
        { LM "output.weight", W_UNTIED, { L_V, L_H } },
        ROWS_END },
      { { LL "attention_norm.weight", W_ALWAYS, { L_H } },
        { LL "ffn_norm.weight", W_ALWAYS, { L_H } },
        { LL "attention.wqkv.weight", W_ALWAYS, { L_QKV, L_H } },
        { LL "attention.wo.weight", W_ALWAYS, { L_H, L_Q } },
        { LL "feed_forward.w1.weight", W_ALWAYS, { L_I, L_H } },
        { LL "feed_forward.w3.weight", W_ALWAYS, { L_I, L_H } },
        { LL "feed_forward.w2.weight", W_ALWAYS, { L_H, L_I } },
        ROWS_END } },
    { "Phi3ForCausalLM",
      { { LM "model.embed_tokens.weight", W_ALWAYS, { L_V, L_H } },
        { LM "model.norm.weight", W_ALWAYS, { L_H } },
        { LM "lm_head.weight", W_UNTIED, { L_V, L_H } },
        ROWS_END },
      { { LL "input_layernorm.weight", W_ALWAYS, { L_H } },
        { LL "post_attention_layernorm.weight", W_ALWAYS, { L_H } },
        { LL "self_attn.qkv_proj.weight", W_ALWAYS, { L_QKV, L_H } },
        { LL "self_attn.o_proj.weight", W_ALWAYS, { L_H, L_Q } },
        { LL "mlp.gate_up_proj.weight", W_ALWAYS, { L_2I, L_H } },
        { LL "mlp.down_proj.weight", W_ALWAYS, { L_H, L_I } },
        ROWS_END } },
};

#define N_ARCHS (sizeof llm_archs / sizeof llm_archs[0])

const char *mv_spec_supported_llms(void) { return "Qwen2ForCausalLM, InternLM2ForCausalLM, Phi3ForCausalLM"; }

static const llm_arch *find_arch(const char *name) {
    for (size_t i = 0; i < N_ARCHS; i++)
        if (strcmp(llm_archs[i].name, name) == 0) return &llm_archs[i];
    return NULL;
}

static int64_t dim_value(const mv_config *c, dim_sym d) {
    const mv_vit_config *v = &c->vit;
    const mv_llm_config *l = &c->llm;
    int64_t side = v->image_size / v->patch_size;
    int64_t shuffle = (int64_t)(1.0 / c->downsample_ratio); /* upstream: int(1 / downsample_ratio) ** 2 */
    int64_t q = (int64_t)l->num_heads * l->head_dim, kv = (int64_t)l->num_kv_heads * l->head_dim;
    switch (d) {
    case D_1: return 1;
    case V_C: return v->hidden_size;
    case V_3C: return 3 * (int64_t)v->hidden_size;
    case V_I: return v->intermediate_size;
    case V_CH: return v->num_channels;
    case V_P: return v->patch_size;
    case V_POS: return side * side + 1;
    case V_C4: return v->hidden_size * shuffle * shuffle;
    case L_H: return l->hidden_size;
    case L_Q: return q;
    case L_KV: return kv;
    case L_QKV: return q + 2 * kv;
    case L_I: return l->intermediate_size;
    case L_2I: return 2 * (int64_t)l->intermediate_size;
    case L_V: return l->vocab_size;
    case D_END: break;
    }
    return 0;
}

static int row_applies(const mv_config *c, when_flag w) {
    switch (w) {
    case W_ALWAYS: return 1;
    case W_QKV_BIAS: return c->vit.qkv_bias;
    case W_NORM_BIAS: return !c->vit.use_rms_norm;
    case W_QK_NORM: return c->vit.qk_normalization;
    case W_UNTIED: return !c->llm.tie_word_embeddings;
    }
    return 0;
}

static size_t count_rows(const spec_row *rows) {
    size_t n = 0;
    while (rows[n].name) n++;
    return n;
}

/* Append the applicable rows of one table (layer < 0: a global table). */
static void emit_rows(const mv_config *c, const spec_row *rows, int layer, mv_spec_list *s) {
    for (const spec_row *r = rows; r->name; r++) {
        if (!row_applies(c, r->when)) continue;
        mv_tensor_spec *t = &s->t[s->n++];
        memset(t, 0, sizeof *t);
        if (layer >= 0) snprintf(t->name, sizeof t->name, r->name, layer);
        else snprintf(t->name, sizeof t->name, "%s", r->name);
        t->numel = 1;
        for (int k = 0; k < MV_SPEC_MAX_DIMS && r->dims[k] != D_END; k++) {
            t->shape[t->ndim++] = dim_value(c, r->dims[k]);
            t->numel *= t->shape[t->ndim - 1];
        }
        s->n_params += (uint64_t)t->numel;
    }
}

mv_status mv_spec_build(const mv_config *cfg, mv_spec_list *out, mv_error *err) {
    memset(out, 0, sizeof *out);
    const llm_arch *arch = find_arch(cfg->llm.architecture);
    if (!arch)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "config: LLM architecture '%s' is not supported (supported: %s)",
                            cfg->llm.architecture, mv_spec_supported_llms());
    if (cfg->vit.num_layers < 0 || cfg->llm.num_layers < 0)
        return mv_set_error(err, MV_ERR_CONFIG, "config: negative layer count");
    size_t cap = count_rows(vit_global) + count_rows(arch->global) +
                 (size_t)cfg->vit.num_layers * count_rows(vit_layer) + (size_t)cfg->llm.num_layers * count_rows(arch->layer);
    if (!(out->t = malloc((cap ? cap : 1) * sizeof *out->t))) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    emit_rows(cfg, vit_global, -1, out);
    for (int i = 0; i < cfg->vit.num_layers; i++) emit_rows(cfg, vit_layer, i, out);
    emit_rows(cfg, arch->global, -1, out);
    for (int i = 0; i < cfg->llm.num_layers; i++) emit_rows(cfg, arch->layer, i, out);
    return MV_OK;
}

void mv_spec_free(mv_spec_list *s) {
    if (!s) return;
    free(s->t);
    memset(s, 0, sizeof *s);
}

static void shape_str(const mv_tensor_spec *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && n < cap; d++) n += (size_t)snprintf(buf + n, cap - n, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

mv_status mv_spec_validate(const mv_weights *w, const mv_config *cfg, mv_error *err) {
    mv_spec_list s;
    mv_status rc = mv_spec_build(cfg, &s, err);
    for (size_t i = 0; i < s.n && rc == MV_OK; i++) {
        const mv_tensor_spec *t = &s.t[i];
        if (!mv_weight_present(w, t->name)) {
            char want[160];
            shape_str(t, want, sizeof want);
            rc = mv_set_error(err, MV_ERR_FORMAT, "checkpoint: tensor '%s' (shape %s) is missing", t->name, want);
        } else {
            rc = mv_weight_shape(w, t->name, t->ndim, t->shape, NULL, err);
        }
    }
    mv_spec_free(&s);
    return rc;
}
