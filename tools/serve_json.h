/* serve_json.h — the server's response bodies: chat completions, stream chunks, the model list and
 * the Prometheus metrics text. Every function returns a malloc'd string, or NULL when out of memory. */
#ifndef MV_TOOLS_SERVE_JSON_H
#define MV_TOOLS_SERVE_JSON_H

#include <stddef.h>

#include "minivl.h"
#include "serve_engine.h"

typedef struct serve_ids {
    char id[48];          /* "chatcmpl-..." */
    long created;         /* Unix seconds */
    const char *model;
} serve_ids;

const char *serve_finish_name(mv_finish f);
char *serve_completion_json(const serve_ids *ids, const mv_result *r);
/* A chat.completion.chunk: role chunk when role != 0, else content (may be NULL) and finish (may be NULL). */
char *serve_chunk_json(const serve_ids *ids, int role, const char *content, size_t len, const char *finish);
/* The final usage chunk of stream_options.include_usage (empty choices). */
char *serve_usage_chunk_json(const serve_ids *ids, const mv_result *r);
char *serve_models_json(const char *model, long created);
char *serve_metrics_text(const serve_stats *st, int ready);

#endif
