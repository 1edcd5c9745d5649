/* conversation.h — OpenAI-style chat messages (JSON) turned into mv_message arrays with decoded
 * images; shared by `minivl run --messages`, `minivl chat` and the server. */
#ifndef MV_TOOLS_CONVERSATION_H
#define MV_TOOLS_CONVERSATION_H

#include <stddef.h>
#include <stdio.h>

#include "minivl.h"

typedef struct conversation {
    mv_message *msgs;
    int n_msgs, cap_msgs;
    mv_image **images;     /* owned; messages point into this list */
    int n_images, cap_images;
    char **texts;          /* owned message texts */
} conversation;

typedef struct image_policy {
    size_t max_pixels;       /* 0 = library default */
    int allow_local;         /* accept paths and file:// URLs */
    const char *local_root;  /* when set, local files must lie under this directory */
} image_policy;

/* Parse a JSON array of messages {role, content}; content is a string or a list of parts
 * {"type":"text","text":...} / {"type":"image_url","image_url":{"url":...}} (url: a path, file:// or
 * data:...;base64,...). Text parts are joined with "\n". */
mv_status conversation_from_json(conversation *c, const char *json, size_t len, const image_policy *policy,
                                 mv_error *err);
/* The same from an already parsed JSON array (the server's request body). */
struct cJSON;
mv_status conversation_from_cjson(conversation *c, const struct cJSON *messages, const image_policy *policy,
                                  mv_error *err);
/* Append one message; images (already loaded, ownership taken) go with it. */
mv_status conversation_add(conversation *c, mv_role role, const char *text, mv_image **images, int n_images,
                           mv_error *err);
/* Load an image from a path, file:// URL or data: URL. */
mv_status conversation_load_image(const char *url, const image_policy *policy, mv_image **out, mv_error *err);
/* Remove the last message (and its images). */
void conversation_pop(conversation *c);
void conversation_clear(conversation *c);

/* Fill err like the library does. Returns code. */
mv_status cli_error(mv_error *err, mv_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An integer option value in [lo, hi]; prints a message naming opt and returns 0 when it is not. */
int cli_parse_int(const char *s, const char *opt, int lo, int hi, int *out);
/* "auto", "f32" or "f16". */
const char *cli_kv_cache_name(mv_kv_type t);

/* The load options run, chat, serve and bench share: --precision f32|bf16, --quantize none|q8|q4,
 * --quantize-vision none|q8, --kv-cache auto|f32|f16, stored into *mp ("none" leaves the weights as
 * stored). Returns 1 when opt is one of them with a valid value, 0 on a bad value (message printed),
 * -1 when opt is not a load option. */
int cli_model_option(const char *opt, const char *val, mv_model_params *mp);
/* Help lines for those options: `indent` spaces, the option padded to `width`, its help. */
void cli_model_options_usage(FILE *f, int indent, int width);
/* "f32" or "bf16"; the quantization names of mp ("none" when not quantized). */
const char *cli_precision_name(mv_precision p);
const char *cli_quant_name(const char *quantize);

#endif
