/* serve_request.c — parse and validate a chat-completions request body (see serve_request.h).
 * Unknown fields are ignored, as OpenAI clients send many optional ones; known fields with the wrong
 * type or range are errors naming the field. */
#include "serve_request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STOP = 16, MAX_STOP_LEN = 256, MAX_TILES = 64 };

int serve_fail(serve_error *e, int http, const char *type, const char *code, const char *param, const char *fmt, ...) {
    e->http = http;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int bad_param(serve_error *e, const char *param, const char *fmt, const char *what) {
    return serve_fail(e, 400, "invalid_request_error", "invalid_value", param, fmt, param, what);
}

char *serve_error_json(const serve_error *e) {
    cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "server_error");
    if (e->param[0]) cJSON_AddStringToObject(o, "param", e->param);
    else cJSON_AddNullToObject(o, "param");
    if (e->code) cJSON_AddStringToObject(o, "code", e->code);
    else cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void serve_error_from_status(serve_error *e, mv_status rc, const char *msg) {
    switch (rc) {
    case MV_ERR_CONTEXT: serve_fail(e, 400, "invalid_request_error", "context_length_exceeded", "messages", "%s", msg); break;
    case MV_ERR_IMAGE: serve_fail(e, 400, "invalid_request_error", "invalid_image", "messages", "%s", msg); break;
    case MV_ERR_ARG:
    case MV_ERR_FORMAT:
    case MV_ERR_UNSUPPORTED: serve_fail(e, 400, "invalid_request_error", "invalid_value", "messages", "%s", msg); break;
    case MV_ERR_CANCELLED: serve_fail(e, 503, "server_error", "cancelled", NULL, "%s", msg); break;
    default: serve_fail(e, 500, "server_error", NULL, NULL, "%s", msg); break;
    }
}

/* A field that is absent or JSON null counts as not given. */
static const cJSON *field(const cJSON *root, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsNull(f) ? NULL : f;
}

/* 0: absent, 1: read, -1: error. */
static int get_number(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f)) return bad_param(e, name, "'%s' must be %s", "a number");
    if (!(f->valuedouble >= lo && f->valuedouble <= hi))
        return serve_fail(e, 400, "invalid_request_error", "invalid_value", name, "'%s' must be in [%g, %g], got %g", name, lo, hi,
                          f->valuedouble);
    *out = f->valuedouble;
    return 1;
}

static int get_int(const cJSON *root, const char *name, double lo, double hi, double *out, serve_error *e) {
    int got = get_number(root, name, lo, hi, out, e);
    if (got == 1 && *out != floor(*out)) return bad_param(e, name, "'%s' must be %s", "an integer");
    return got;
}

static int get_bool(const cJSON *root, const char *name, int *out, serve_error *e) {
    const cJSON *f = field(root, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return bad_param(e, name, "'%s' must be %s", "a boolean");
    *out = cJSON_IsTrue(f);
    return 1;
}

static int add_stop(serve_request *r, const cJSON *s, serve_error *e) {
    if (!cJSON_IsString(s)) return bad_param(e, "stop", "'%s' must be %s", "a string or an array of strings");
    size_t n = strlen(s->valuestring);
    if (n == 0 || n > MAX_STOP_LEN) return bad_param(e, "stop", "'%s' strings must be %s", "1 to 256 bytes long");
    if (r->gp.n_stop == MAX_STOP) return bad_param(e, "stop", "'%s' holds %s", "more than 16 strings");
    if (!(r->stop[r->gp.n_stop] = strdup(s->valuestring)))
        return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    r->gp.n_stop++;
    return 0;
}

static int parse_stop(const cJSON *root, serve_request *r, serve_error *e) {
    const cJSON *f = field(root, "stop");
    if (!f) return 0;
    if (!(r->stop = calloc(MAX_STOP, sizeof *r->stop))) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    r->gp.stop = (const char *const *)r->stop;
    if (!cJSON_IsArray(f)) return add_stop(r, f, e);
    const cJSON *s;
    cJSON_ArrayForEach(s, f) {
        if (add_stop(r, s, e)) return -1;
    }
    return 0;
}

static int parse_sampling(const cJSON *root, serve_request *r, serve_error *e) {
    mv_sampling_params *sp = &r->gp.sampling;
    double v;
    int got;
    if ((got = get_number(root, "temperature", 0, 2, &v, e)) < 0) return -1;
    int has_temp = got;
    if (got) sp->temperature = (float)v;
    if ((got = get_number(root, "top_p", 0, 1, &v, e)) < 0) return -1;
    if (got) sp->top_p = v > 0 ? (float)v : 1e-6f;
    if ((got = get_int(root, "top_k", 0, 1 << 24, &v, e)) < 0) return -1;
    if (got) sp->top_k = (int)v;
    if ((got = get_int(root, "seed", -9.2e18, 9.2e18, &v, e)) < 0) return -1;
    if (got) sp->seed = (uint64_t)(int64_t)v;
    /* Like `minivl run`: asking for top-k/top-p without a temperature means sampling at 1. */
    if (!has_temp && (sp->top_k || sp->top_p < 1)) sp->temperature = 1.0f;
    return 0;
}

static int parse_lengths(const cJSON *root, serve_request *r, serve_error *e) {
    double v;
    int got = get_int(root, "max_completion_tokens", 1, 1 << 20, &v, e);
    if (got == 0) got = get_int(root, "max_tokens", 1, 1 << 20, &v, e);
    if (got < 0) return -1;
    if (got) r->gp.max_new_tokens = (int)v;
    const cJSON *n = field(root, "n");
    if (n && (!cJSON_IsNumber(n) || n->valuedouble != 1))
        return serve_fail(e, 400, "invalid_request_error", "unsupported_value", "n", "'n' must be 1 (one choice per request)");
    return 0;
}

static int parse_stream(const cJSON *root, serve_request *r, serve_error *e) {
    if (get_bool(root, "stream", &r->stream, e) < 0) return -1;
    const cJSON *so = field(root, "stream_options");
    if (!so) return 0;
    if (!cJSON_IsObject(so)) return bad_param(e, "stream_options", "'%s' must be %s", "an object");
    if (get_bool(so, "include_usage", &r->include_usage, e) < 0) return -1;
    return 0;
}

/* The strongest "detail" among the image parts: 2 high, 1 low, 0 none/auto; -1 on a bad value. */
static int image_detail(const cJSON *messages, serve_error *e) {
    int best = 0;
    const cJSON *m, *part;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *content = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "content") : NULL;
        if (!cJSON_IsArray(content)) continue;
        cJSON_ArrayForEach(part, content) {
            const cJSON *iu = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "image_url") : NULL;
            const cJSON *d = cJSON_IsObject(iu) ? field(iu, "detail") : NULL;
            if (!d) continue;
            if (!cJSON_IsString(d) || (strcmp(d->valuestring, "low") && strcmp(d->valuestring, "high") && strcmp(d->valuestring, "auto")))
                return bad_param(e, "detail", "image_url.%s must be %s", "\"low\", \"high\" or \"auto\"");
            int level = !strcmp(d->valuestring, "high") ? 2 : !strcmp(d->valuestring, "low") ? 1 : 0;
            if (level > best) best = level;
        }
    }
    return best;
}

static int parse_tiles(const cJSON *root, const cJSON *messages, const serve_limits *lim, serve_request *r, serve_error *e) {
    double v;
    int got = get_int(root, "max_tiles", 1, MAX_TILES, &v, e);
    if (got < 0) return -1;
    int detail = image_detail(messages, e);
    if (detail < 0) return -1;
    r->gp.max_tiles = got ? (int)v : detail == 2 ? lim->config_tiles : detail == 1 ? 1 : lim->default_tiles;
    return 0;
}

static int parse_messages(const cJSON *messages, const serve_limits *lim, serve_request *r, serve_error *e) {
    if (!cJSON_IsArray(messages))
        return serve_fail(e, 400, "invalid_request_error", messages ? "invalid_type" : "missing_required_parameter", "messages",
                          "'messages' must be an array of {role, content} objects");
    image_policy pol = { lim->max_pixels, lim->local_root != NULL, lim->local_root };
    mv_error err = { 0 };
    mv_status rc = conversation_from_cjson(&r->conv, messages, &pol, &err);
    if (rc == MV_OK) return 0;
    if (rc == MV_ERR_IMAGE) return serve_fail(e, 400, "invalid_request_error", "invalid_image", "messages", "%s", err.message);
    if (rc == MV_ERR_NOMEM) return serve_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    return serve_fail(e, 400, "invalid_request_error", "invalid_value", "messages", "%s", err.message);
}

static int parse_model(const cJSON *root, const serve_limits *lim, serve_error *e) {
    const cJSON *model = field(root, "model");
    if (!model) return serve_fail(e, 400, "invalid_request_error", "missing_required_parameter", "model", "'model' is required");
    if (!cJSON_IsString(model)) return bad_param(e, "model", "'%s' must be %s", "a string");
    if (strcmp(model->valuestring, lim->model_id))
        return serve_fail(e, 404, "invalid_request_error", "model_not_found", "model",
                          "The model '%.200s' does not exist; this server has '%.200s'", model->valuestring, lim->model_id);
    return 0;
}

static int parse_root(const cJSON *root, const serve_limits *lim, serve_request *r, serve_error *e) {
    if (!cJSON_IsObject(root))
        return serve_fail(e, 400, "invalid_request_error", "invalid_json", NULL, "the request body must be a JSON object");
    const cJSON *messages = field(root, "messages");
    if (parse_model(root, lim, e) || parse_lengths(root, r, e) || parse_sampling(root, r, e) || parse_stop(root, r, e) ||
        parse_stream(root, r, e) || parse_tiles(root, messages, lim, r, e))
        return -1;
    return parse_messages(messages, lim, r, e);
}

int serve_parse_request(const char *body, size_t len, const serve_limits *lim, serve_request *out, serve_error *e) {
    memset(out, 0, sizeof *out);
    out->gp = mv_generate_default_params();
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc = root ? parse_root(root, lim, out, e)
                  : serve_fail(e, 400, "invalid_request_error", "invalid_json", NULL,
                               "We could not parse the JSON body of your request (expected a JSON object)");
    cJSON_Delete(root);
    if (rc) serve_request_free(out);
    return rc;
}

void serve_request_free(serve_request *r) {
    conversation_clear(&r->conv);
    for (int i = 0; r->stop && i < r->gp.n_stop; i++) free(r->stop[i]);
    free(r->stop);
    r->stop = NULL;
    r->gp.stop = NULL;
    r->gp.n_stop = 0;
}
