/* serve_http.c — routes and responses of `minivl serve` (see serve_http.h).
 *
 * libmicrohttpd runs each connection on its own thread, so a handler may block while its job waits
 * in the queue or generates. While it waits it peeks at the socket: a client that closed its end
 * cancels its job, which the engine notices before the next token. A streamed response is a
 * callback reader that turns the job's new text into chat.completion.chunk events. */
#include "serve_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve_json.h"

enum { WAIT_SLICE_MS = 50 };

typedef struct conn_state {
    char *body;
    size_t len, cap;
    int too_large;
    int counted;       /* counted in ctx->in_flight */
} conn_state;

/* ------------------------------------------------------------------ plain responses */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *ctype, char *body, const char *retry_after) {
    if (!body) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        if (!body) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(body); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(serve_ctx *ctx, struct MHD_Connection *c, const serve_error *e) {
    serve_engine *eng = atomic_load(&ctx->engine);
    if (eng) serve_engine_count(eng, e->http);
    const char *retry = e->http == 429 || e->http == 503 ? "1" : NULL;
    return respond(c, (unsigned)e->http, "application/json", serve_error_json(e), retry);
}

static enum MHD_Result fail(serve_ctx *ctx, struct MHD_Connection *c, int http, const char *type, const char *code, const char *msg) {
    serve_error e;
    serve_fail(&e, http, type, code, NULL, "%s", msg);
    return respond_error(ctx, c, &e);
}

/* ------------------------------------------------------------------ waiting on a job */

/* The peer closed its end (or the socket broke): recv peeks 0 bytes or fails hard. */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void timed_wait(serve_job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* With j->mu held: wait until ready(j) or the client leaves (then the job is cancelled, returns 0).
 * The socket is looked at on every wake-up, also when news is already there: a streaming client
 * that hung up is then noticed at the next token rather than when a later write fails, so its
 * generation stops within one token. */
static int wait_locked(serve_job *j, struct MHD_Connection *c, int (*ready)(const serve_job *, const void *), const void *arg) {
    for (;;) {
        int r = ready(j, arg);
        if (!r) timed_wait(j);
        pthread_mutex_unlock(&j->mu);
        int gone = client_gone(c);
        pthread_mutex_lock(&j->mu);
        if (gone) {
            j->cancelled = 1;
            return 0;
        }
        if (r || ready(j, arg)) return 1;
    }
}

static int reached_state(const serve_job *j, const void *arg) { return j->state >= *(const job_state *)arg; }

static int wait_state(serve_job *j, struct MHD_Connection *c, job_state state) {
    pthread_mutex_lock(&j->mu);
    int ok = wait_locked(j, c, reached_state, &state);
    pthread_mutex_unlock(&j->mu);
    return ok;
}

static void make_ids(serve_ctx *ctx, serve_ids *ids) {
    unsigned long n = atomic_fetch_add(&ctx->next_id, 1);
    snprintf(ids->id, sizeof ids->id, "chatcmpl-%08lx%08lx", (unsigned long)ctx->started & 0xffffffffUL, n);
    ids->created = (long)time(NULL);
    ids->model = ctx->lim.model_id;
}

/* ------------------------------------------------------------------ server-sent events */

typedef struct sse_state {
    serve_job *j;
    struct MHD_Connection *c;
    serve_ids ids;
    size_t text_sent;      /* bytes of j->text already turned into chunks */
    char *out;             /* formatted bytes not yet handed to MHD */
    size_t out_len, out_pos, out_cap;
    int phase;             /* 0: role chunk next, 1: streaming, 2: all queued */
} sse_state;

/* Append "data: <json>\n\n" (takes json). */
static int sse_event(sse_state *s, char *json) {
    if (!json) return 0;
    size_t need = s->out_len + strlen(json) + 9;
    if (need > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 1024;
        while (cap < need) cap *= 2;
        char *g = realloc(s->out, cap);
        if (!g) { free(json); return 0; }
        s->out = g;
        s->out_cap = cap;
    }
    s->out_len += (size_t)sprintf(s->out + s->out_len, "data: %s\n\n", json);
    free(json);
    return 1;
}

static int has_news(const serve_job *j, const void *arg) {
    return j->text_len > *(const size_t *)arg || j->state == JOB_DONE;
}

/* With j->mu held, after the job is done: the finish chunk, usage, [DONE] (or an error event). */
static int sse_finish(sse_state *s) {
    serve_job *j = s->j;
    int ok;
    if (j->ok) {
        ok = sse_event(s, serve_chunk_json(&s->ids, 0, NULL, 0, serve_finish_name(j->result.finish)));
        if (ok && j->req.include_usage) ok = sse_event(s, serve_usage_chunk_json(&s->ids, &j->result));
    } else {
        ok = sse_event(s, serve_error_json(&j->err));
    }
    ok = ok && sse_event(s, strdup("[DONE]"));
    s->phase = 2;
    return ok;
}

/* Produce the next events; 0 when the client is gone or memory ran out. */
static int sse_fill(sse_state *s) {
    if (s->phase == 0) {
        s->phase = 1;
        return sse_event(s, serve_chunk_json(&s->ids, 1, NULL, 0, NULL));
    }
    serve_job *j = s->j;
    pthread_mutex_lock(&j->mu);
    int ok = wait_locked(j, s->c, has_news, &s->text_sent);
    if (ok && j->text_len > s->text_sent) {
        ok = sse_event(s, serve_chunk_json(&s->ids, 0, j->text + s->text_sent, j->text_len - s->text_sent, NULL));
        s->text_sent = j->text_len;
    } else if (ok) {
        ok = sse_finish(s);
    }
    pthread_mutex_unlock(&j->mu);
    return ok;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_state *s = cls;
    while (s->out_pos == s->out_len) {
        if (s->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        s->out_pos = s->out_len = 0;
        if (!sse_fill(s)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->out_len - s->out_pos < max ? s->out_len - s->out_pos : max;
    memcpy(buf, s->out + s->out_pos, n);
    s->out_pos += n;
    return (ssize_t)n;
}

/* The response is gone (sent, or the connection broke): a job still running is cancelled. */
static void sse_free(void *cls) {
    sse_state *s = cls;
    serve_job_cancel(s->j);
    serve_job_release(s->j);
    free(s->out);
    free(s);
}

static enum MHD_Result respond_stream(serve_ctx *ctx, struct MHD_Connection *c, serve_job *j) {
    sse_state *s = calloc(1, sizeof *s);
    if (!s) { serve_job_release(j); return fail(ctx, c, 500, "server_error", NULL, "out of memory"); }
    s->j = j;
    s->c = c;
    make_ids(ctx, &s->ids);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
    if (!r) { sse_free(s); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ------------------------------------------------------------------ routes */

static enum MHD_Result job_error(serve_ctx *ctx, struct MHD_Connection *c, serve_job *j) {
    serve_error e = j->err;
    serve_job_release(j);
    return respond_error(ctx, c, &e);
}

static enum MHD_Result run_job(serve_ctx *ctx, struct MHD_Connection *c, serve_job *j) {
    if (!wait_state(j, c, JOB_RUNNING)) { serve_job_release(j); return MHD_NO; }
    if (j->state == JOB_DONE && !j->ok) return job_error(ctx, c, j);
    if (j->req.stream) return respond_stream(ctx, c, j);
    if (!wait_state(j, c, JOB_DONE)) { serve_job_release(j); return MHD_NO; }
    if (!j->ok) return job_error(ctx, c, j);
    serve_ids ids;
    make_ids(ctx, &ids);
    char *body = serve_completion_json(&ids, &j->result);
    serve_job_release(j);
    return respond(c, MHD_HTTP_OK, "application/json", body, NULL);
}

static enum MHD_Result handle_chat(serve_ctx *ctx, struct MHD_Connection *c, conn_state *cs) {
    serve_error e;
    if (cs->too_large) {
        serve_fail(&e, 413, "invalid_request_error", "request_too_large", NULL, "the request body exceeds %zu MB", ctx->max_body >> 20);
        return respond_error(ctx, c, &e);
    }
    serve_engine *eng = atomic_load(&ctx->engine);
    if (!eng || !atomic_load(&ctx->ready)) return fail(ctx, c, 503, "server_error", "model_loading", "the model is still loading");
    serve_request req;
    if (serve_parse_request(cs->body ? cs->body : "", cs->len, &ctx->lim, &req, &e)) return respond_error(ctx, c, &e);
    serve_job *j = serve_job_new(&req);
    if (!j) { serve_request_free(&req); return fail(ctx, c, 500, "server_error", NULL, "out of memory"); }
    int rc = serve_engine_submit(eng, j);
    if (rc == -1) {
        serve_job_release(j);
        serve_fail(&e, 429, "rate_limit_error", "rate_limit_exceeded", NULL, "the server is busy: all sessions and queue places are taken; retry later");
        return respond(c, 429, "application/json", serve_error_json(&e), "1");
    }
    if (rc == -2) { serve_job_release(j); return fail(ctx, c, 503, "server_error", "shutting_down", "the server is shutting down"); }
    return run_job(ctx, c, j);
}

static int authorized(const serve_ctx *ctx, struct MHD_Connection *c) {
    if (!ctx->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    const char *k = h + 7, *want = ctx->api_key;
    size_t lk = strlen(k), lw = strlen(want);
    unsigned diff = (unsigned)(lk != lw);
    for (size_t i = 0; i < lw; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < lk ? k[i] : 0);
    return diff == 0;
}

static enum MHD_Result route(serve_ctx *ctx, struct MHD_Connection *c, const char *url, const char *method, conn_state *cs) {
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    int ready = atomic_load(&ctx->ready);
    if (!strcmp(url, "/health"))
        return get ? respond(c, ready ? 200 : 503, "application/json", strdup(ready ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}"), NULL)
                   : fail(ctx, c, 405, "invalid_request_error", "method_not_allowed", "use GET");
    if (!strcmp(url, "/metrics")) {
        serve_stats st = { 0 };
        serve_engine *eng = atomic_load(&ctx->engine);
        if (eng) serve_engine_stats(eng, &st);
        return respond(c, 200, "text/plain; version=0.0.4", serve_metrics_text(&st, ready), NULL);
    }
    int models = !strcmp(url, "/v1/models"), chat = !strcmp(url, "/v1/chat/completions");
    if (!models && !chat) return fail(ctx, c, 404, "invalid_request_error", "not_found", "unknown path; see /v1/chat/completions, /v1/models, /health, /metrics");
    if (!authorized(ctx, c)) return fail(ctx, c, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided");
    if (models) return get ? respond(c, 200, "application/json", serve_models_json(ctx->lim.model_id, ctx->started), NULL)
                           : fail(ctx, c, 405, "invalid_request_error", "method_not_allowed", "use GET");
    if (!post) return fail(ctx, c, 405, "invalid_request_error", "method_not_allowed", "use POST");
    return handle_chat(ctx, c, cs);
}

static void body_append(conn_state *cs, const char *data, size_t n, size_t max) {
    if (cs->too_large || cs->len + n > max) {
        cs->too_large = 1;
        return;
    }
    if (cs->len + n + 1 > cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4096;
        while (cap < cs->len + n + 1) cap *= 2;
        char *g = realloc(cs->body, cap);
        if (!g) { cs->too_large = 1; return; }
        cs->body = g;
        cs->cap = cap;
    }
    memcpy(cs->body + cs->len, data, n);
    cs->len += n;
    cs->body[cs->len] = 0;
}

static int declared_too_large(const serve_ctx *ctx, struct MHD_Connection *c) {
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > ctx->max_body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    serve_ctx *ctx = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        if (!strcmp(url, "/v1/chat/completions")) { cs->counted = 1; atomic_fetch_add(&ctx->in_flight, 1); }
        /* An oversize body is read and dropped, not stored, then answered with 413: answering before
         * the upload ends makes many clients report a broken pipe instead of the status. */
        cs->too_large = declared_too_large(ctx, c);
        return MHD_YES;
    }
    if (*upload_size) {
        body_append(cs, upload, *upload_size, ctx->max_body);
        *upload_size = 0;
        return MHD_YES;
    }
    return route(ctx, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    serve_ctx *ctx = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    if (cs->counted) atomic_fetch_sub(&ctx->in_flight, 1);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ------------------------------------------------------------------ daemon */

struct MHD_Daemon *serve_http_start(serve_ctx *ctx, const char *host, int port, int *bound_port, char *msg, size_t msg_len) {
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai = NULL;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    int gai = getaddrinfo(host, port_s, &hints, &ai);
    if (gai != 0) {
        snprintf(msg, msg_len, "cannot resolve --host %s: %s", host, gai_strerror(gai));
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, ctx,
                                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        snprintf(msg, msg_len, "cannot listen on %s:%d (port in use?)", host, port);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : port;
    return d;
}

int serve_http_quiesce(struct MHD_Daemon *d) {
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd == MHD_INVALID_SOCKET) return -1;
    /* Quiescing only stops accept(): the kernel would still complete handshakes into the backlog and
     * those clients would hang until exit. Shutting the listening socket down (it may not be closed
     * before MHD_stop_daemon) makes new connections fail at once with "connection refused". */
    shutdown(fd, SHUT_RDWR);
    return fd;
}

void serve_http_stop(struct MHD_Daemon *d, int listen_fd) {
    MHD_stop_daemon(d);
    if (listen_fd >= 0) close(listen_fd);
}
