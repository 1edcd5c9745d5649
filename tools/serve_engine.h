/* serve_engine.h — the server's model loop: one thread owns the model and N sessions, admits queued
 * jobs into free sessions (prefill), and advances every running one by one token per step with one
 * batched decode (mv_batch_decode). HTTP threads submit jobs and wait on them. */
#ifndef MV_TOOLS_SERVE_ENGINE_H
#define MV_TOOLS_SERVE_ENGINE_H

#include <pthread.h>

#include "minivl.h"
#include "serve_request.h"

typedef enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE } job_state;

/* One request's life, shared by its HTTP thread and the engine (reference counted). Fields below
 * the mutex are guarded by it. */
typedef struct serve_job {
    serve_request req;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    job_state state;
    int cancelled;        /* the client went away: stop within one token */
    char *text;           /* generated text so far (streamed pieces appended) */
    size_t text_len, text_cap;
    int text_failed;
    int ok;               /* when DONE: result valid, else err */
    mv_result result;
    serve_error err;
} serve_job;

/* A new job owning req's contents (req is left empty); one reference for the caller. */
serve_job *serve_job_new(serve_request *req);
void serve_job_release(serve_job *j);
void serve_job_cancel(serve_job *j);

typedef struct serve_stats {
    unsigned long requests_ok, requests_failed, requests_rejected, requests_cancelled;
    unsigned long prompt_tokens, completion_tokens, image_tokens;
    double vision_s, prefill_s, decode_s;
    int queue_depth, active;
} serve_stats;

typedef struct serve_engine serve_engine;

/* n_parallel sessions, at most queue_max waiting jobs. */
serve_engine *serve_engine_new(mv_model *model, int n_parallel, int queue_max, mv_error *err);
/* 0: queued (the engine takes a reference); -1: the queue is full; -2: shutting down. */
int serve_engine_submit(serve_engine *e, serve_job *j);
/* Stop: queued jobs fail with 503, running ones may finish for grace_ms, then are cancelled. Joins
 * the engine thread. */
void serve_engine_shutdown(serve_engine *e, double grace_ms);
void serve_engine_free(serve_engine *e);
void serve_engine_stats(serve_engine *e, serve_stats *out);
/* Count a request the HTTP layer answered itself (bad input, 429, auth). */
void serve_engine_count(serve_engine *e, int http_status);

#endif
