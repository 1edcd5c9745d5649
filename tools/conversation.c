#include "conversation.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mv_status cli_error(mv_error *err, mv_status code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cli_parse_int(const char *s, const char *opt, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "minivl: %s expects an integer in [%d, %d], got '%s'\n", opt, lo, hi, s);
        return 0;
    }
    *out = (int)v;
    return 1;
}

static const char *const kv_cache_names[] = { "auto", "f32", "f16" }; /* indexed by mv_kv_type */

/* --kv-cache auto|f32|f16; prints a message naming opt and returns 0 for anything else */
static int parse_kv_cache(const char *s, const char *opt, mv_kv_type *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, kv_cache_names[i])) {
            *out = (mv_kv_type)i;
            return 1;
        }
    fprintf(stderr, "minivl: %s expects auto, f32 or f16, got '%s'\n", opt, s);
    return 0;
}

const char *cli_kv_cache_name(mv_kv_type t) { return (unsigned)t < 3 ? kv_cache_names[t] : "?"; }

/* value must be one of names[] ("none" → NULL); prints a message naming opt otherwise */
static int parse_name(const char *val, const char *opt, const char *const *names, const char **out) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(val, names[i])) {
            *out = strcmp(val, "none") ? names[i] : NULL;
            return 1;
        }
    fprintf(stderr, "minivl: %s expects", opt);
    for (int i = 0; names[i]; i++) fprintf(stderr, "%s %s", i ? (names[i + 1] ? "," : " or") : "", names[i]);
    fprintf(stderr, ", got '%s'\n", val);
    return 0;
}

int cli_model_option(const char *opt, const char *val, mv_model_params *mp) {
    static const char *const precisions[] = { "f32", "bf16", NULL }, *const quants[] = { "none", "q8", "q4", NULL },
                             *const vision_quants[] = { "none", "q8", NULL };
    if (!strcmp(opt, "--kv-cache")) return parse_kv_cache(val, opt, &mp->kv_cache);
    if (!strcmp(opt, "--quantize")) return parse_name(val, opt, quants, &mp->quantize);
    if (!strcmp(opt, "--quantize-vision")) return parse_name(val, opt, vision_quants, &mp->quantize_vision);
    if (strcmp(opt, "--precision")) return -1;
    const char *name = NULL;
    if (!parse_name(val, opt, precisions, &name)) return 0;
    mp->precision = !strcmp(name, "bf16") ? MV_PRECISION_BF16 : MV_PRECISION_F32;
    return 1;
}

void cli_model_options_usage(FILE *f, int indent, int width) {
    static const char *const lines[][2] = {
        { "--precision f32|bf16", "vision/prefill arithmetic: f32 reference (default) or BF16 activations" },
        { "--quantize none|q8|q4", "quantize the language model's weights in memory at load (default none)" },
        { "--quantize-vision none|q8", "quantize the vision encoder's weights at load (default none): faster" },
        { "", "tiles, above all with --precision bf16 (docs/QUANT.md)" },
        { "--kv-cache auto|f32|f16", "KV-cache storage (default auto: f16 with bf16 or quantized weights)" },
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        fprintf(f, "%*s%-*s %s\n", indent, "", width, lines[i][0], lines[i][1]);
}

const char *cli_precision_name(mv_precision p) { return p == MV_PRECISION_BF16 ? "bf16" : "f32"; }
const char *cli_quant_name(const char *quantize) { return quantize ? quantize : "none"; }

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    int nc = *cap ? *cap * 2 : 8;
    while (nc < need) nc *= 2;
    void *g = realloc(*p, (size_t)nc * elem);
    if (!g) return 0;
    *p = g;
    *cap = nc;
    return 1;
}

/* Messages point into c->images, which may move when it grows: recompute after each append.
 * Each message's images are contiguous, in message order. */
static void fix_image_pointers(conversation *c) {
    int k = 0;
    for (int i = 0; i < c->n_msgs; i++) {
        c->msgs[i].images = c->msgs[i].n_images ? (const mv_image *const *)&c->images[k] : NULL;
        k += c->msgs[i].n_images;
    }
}

mv_status conversation_add(conversation *c, mv_role role, const char *text, mv_image **images, int n_images,
                           mv_error *err) {
    if (!grow((void **)&c->msgs, &c->cap_msgs, c->n_msgs + 1, sizeof *c->msgs) ||
        !grow((void **)&c->images, &c->cap_images, c->n_images + n_images, sizeof *c->images)) {
        for (int i = 0; i < n_images; i++) mv_image_free(images[i]);
        return cli_error(err, MV_ERR_NOMEM, "out of memory");
    }
    char **texts = realloc(c->texts, (size_t)c->cap_msgs * sizeof *texts);
    char *copy = strdup(text ? text : "");
    if (!texts || !copy) {
        if (texts) c->texts = texts;
        free(copy);
        for (int i = 0; i < n_images; i++) mv_image_free(images[i]);
        return cli_error(err, MV_ERR_NOMEM, "out of memory");
    }
    c->texts = texts;
    for (int i = 0; i < n_images; i++) c->images[c->n_images++] = images[i];
    c->texts[c->n_msgs] = copy;
    c->msgs[c->n_msgs] = (mv_message){ role, copy, NULL, n_images };
    c->n_msgs++;
    fix_image_pointers(c);
    return MV_OK;
}

void conversation_pop(conversation *c) {
    if (c->n_msgs == 0) return;
    c->n_msgs--;
    free(c->texts[c->n_msgs]);
    for (int i = 0; i < c->msgs[c->n_msgs].n_images; i++) mv_image_free(c->images[--c->n_images]);
}

void conversation_clear(conversation *c) {
    for (int i = 0; i < c->n_images; i++) mv_image_free(c->images[i]);
    for (int i = 0; i < c->n_msgs; i++) free(c->texts[i]);
    free(c->images);
    free(c->msgs);
    free(c->texts);
    memset(c, 0, sizeof *c);
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* file:///a%20b → "/a b" */
static char *file_url_path(const char *url) {
    const char *p = url + 7;
    if (strncmp(p, "localhost/", 10) == 0) p += 9;
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out) return NULL;
    for (; *p; p++) {
        int h, l;
        if (*p == '%' && (h = hexval(p[1])) >= 0 && (l = hexval(p[2])) >= 0) { *o++ = (char)(h * 16 + l); p += 2; }
        else *o++ = *p;
    }
    *o = 0;
    return out;
}

static mv_status load_data_url(const char *url, const image_policy *pol, mv_image **out, mv_error *err) {
    const char *comma = strchr(url, ',');
    if (!comma || !strstr(url, ";base64") || strstr(url, ";base64") > comma)
        return cli_error(err, MV_ERR_IMAGE, "data URL is not base64 (expected data:image/...;base64,...)");
    const char *b64 = comma + 1;
    size_t n = strlen(b64);
    while (n && (b64[n - 1] == '\n' || b64[n - 1] == '\r' || b64[n - 1] == ' ')) n--;
    if (n == 0 || n % 4 != 0 || n > (size_t)INT_MAX)
        return cli_error(err, MV_ERR_IMAGE, "data URL: invalid base64 length %zu", n);
    unsigned char *buf = malloc(n / 4 * 3 + 1);
    if (!buf) return cli_error(err, MV_ERR_NOMEM, "out of memory");
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    if (got < 0) { free(buf); return cli_error(err, MV_ERR_IMAGE, "data URL: invalid base64"); }
    if (b64[n - 1] == '=') got--;
    if (b64[n - 2] == '=') got--;
    mv_status rc = mv_image_load_memory(buf, (size_t)got, pol ? pol->max_pixels : 0, out, err);
    free(buf);
    return rc;
}

static int path_under(const char *path, const char *root) {
    char rp[PATH_MAX], rr[PATH_MAX];
    if (!realpath(path, rp) || !realpath(root, rr)) return 0;
    size_t n = strlen(rr);
    return strncmp(rp, rr, n) == 0 && (rp[n] == '/' || rp[n] == 0 || (n == 1 && rr[0] == '/'));
}

mv_status conversation_load_image(const char *url, const image_policy *pol, mv_image **out, mv_error *err) {
    *out = NULL;
    if (strncmp(url, "data:", 5) == 0) return load_data_url(url, pol, out, err);
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        return cli_error(err, MV_ERR_UNSUPPORTED, "remote image URLs are not fetched; pass a local path or a data: URL");
    if (pol && !pol->allow_local) return cli_error(err, MV_ERR_ARG, "local image files are not allowed here");
    char *path = strncmp(url, "file://", 7) == 0 ? file_url_path(url) : strdup(url);
    if (!path) return cli_error(err, MV_ERR_NOMEM, "out of memory");
    mv_status rc;
    if (pol && pol->local_root && !path_under(path, pol->local_root))
        rc = cli_error(err, MV_ERR_ARG, "image %s is outside the allowed directory", path);
    else
        rc = mv_image_load_file(path, pol ? pol->max_pixels : 0, out, err);
    free(path);
    return rc;
}

static int parse_role(const char *s, mv_role *role) {
    if (strcmp(s, "user") == 0) *role = MV_ROLE_USER;
    else if (strcmp(s, "assistant") == 0) *role = MV_ROLE_ASSISTANT;
    else if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0) *role = MV_ROLE_SYSTEM;
    else return 0;
    return 1;
}

/* Collect the text parts (joined by "\n") and load the image parts of one message. */
static mv_status parse_parts(const cJSON *content, int idx, const image_policy *pol, char **text, mv_image ***imgs,
                             int *n_imgs, mv_error *err) {
    size_t tlen = 0;
    *text = calloc(1, 1);
    *imgs = calloc((size_t)cJSON_GetArraySize(content) + 1, sizeof **imgs);
    *n_imgs = 0;
    if (!*text || !*imgs) return cli_error(err, MV_ERR_NOMEM, "out of memory");
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        if (!cJSON_IsString(type)) return cli_error(err, MV_ERR_ARG, "messages[%d].content: a part lacks a string \"type\"", idx);
        if (strcmp(type->valuestring, "text") == 0) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(t)) return cli_error(err, MV_ERR_ARG, "messages[%d].content: text part lacks a string \"text\"", idx);
            size_t add = strlen(t->valuestring);
            char *g = realloc(*text, tlen + add + 2);
            if (!g) return cli_error(err, MV_ERR_NOMEM, "out of memory");
            *text = g;
            if (tlen) (*text)[tlen++] = '\n';
            memcpy(*text + tlen, t->valuestring, add + 1);
            tlen += add;
        } else if (strcmp(type->valuestring, "image_url") == 0) {
            const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
            const cJSON *u = cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
            if (!cJSON_IsString(u)) return cli_error(err, MV_ERR_ARG, "messages[%d].content: image_url part lacks a string url", idx);
            mv_status rc = conversation_load_image(u->valuestring, pol, &(*imgs)[*n_imgs], err);
            if (rc != MV_OK) {
                char msg[sizeof err->message];
                snprintf(msg, sizeof msg, "%s", err->message);
                return cli_error(err, rc, "messages[%d]: image %d: %s", idx, *n_imgs + 1, msg);
            }
            (*n_imgs)++;
        } else {
            return cli_error(err, MV_ERR_ARG, "messages[%d].content: unknown part type \"%s\"", idx, type->valuestring);
        }
    }
    return MV_OK;
}

static mv_status parse_message(conversation *c, const cJSON *m, int idx, const image_policy *pol, mv_error *err) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    mv_role r;
    if (!cJSON_IsObject(m)) return cli_error(err, MV_ERR_ARG, "messages[%d] is not an object", idx);
    if (!cJSON_IsString(role) || !parse_role(role->valuestring, &r))
        return cli_error(err, MV_ERR_ARG, "messages[%d].role must be \"system\", \"user\" or \"assistant\"", idx);
    if (cJSON_IsString(content)) return conversation_add(c, r, content->valuestring, NULL, 0, err);
    if (!cJSON_IsArray(content)) return cli_error(err, MV_ERR_ARG, "messages[%d].content must be a string or an array of parts", idx);
    char *text = NULL;
    mv_image **imgs = NULL;
    int n_imgs = 0;
    mv_status rc = parse_parts(content, idx, pol, &text, &imgs, &n_imgs, err);
    if (rc == MV_OK) rc = conversation_add(c, r, text, imgs, n_imgs, err);
    else for (int i = 0; i < n_imgs; i++) mv_image_free(imgs[i]);
    free(text);
    free(imgs);
    return rc;
}

mv_status conversation_from_cjson(conversation *c, const cJSON *messages, const image_policy *pol, mv_error *err) {
    if (!cJSON_IsArray(messages))
        return cli_error(err, MV_ERR_ARG, "messages must be a JSON array of {\"role\", \"content\"} objects");
    mv_status rc = MV_OK;
    int idx = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        if ((rc = parse_message(c, m, idx++, pol, err)) != MV_OK) break;
    }
    if (rc == MV_OK && c->n_msgs == 0) rc = cli_error(err, MV_ERR_ARG, "messages is empty");
    return rc;
}

mv_status conversation_from_json(conversation *c, const char *json, size_t len, const image_policy *pol, mv_error *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    mv_status rc = conversation_from_cjson(c, root, pol, err);
    cJSON_Delete(root);
    return rc;
}
