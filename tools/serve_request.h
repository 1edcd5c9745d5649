/* serve_request.h — the body of POST /v1/chat/completions turned into a conversation and generation
 * parameters, or into an OpenAI-shaped error. Pure function of the bytes (plus the server's limits),
 * so the fuzzer can drive it directly. */
#ifndef MV_TOOLS_SERVE_REQUEST_H
#define MV_TOOLS_SERVE_REQUEST_H

#include <stddef.h>

#include "conversation.h"
#include "minivl.h"

typedef struct serve_limits {
    const char *model_id;     /* the one model name accepted */
    size_t max_pixels;        /* image decode limit (0 = library default) */
    const char *local_root;   /* NULL: no file:// or paths; else they must lie under it */
    int default_tiles;        /* per-image tile budget when the request names none */
    int config_tiles;         /* config.json's max_dynamic_patch: detail "high" */
} serve_limits;

/* An error in OpenAI's shape: {"error":{"message","type","param","code"}} with an HTTP status. */
typedef struct serve_error {
    int http;
    const char *type;         /* "invalid_request_error", "authentication_error", ... */
    const char *code;         /* machine-readable, or NULL */
    char param[64];           /* the offending field, or "" */
    char message[1100];
} serve_error;

typedef struct serve_request {
    conversation conv;
    mv_generate_params gp;
    char **stop;              /* owned; gp.stop points here */
    int stream, include_usage;
} serve_request;

/* 0 on success (free with serve_request_free), -1 with e filled (nothing to free). */
int serve_parse_request(const char *body, size_t len, const serve_limits *lim, serve_request *out, serve_error *e);
void serve_request_free(serve_request *r);

/* Fill e; returns -1. */
int serve_fail(serve_error *e, int http, const char *type, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The JSON body for e (malloc'd), or NULL on allocation failure. */
char *serve_error_json(const serve_error *e);
/* A library failure (while building the prompt or generating) as an HTTP error. */
void serve_error_from_status(serve_error *e, mv_status rc, const char *message);

#endif
