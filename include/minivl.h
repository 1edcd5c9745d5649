/* minivl.h — the public C API of minivl: run InternVL-family vision-language models on CPU.
 *
 * Conventions (whisper.h / SQLite style):
 *  - Opaque handles (mv_model, mv_session, mv_image); every call that can fail returns an mv_status
 *    and, when `err` is not NULL, fills it with a human-readable message naming the file/field at fault.
 *  - Parameters come in structs with a *_default_params() constructor, passed by pointer.
 *  - No global mutable state. An mv_model is read-only after loading and may be shared by several
 *    sessions; one session must be used by one thread at a time.
 *  - Memory returned to the caller (strings, arrays inside mv_result) is freed with the matching
 *    *_free function.
 */
#ifndef MINIVL_H
#define MINIVL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MINIVL_VERSION "0.1.0"

typedef enum mv_status {
    MV_OK = 0,
    MV_ERR_ARG,          /* invalid argument from the caller */
    MV_ERR_IO,           /* a file could not be opened / read / written */
    MV_ERR_FORMAT,       /* a file's content is malformed (safetensors, JSON, tokenizer, image) */
    MV_ERR_CONFIG,       /* config.json lacks a field or contradicts the weights */
    MV_ERR_UNSUPPORTED,  /* valid input this build does not support (architecture, template, dtype) */
    MV_ERR_IMAGE,        /* an image that does not decode, or exceeds the pixel limit */
    MV_ERR_CONTEXT,      /* the prompt does not fit the context window */
    MV_ERR_NOMEM,        /* allocation failed */
    MV_ERR_CANCELLED,    /* the caller's callback asked to stop */
    MV_ERR_INTERNAL
} mv_status;

typedef struct mv_error {
    mv_status code;
    char message[1024];
} mv_error;

/* Short constant name of a status ("MV_ERR_FORMAT", ...). */
const char *mv_status_name(mv_status s);

/* ------------------------------------------------------------------ images */

typedef struct mv_image mv_image;

/* Default decode limit: 64 megapixels, checked from the file header before decoding. */
#define MV_DEFAULT_MAX_PIXELS (64u * 1024u * 1024u)

/* Decode a PNG or JPEG (by content, not extension) to RGB8 the way PIL's convert('RGB') does.
 * max_pixels = 0 means MV_DEFAULT_MAX_PIXELS. */
mv_status mv_image_load_file(const char *path, size_t max_pixels, mv_image **out, mv_error *err);
mv_status mv_image_load_memory(const void *data, size_t size, size_t max_pixels, mv_image **out,
                               mv_error *err);
/* Wrap caller-owned RGB8 pixels (copied). */
mv_status mv_image_from_rgb(const uint8_t *rgb, int width, int height, mv_image **out, mv_error *err);
int mv_image_width(const mv_image *img);
int mv_image_height(const mv_image *img);
void mv_image_free(mv_image *img);

/* ------------------------------------------------------------------ model */

typedef struct mv_model mv_model;

/* Arithmetic of the compute-bound products (vision encoder, projector, LLM prefill). Decode (a few
 * rows at a time) is bound by weight reads and always runs the FP32-activation path. */
typedef enum mv_precision {
    MV_PRECISION_F32 = 0, /* reference: FP32 activations × checkpoint weights, FP32 accumulation */
    MV_PRECISION_BF16     /* activations rounded to BF16, weights read as BF16 (F16/F32 checkpoints
                             rounded; no extra memory: panels are packed per product), FP32
                             accumulation; AMX or AVX512-BF16 when the CPU has them, else as F32 */
} mv_precision;

/* How each session's KV cache stores keys and values. */
typedef enum mv_kv_type {
    MV_KV_AUTO = 0, /* F16 when a fast path is on (precision bf16, or quantized weights), else F32 */
    MV_KV_F32,      /* exact: the reference path, what the goldens are checked on */
    MV_KV_F16       /* half the cache memory and half the attention reads at long contexts (as llama.cpp's
                       default cache); values beyond ±65504 saturate */
} mv_kv_type;

typedef struct mv_model_params {
    int n_threads;        /* worker threads; 0 = number of online CPUs */
    int max_tiles;        /* default tile budget per image; 0 = config.json's max_dynamic_patch */
    size_t max_pixels;    /* image decode limit; 0 = MV_DEFAULT_MAX_PIXELS */
    int context_length;   /* KV-cache capacity in tokens; 0 = min(max_position_embeddings, 32768) */
    mv_precision precision; /* default MV_PRECISION_F32 */
    const char *quantize; /* NULL: weights as stored; "q8" / "q4": quantize the language model's matrices
                             in memory at load (docs/QUANT.md; `minivl quantize` does it once, on disk) */
    mv_kv_type kv_cache;  /* default MV_KV_AUTO */
    const char *quantize_vision; /* NULL: the vision encoder as stored; "q8": its matrices quantized in
                                    memory at load, for the integer GEMM (~15% faster per tile with
                                    precision bf16; vit_embeds cosine 0.9999 to the reference; q4 is
                                    refused: docs/QUANT.md) */
} mv_model_params;

mv_model_params mv_model_default_params(void);

/* Load a Hugging Face checkpoint directory: config.json, model.safetensors (or sharded with
 * model.safetensors.index.json), tokenizer files. Weights are mmapped read-only. */
mv_status mv_model_load(const char *dir, const mv_model_params *params, mv_model **out, mv_error *err);
void mv_model_free(mv_model *model);

typedef struct mv_model_info {
    const char *architecture;   /* llm_config.architectures[0], e.g. "Qwen2ForCausalLM" */
    const char *template_name;  /* e.g. "Hermes-2" */
    int vocab_size;
    int context_length;
    int max_tiles;
    int image_size;             /* tile side in pixels (448) */
    int tokens_per_tile;        /* 256 for InternVL2 */
    uint64_t n_params;
    size_t weights_bytes;
    int n_threads;
    double load_ms;             /* time mv_model_load took */
    mv_precision precision;     /* as requested at load */
    const char *bf16_kernel;    /* BF16 products run on "amx", "avx512bf16" or "none" (= FP32 path) */
    mv_kv_type kv_cache;        /* MV_KV_F32 or MV_KV_F16: what MV_KV_AUTO resolved to */
} mv_model_info;

void mv_model_get_info(const mv_model *model, mv_model_info *info);

/* ------------------------------------------------------------------ tokenizer */

/* ids without automatic BOS; special tokens written in the text are matched. Free with mv_free. */
mv_status mv_tokenize(const mv_model *model, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                      mv_error *err);
/* Decode keeping special tokens; invalid UTF-8 becomes U+FFFD. Free with mv_free. */
mv_status mv_detokenize(const mv_model *model, const int32_t *ids, size_t n_ids, char **text, mv_error *err);
/* Token id of an exact token string (added tokens included), or -1. */
int32_t mv_token_id(const mv_model *model, const char *token);

/* A tokenizer on its own (a directory with only tokenizer files is enough). */
typedef struct mv_tokenizer mv_tokenizer;
mv_status mv_tokenizer_load_dir(const char *dir, mv_tokenizer **out, mv_error *err);
mv_status mv_tokenizer_encode_text(const mv_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                                   size_t *n_ids, mv_error *err);
mv_status mv_tokenizer_decode_ids(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                  mv_error *err);
/* Same, also giving the text's length: decoded text may hold NUL characters. */
mv_status mv_tokenizer_decode_ids_len(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                      size_t *len, mv_error *err);
void mv_tokenizer_free(mv_tokenizer *tok);

void mv_free(void *p);

/* sha256 of a file as 64 lowercase hex digits + NUL (to check a download or a SYNTH-1 checkpoint). */
mv_status mv_file_sha256(const char *path, char hex[65], mv_error *err);

/* ------------------------------------------------------------------ chat */

typedef enum mv_role { MV_ROLE_SYSTEM = 0, MV_ROLE_USER, MV_ROLE_ASSISTANT } mv_role;

/* One chat message. A user text may place its images with "<image>" placeholders, filled in order;
 * without placeholders one image becomes "<image>\n" before the text, several become
 * "Image-1: <image>\nImage-2: <image>\n..." (upstream InternVL's rule). */
typedef struct mv_message {
    mv_role role;
    const char *text;
    const mv_image *const *images;
    int n_images;
} mv_message;

typedef struct mv_sampling_params {
    float temperature;      /* 0 = greedy (the default) */
    int top_k;              /* 0 = off */
    float top_p;            /* 1 = off */
    float repeat_penalty;   /* 1 = off (CTRL-style, over the generated and prompt tokens) */
    uint64_t seed;
} mv_sampling_params;

/* Called for each generated piece of text (always whole UTF-8 sequences). Return non-zero to stop. */
typedef int (*mv_token_callback)(void *user, const char *piece, size_t len, int32_t token);

typedef struct mv_generate_params {
    mv_sampling_params sampling;
    int max_new_tokens;          /* default 512; 0 = prefill only */
    int max_tiles;               /* per-request tile budget; 0 = model default */
    int stop_at_eos;             /* default 1: stop at the template's end token */
    const char *const *stop;     /* extra stop strings (may be NULL) */
    int n_stop;
    mv_token_callback on_token;
    void *user;
    const char *dump_tensors_path; /* if set: F32 safetensors with pixel_values, vit_embeds, logits_last */
} mv_generate_params;

mv_generate_params mv_generate_default_params(void);

typedef enum mv_finish { MV_FINISH_STOP = 0, MV_FINISH_LENGTH, MV_FINISH_CANCELLED } mv_finish;

typedef struct mv_image_tiles { int cols, rows, count; } mv_image_tiles;

typedef struct mv_timings {
    double load_ms, preprocess_ms, vision_ms, prefill_ms, decode_ms;
    int prefill_tokens, decode_tokens;
} mv_timings;

typedef struct mv_result {
    char *text;                  /* the answer (stop token and stop strings removed) */
    int32_t *input_ids;  size_t n_input_ids;
    int32_t *output_ids; size_t n_output_ids;
    mv_image_tiles *tiles; int n_images;
    int n_image_tokens;
    mv_finish finish;
    mv_timings timings;
} mv_result;

void mv_result_free(mv_result *r);

typedef struct mv_session mv_session;

mv_status mv_session_create(mv_model *model, mv_session **out, mv_error *err);
void mv_session_free(mv_session *s);

/* Answer the last message of a conversation. The session keeps the KV cache of the previous call and
 * reuses the longest common prefix, so a growing multi-turn chat only prefills what is new. */
mv_status mv_session_chat(mv_session *s, const mv_message *messages, int n_messages,
                          const mv_generate_params *params, mv_result *out, mv_error *err);

/* Step-wise generation, for servers that interleave several sessions of one model.
 * mv_session_begin preprocesses, tokenizes and prefills (as mv_session_chat does) but generates
 * nothing; params (stop strings, callback) must stay valid until mv_session_end. mv_batch_decode then
 * generates one token in each listed session that is active — sampling, streaming and stop rules
 * per session, one forward pass for all of them together, so the weights are read once per step —
 * and skips the others. mv_session_end returns the result (or the error that ended the generation)
 * and makes the session free for another begin; ending an active session cancels it
 * (MV_FINISH_CANCELLED). mv_session_chat is begin + decode until inactive + end. All sessions of one
 * mv_batch_decode call must share a model and be used from that one thread. */
mv_status mv_session_begin(mv_session *s, const mv_message *messages, int n_messages,
                           const mv_generate_params *params, mv_error *err);
mv_status mv_batch_decode(mv_session *const *sessions, int n_sessions, mv_error *err);
int mv_session_active(const mv_session *s);
mv_status mv_session_end(mv_session *s, mv_result *out, mv_error *err);

/* Raw token access (benchmarks, scoring): the session's context without the chat template.
 * mv_session_truncate keeps the first n positions of the context (the KV cache), 0 forgets it all;
 * mv_session_length is its size in tokens.
 * mv_session_eval appends ids as they are (no template, no BOS) and runs them through the language
 * model in one forward pass; logits (may be NULL, else vocab_size floats) receive the next-token
 * logits after the last id. MV_ERR_CONTEXT when the context would overflow; on any error the context
 * is unchanged. A later mv_session_chat reuses the common prefix as usual. */
void mv_session_truncate(mv_session *s, int n);
int mv_session_length(const mv_session *s);
mv_status mv_session_eval(mv_session *s, const int32_t *ids, size_t n, float *logits, mv_error *err);

/* The exact prompt string upstream's chat() would tokenize (images expanded to
 * <img><IMG_CONTEXT>*256*tiles</img>), for inspection. Free with mv_free. */
mv_status mv_build_prompt(mv_model *model, const mv_message *messages, int n_messages, int max_tiles,
                          char **prompt, mv_error *err);

/* ------------------------------------------------------------------ synthetic checkpoints */

/* Write a checkpoint with SYNTH-1 weights (deterministic, see shared/golden/README.md) for the model
 * config_path describes: out_dir/config.json (a byte copy of config_path) and out_dir/model.safetensors
 * (BF16, every tensor the config implies, keys sorted). out_dir is created if needed. The weights are
 * generated and written in chunks, so multi-GB checkpoints never sit in memory. */
mv_status mv_synth_checkpoint(const char *config_path, const char *out_dir, mv_error *err);

/* ------------------------------------------------------------------ quantized checkpoints */

/* Write a copy of the checkpoint in in_dir to out_dir (created if needed) with the language model's
 * matrices quantized to type "q8" or "q4" (docs/QUANT.md): out_dir/model.safetensors, plus every other
 * file of in_dir (config.json, tokenizer files) copied. mv_model_load reads the result like any other
 * checkpoint. The vision tower, projector and norms keep their dtype. out_dir must differ from in_dir. */
mv_status mv_quantize_checkpoint(const char *in_dir, const char *out_dir, const char *type, mv_error *err);

#ifdef __cplusplus
}
#endif
#endif /* MINIVL_H */
