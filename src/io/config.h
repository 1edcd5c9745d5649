/* config.h — config.json of an InternVL chat checkpoint, parsed into typed hyperparameters.
 *
 * Only the fields the model math needs are kept; every required field is checked for presence and
 * type, so a broken config fails at load with the field named, not later with a wrong shape. */
#ifndef MV_IO_CONFIG_H
#define MV_IO_CONFIG_H

#include "minivl.h"

typedef struct mv_vit_config {
    int hidden_size;          /* C: 1024 for InternViT-300M */
    int intermediate_size;
    int num_layers;
    int num_heads;
    int image_size;           /* 448 */
    int patch_size;           /* 14 */
    int num_channels;         /* 3 */
    float layer_norm_eps;
    int qkv_bias;
    int qk_normalization;     /* InternViT-6B uses RMSNorm on q and k */
    int use_rms_norm;         /* norm_type == "rms_norm" */
    char hidden_act[16];      /* "gelu" */
} mv_vit_config;

/* Upper bound on RoPE scaling factors per list (one per rotary frequency = head_dim/2); real
 * checkpoints have 48 (Phi-3, head_dim 96). */
#define MV_ROPE_FACTORS_MAX 512

/* llm_config.rope_scaling (absent or null: type "" and nothing else set). */
typedef struct mv_rope_scaling {
    char type[16];            /* "type" or "rope_type": "linear", "dynamic" (InternLM2), "su"/"longrope"/"yarn" (Phi-3) */
    double factor;            /* "factor" (linear/dynamic); 0 when absent */
    int n_short, n_long;      /* entries in short_factor / long_factor (0 when absent) */
    float short_factor[MV_ROPE_FACTORS_MAX]; /* float32 like upstream's torch.tensor(..., float32) */
    float long_factor[MV_ROPE_FACTORS_MAX];
} mv_rope_scaling;

typedef struct mv_llm_config {
    char architecture[64];    /* "Qwen2ForCausalLM", "InternLM2ForCausalLM", "Phi3ForCausalLM" */
    char model_type[32];
    int hidden_size;
    int intermediate_size;
    int num_layers;
    int num_heads;
    int num_kv_heads;
    int head_dim;             /* hidden_size / num_heads unless the config says otherwise */
    int vocab_size;
    int max_position_embeddings;
    int original_max_position_embeddings; /* Phi-3 LongRoPE switch point; 0 when absent */
    int attention_bias;       /* InternLM2 "bias": wqkv/wo carry biases */
    int sliding_window;       /* Phi-3 attention window; 0 when absent or null */
    float rms_norm_eps;
    double rope_theta;
    mv_rope_scaling rope_scaling;
    int tie_word_embeddings;
    int bos_token_id;         /* -1 when absent */
    int eos_token_id;         /* -1 when absent */
    char hidden_act[16];
} mv_llm_config;

typedef struct mv_config {
    char architecture[64];    /* "InternVLChatModel" */
    char template_name[32];   /* "Hermes-2" */
    char system_message[1024];/* optional override of the template's system message ("" = none) */
    char ps_version[8];       /* "v1" / "v2" */
    int select_layer;         /* -1: last layer of the ViT */
    float downsample_ratio;   /* 0.5 */
    int force_image_size;     /* tile side, 448 */
    int dynamic_image_size;
    int use_thumbnail;
    int min_dynamic_patch;
    int max_dynamic_patch;
    int num_image_token;      /* (image_size/patch)^2 * downsample^2 = 256 */
    mv_vit_config vit;
    mv_llm_config llm;
} mv_config;

/* Parse JSON text; `source` names the file in messages. */
mv_status mv_config_parse(const char *json, size_t len, const char *source, mv_config *cfg, mv_error *err);
/* Read dir/config.json. */
mv_status mv_config_load_dir(const char *dir, mv_config *cfg, mv_error *err);

#endif
