/* serve_engine.c — the model loop of `minivl serve` (see serve_engine.h).
 *
 * Only the engine thread touches the model and the sessions, so the library's one-thread-per-session
 * rule holds and its thread pool serves one call at a time. A slot keeps its session's KV cache
 * between jobs, so a request sharing a prefix (a system prompt, an earlier turn) with the slot's last
 * one prefills only the difference. */
#include "serve_engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct serve_engine {
    mv_model *model;
    int n;                    /* sessions (--parallel) */
    mv_session **sessions;
    serve_job **slots;        /* engine thread only: the job each session runs, or NULL */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;
    serve_job **queue;
    int q_len, q_max;
    int quit;
    double deadline_ms;
    serve_stats st;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ jobs */

serve_job *serve_job_new(serve_request *req) {
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->req = *req;
    memset(req, 0, sizeof *req);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    return j;
}

void serve_job_release(serve_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    serve_request_free(&j->req);
    mv_result_free(&j->result);
    free(j->text);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void serve_job_cancel(serve_job *j) {
    pthread_mutex_lock(&j->mu);
    j->cancelled = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static int job_cancelled(serve_job *j) {
    pthread_mutex_lock(&j->mu);
    int c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

static void job_set_state(serve_job *j, job_state s) {
    pthread_mutex_lock(&j->mu);
    j->state = s;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Streaming callback (engine thread): append the piece; a cancelled job stops the generation. */
static int on_token(void *user, const char *piece, size_t len, int32_t token) {
    (void)token;
    serve_job *j = user;
    pthread_mutex_lock(&j->mu);
    if (j->text_len + len + 1 > j->text_cap) {
        size_t cap = j->text_cap ? j->text_cap * 2 : 256;
        while (cap < j->text_len + len + 1) cap *= 2;
        char *g = realloc(j->text, cap);
        if (g) { j->text = g; j->text_cap = cap; }
        else j->text_failed = 1;
    }
    if (!j->text_failed) {
        memcpy(j->text + j->text_len, piece, len);
        j->text_len += len;
        j->text[j->text_len] = 0;
    }
    int stop = j->cancelled;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return stop;
}

static void count_done(serve_engine *e, int ok, int cancelled, const mv_result *r) {
    pthread_mutex_lock(&e->mu);
    if (ok) {
        e->st.requests_ok++;
        e->st.prompt_tokens += r->n_input_ids;
        e->st.completion_tokens += r->n_output_ids;
        e->st.image_tokens += (unsigned long)r->n_image_tokens;
        e->st.vision_s += r->timings.vision_ms / 1e3;
        e->st.prefill_s += r->timings.prefill_ms / 1e3;
    } else if (cancelled) {
        e->st.requests_cancelled++;
    } else {
        e->st.requests_failed++;
    }
    pthread_mutex_unlock(&e->mu);
}

/* Hand the outcome to the HTTP thread and drop the engine's reference. r is taken (zeroed). */
static void job_done(serve_engine *e, serve_job *j, mv_result *r, const serve_error *err) {
    int ok = r && r->finish != MV_FINISH_CANCELLED;
    count_done(e, ok, !ok && (!err || err->http == 499), r);
    pthread_mutex_lock(&j->mu);
    j->ok = ok;
    if (ok) j->result = *r;
    else if (err) j->err = *err;
    else serve_fail(&j->err, 499, "server_error", "cancelled", NULL, "the request was cancelled");
    if (ok) memset(r, 0, sizeof *r);
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (r) mv_result_free(r);
    serve_job_release(j);
}

/* ------------------------------------------------------------------ engine thread */

static void admit_one(serve_engine *e, int slot, serve_job *j) {
    if (job_cancelled(j)) { job_done(e, j, NULL, NULL); return; }
    j->req.gp.on_token = on_token;
    j->req.gp.user = j;
    mv_error err = { 0 };
    mv_status rc = mv_session_begin(e->sessions[slot], j->req.conv.msgs, j->req.conv.n_msgs, &j->req.gp, &err);
    if (rc != MV_OK) {
        serve_error se;
        serve_error_from_status(&se, rc, err.message);
        job_done(e, j, NULL, &se);
        return;
    }
    e->slots[slot] = j;
    job_set_state(j, JOB_RUNNING);
}

static serve_job *pop_queue(serve_engine *e) {
    pthread_mutex_lock(&e->mu);
    serve_job *j = NULL;
    if (e->q_len > 0) {
        j = e->queue[0];
        memmove(e->queue, e->queue + 1, (size_t)(--e->q_len) * sizeof *e->queue);
        e->st.queue_depth = e->q_len;
    }
    pthread_mutex_unlock(&e->mu);
    return j;
}

static void admit(serve_engine *e) {
    for (int i = 0; i < e->n; i++) {
        if (e->slots[i]) continue;
        serve_job *j = pop_queue(e);
        if (!j) return;
        admit_one(e, i, j);
    }
}

/* End the slot's generation (cancelling it if still active) and report it; why (may be NULL: the
 * client left) is the error a cancelled job's client gets. */
static void finish_slot(serve_engine *e, int i, const serve_error *why) {
    mv_result r;
    mv_error err = { 0 };
    serve_error se;
    mv_status rc = mv_session_end(e->sessions[i], &r, &err);
    if (rc != MV_OK) serve_error_from_status(&se, rc, err.message);
    job_done(e, e->slots[i], rc == MV_OK ? &r : NULL, rc == MV_OK ? why : &se);
    e->slots[i] = NULL;
}

/* One token for every running job, in one batched forward pass. Returns the number running.
 * cancel_all: the shutdown grace period is over; the clients still there are told so. */
static int step(serve_engine *e, int cancel_all) {
    mv_session *batch[256];
    int k = 0;
    serve_error shutting;
    if (cancel_all) serve_fail(&shutting, 503, "server_error", "shutting_down", NULL, "the server is shutting down; the generation was stopped");
    for (int i = 0; i < e->n; i++) {
        if (!e->slots[i]) continue;
        if (cancel_all) finish_slot(e, i, &shutting);
        else if (job_cancelled(e->slots[i])) finish_slot(e, i, NULL);
        else batch[k++] = e->sessions[i];
    }
    if (k == 0) return 0;
    double t0 = now_ms();
    mv_batch_decode(batch, k, NULL);
    double dt = now_ms() - t0;
    for (int i = 0; i < e->n; i++)
        if (e->slots[i] && !mv_session_active(e->sessions[i])) finish_slot(e, i, NULL);
    pthread_mutex_lock(&e->mu);
    e->st.decode_s += dt / 1e3;
    pthread_mutex_unlock(&e->mu);
    return k;
}

static int running(const serve_engine *e) {
    int k = 0;
    for (int i = 0; i < e->n; i++) k += e->slots[i] != NULL;
    return k;
}

static void *engine_main(void *arg) {
    serve_engine *e = arg;
    for (;;) {
        admit(e);
        int k = running(e);
        pthread_mutex_lock(&e->mu);
        e->st.active = k;
        int quit = e->quit, past = quit && now_ms() > e->deadline_ms;
        if (k == 0) {
            if (quit && e->q_len == 0) { pthread_mutex_unlock(&e->mu); break; }
            if (e->q_len == 0) pthread_cond_wait(&e->cv, &e->mu);
            pthread_mutex_unlock(&e->mu);
            continue;
        }
        pthread_mutex_unlock(&e->mu);
        step(e, past);
    }
    return NULL;
}

/* ------------------------------------------------------------------ public */

serve_engine *serve_engine_new(mv_model *model, int n_parallel, int queue_max, mv_error *err) {
    if (n_parallel < 1 || n_parallel > 256 || queue_max < 0) {
        cli_error(err, MV_ERR_ARG, "--parallel must be in [1, 256] and the queue bound >= 0");
        return NULL;
    }
    serve_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->model = model;
    e->n = n_parallel;
    e->q_max = queue_max;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->sessions = calloc((size_t)n_parallel, sizeof *e->sessions);
    e->slots = calloc((size_t)n_parallel, sizeof *e->slots);
    e->queue = calloc((size_t)queue_max + 1, sizeof *e->queue);
    int ok = e->sessions && e->slots && e->queue;
    for (int i = 0; ok && i < n_parallel; i++) ok = mv_session_create(model, &e->sessions[i], err) == MV_OK;
    if (ok && pthread_create(&e->thread, NULL, engine_main, e) == 0) {
        e->started = 1;
        return e;
    }
    if (err && err->message[0] == 0) cli_error(err, MV_ERR_NOMEM, "cannot start the engine");
    serve_engine_free(e);
    return NULL;
}

int serve_engine_submit(serve_engine *e, serve_job *j) {
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    if (e->quit) rc = -2;
    else if (e->q_len >= e->q_max) { rc = -1; e->st.requests_rejected++; }
    else {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        e->queue[e->q_len++] = j;
        e->st.queue_depth = e->q_len;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void serve_engine_shutdown(serve_engine *e, double grace_ms) {
    if (!e || !e->started) return;
    pthread_mutex_lock(&e->mu);
    e->quit = 1;
    e->deadline_ms = now_ms() + grace_ms;
    int n = e->q_len;
    serve_job **waiting = malloc((size_t)(n ? n : 1) * sizeof *waiting);
    if (waiting) memcpy(waiting, e->queue, (size_t)n * sizeof *waiting);
    else n = 0; /* the engine loop drains them instead */
    e->q_len -= n;
    memmove(e->queue, e->queue + n, (size_t)e->q_len * sizeof *e->queue);
    e->st.queue_depth = e->q_len;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    serve_error se;
    serve_fail(&se, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
    for (int i = 0; i < n; i++) job_done(e, waiting[i], NULL, &se);
    free(waiting);
    pthread_join(e->thread, NULL);
    e->started = 0;
}

void serve_engine_free(serve_engine *e) {
    if (!e) return;
    serve_engine_shutdown(e, 0);
    for (int i = 0; e->sessions && i < e->n; i++) mv_session_free(e->sessions[i]);
    free(e->sessions);
    free(e->slots);
    free(e->queue);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

void serve_engine_stats(serve_engine *e, serve_stats *out) {
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    pthread_mutex_unlock(&e->mu);
}

void serve_engine_count(serve_engine *e, int http_status) {
    pthread_mutex_lock(&e->mu);
    if (http_status == 429) e->st.requests_rejected++;
    else if (http_status >= 400) e->st.requests_failed++;
    pthread_mutex_unlock(&e->mu);
}
