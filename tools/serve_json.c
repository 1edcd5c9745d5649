/* serve_json.c — response bodies of `minivl serve` in OpenAI's shapes (see serve_json.h). */
#include "serve_json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *serve_finish_name(mv_finish f) { return f == MV_FINISH_LENGTH ? "length" : "stop"; }

static char *print_delete(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static cJSON *base_object(const serve_ids *ids, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", ids->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)ids->created);
    cJSON_AddStringToObject(o, "model", ids->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "minivl-" MINIVL_VERSION);
    return o;
}

/* Usage with the image tokens (and the positions reused from the KV cache) among the prompt's. */
static cJSON *usage_json(const mv_result *r) {
    cJSON *u = cJSON_CreateObject();
    int cached = (int)r->n_input_ids - r->timings.prefill_tokens;
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->n_input_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)r->n_output_ids);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->n_input_ids + r->n_output_ids));
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", cached > 0 ? cached : 0);
    cJSON_AddNumberToObject(d, "image_tokens", r->n_image_tokens);
    return u;
}

char *serve_completion_json(const serve_ids *ids, const mv_result *r) {
    cJSON *o = base_object(ids, "chat.completion");
    cJSON *choice = cJSON_CreateObject(), *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", r->text ? r->text : "");
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", serve_finish_name(r->finish));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddItemToObject(o, "usage", usage_json(r));
    return print_delete(o);
}

char *serve_chunk_json(const serve_ids *ids, int role, const char *content, size_t len, const char *finish) {
    cJSON *o = base_object(ids, "chat.completion.chunk");
    cJSON *choice = cJSON_CreateObject(), *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON_AddNumberToObject(choice, "index", 0);
    if (role) cJSON_AddStringToObject(delta, "role", "assistant");
    if (role || content) {
        char *s = malloc(len + 1);
        if (s) {
            if (len) memcpy(s, content, len);
            s[len] = 0;
            cJSON_AddStringToObject(delta, "content", s);
        }
        free(s);
    }
    cJSON_AddNullToObject(choice, "logprobs");
    if (finish) cJSON_AddStringToObject(choice, "finish_reason", finish);
    else cJSON_AddNullToObject(choice, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    return print_delete(o);
}

char *serve_usage_chunk_json(const serve_ids *ids, const mv_result *r) {
    cJSON *o = base_object(ids, "chat.completion.chunk");
    cJSON_AddArrayToObject(o, "choices");
    cJSON_AddItemToObject(o, "usage", usage_json(r));
    return print_delete(o);
}

char *serve_models_json(const char *model, long created) {
    cJSON *o = cJSON_CreateObject(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddStringToObject(m, "id", model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "minivl");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    return print_delete(o);
}

static int metric(char *buf, size_t cap, size_t *n, const char *name, const char *type, const char *help, double v) {
    int w = snprintf(buf + *n, cap - *n, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
    if (w < 0 || (size_t)w >= cap - *n) return 0;
    *n += (size_t)w;
    return 1;
}

char *serve_metrics_text(const serve_stats *st, int ready) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    b[0] = 0;
    int ok = metric(b, cap, &n, "minivl_requests_total", "counter", "Chat completions answered successfully.", (double)st->requests_ok) &&
             metric(b, cap, &n, "minivl_requests_failed_total", "counter", "Requests answered with an error (4xx/5xx other than 429).", (double)st->requests_failed) &&
             metric(b, cap, &n, "minivl_requests_rejected_total", "counter", "Requests refused with 429 because the queue was full.", (double)st->requests_rejected) &&
             metric(b, cap, &n, "minivl_requests_cancelled_total", "counter", "Generations cancelled because the client went away.", (double)st->requests_cancelled) &&
             metric(b, cap, &n, "minivl_prompt_tokens_total", "counter", "Prompt tokens of completed requests.", (double)st->prompt_tokens) &&
             metric(b, cap, &n, "minivl_image_tokens_total", "counter", "Image tokens among the prompt tokens.", (double)st->image_tokens) &&
             metric(b, cap, &n, "minivl_completion_tokens_total", "counter", "Generated tokens of completed requests.", (double)st->completion_tokens) &&
             metric(b, cap, &n, "minivl_queue_depth", "gauge", "Requests waiting for a session.", st->queue_depth) &&
             metric(b, cap, &n, "minivl_active_sessions", "gauge", "Sessions generating now.", st->active) &&
             metric(b, cap, &n, "minivl_vision_seconds_total", "counter", "Time spent encoding images.", st->vision_s) &&
             metric(b, cap, &n, "minivl_prefill_seconds_total", "counter", "Time spent prefilling prompts.", st->prefill_s) &&
             metric(b, cap, &n, "minivl_decode_seconds_total", "counter", "Time spent in batched decode steps.", st->decode_s) &&
             metric(b, cap, &n, "minivl_ready", "gauge", "1 once the model is loaded.", ready);
    if (!ok) { free(b); return NULL; }
    return b;
}
