/* cmd_serve.c — `minivl serve`: an OpenAI-compatible HTTP server (POST /v1/chat/completions,
 * GET /v1/models, /health, /metrics) over one model and --parallel sessions.
 *
 * Start-up order: listen first (so /health can say "loading"), load the model, start the engine.
 * SIGINT/SIGTERM are taken by sigwait in this thread: stop accepting, let in-flight requests finish
 * (cancelling any still running after --shutdown-grace seconds), stop, exit 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "conversation.h"
#include "serve_engine.h"
#include "serve_http.h"

enum { DRAIN_WAIT_MS = 3000 };

typedef struct serve_opts {
    const char *model_dir, *host, *api_key, *local_root;
    int port, threads, parallel, queue, max_tiles, max_body_mb, ctx, max_mpixels, grace_s;
    mv_model_params mp; /* the load options (precision, quantization, KV cache) */
} serve_opts;

static void usage_serve(FILE *f) {
    fprintf(f,
            "usage: minivl serve -m DIR [options]\n"
            "OpenAI-compatible server: POST /v1/chat/completions, GET /v1/models, GET /health, GET /metrics\n"
            "options:\n"
            "  -m, --model DIR            Hugging Face checkpoint directory; its name is the model id\n"
            "  --host HOST                address to listen on (default 127.0.0.1)\n"
            "  --port N                   port (default 8080; 0 = any free port, printed at start)\n"
            "  -t, --threads N            worker threads (default: all CPUs)\n"
            "  --parallel N               sessions generating at once, decoded as one batch (default 1)\n"
            "  --queue N                  requests that may wait for a session; beyond, 429 (default 64)\n"
            "  --max-tiles N              default tile budget per image (default: config max_dynamic_patch)\n"
            "  --max-body-mb N            request body limit in MB (default 32; beyond, 413)\n"
            "  --max-megapixels N         image decode limit (default 64)\n"
            "  --ctx N                    context length per session (default: min(config, 32768))\n"
            "  --api-key KEY              require 'Authorization: Bearer KEY' on /v1/*\n"
            "  --allow-local-files DIR    accept file:// URLs and paths under DIR (default: data: URLs only)\n"
            "  --shutdown-grace S         on SIGINT/SIGTERM, let running generations finish for S seconds,\n"
            "                             then cancel them (default 10)\n");
    cli_model_options_usage(f, 2, 26);
}

/* 1 on success, 0 on a usage error (message printed). */
static int parse_serve_opts(int argc, char **argv, serve_opts *o) {
    *o = (serve_opts){ .host = "127.0.0.1", .port = 8080, .parallel = 1, .queue = 64, .max_body_mb = 32, .max_mpixels = 64, .grace_s = 10,
                       .mp = mv_model_default_params() };
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_serve(stdout); exit(0); }
        if (!v) { fprintf(stderr, "minivl: %s needs a value (or is unknown)\n", a); return 0; }
        const int load_option = cli_model_option(a, v, &o->mp); /* -1: not one */
        if (load_option >= 0) ok = load_option;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_dir = v;
        else if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(a, "--allow-local-files")) o->local_root = v;
        else if (!strcmp(a, "--port")) ok = cli_parse_int(v, a, 0, 65535, &o->port);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, a, 1, 256, &o->threads);
        else if (!strcmp(a, "--parallel")) ok = cli_parse_int(v, a, 1, 256, &o->parallel);
        else if (!strcmp(a, "--queue")) ok = cli_parse_int(v, a, 0, 100000, &o->queue);
        else if (!strcmp(a, "--max-tiles")) ok = cli_parse_int(v, a, 1, 64, &o->max_tiles);
        else if (!strcmp(a, "--max-body-mb")) ok = cli_parse_int(v, a, 1, 4096, &o->max_body_mb);
        else if (!strcmp(a, "--max-megapixels")) ok = cli_parse_int(v, a, 1, 1024, &o->max_mpixels);
        else if (!strcmp(a, "--ctx")) ok = cli_parse_int(v, a, 16, 1 << 20, &o->ctx);
        else if (!strcmp(a, "--shutdown-grace")) ok = cli_parse_int(v, a, 0, 86400, &o->grace_s);
        else { fprintf(stderr, "minivl: unknown option '%s' (see minivl serve --help)\n", a); return 0; }
        if (!ok) return 0;
    }
    if (!o->model_dir) { fprintf(stderr, "minivl: -m DIR is required\n"); return 0; }
    return 1;
}

/* The model id clients name: the directory's last component. */
static void model_id(const char *dir, char *out, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && dir[start - 1] != '/') start--;
    snprintf(out, cap, "%.*s", (int)(n - start), dir + start);
}

static int load(const serve_opts *o, serve_ctx *ctx, mv_model **model, serve_engine **eng) {
    mv_model_params mp = o->mp;
    mp.n_threads = o->threads;
    mp.context_length = o->ctx;
    mp.max_pixels = (size_t)o->max_mpixels << 20;
    mv_error err = { 0 };
    if (mv_model_load(o->model_dir, &mp, model, &err) != MV_OK) {
        fprintf(stderr, "minivl: cannot load the model: %s\n", err.message);
        return 0;
    }
    mv_model_info info;
    mv_model_get_info(*model, &info);
    ctx->lim.max_pixels = mp.max_pixels;
    ctx->lim.config_tiles = info.max_tiles;
    ctx->lim.default_tiles = o->max_tiles ? o->max_tiles : info.max_tiles;
    if (!(*eng = serve_engine_new(*model, o->parallel, o->queue, &err))) {
        fprintf(stderr, "minivl: cannot start %d sessions: %s\n", o->parallel, err.message);
        return 0;
    }
    return 1;
}

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Let responses whose generation has ended reach their clients before the daemon closes sockets. */
static void drain(serve_ctx *ctx) {
    for (int waited = 0; atomic_load(&ctx->in_flight) > 0 && waited < DRAIN_WAIT_MS; waited += 20) sleep_ms(20);
}

int mv_cmd_serve(int argc, char **argv) {
    serve_opts o;
    if (!parse_serve_opts(argc, argv, &o)) return 2;
    char id[256];
    model_id(o.model_dir, id, sizeof id);
    serve_ctx ctx = { .lim = { .model_id = id, .local_root = o.local_root }, .api_key = o.api_key,
                      .max_body = (size_t)o.max_body_mb << 20, .started = (long)time(NULL) };
    /* Every thread started from here on inherits the mask, so only sigwait below sees the signals. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    char msg[512];
    int port = 0;
    struct MHD_Daemon *d = serve_http_start(&ctx, o.host, o.port, &port, msg, sizeof msg);
    if (!d) { fprintf(stderr, "minivl: %s\n", msg); return 1; }
    mv_model *model = NULL;
    serve_engine *eng = NULL;
    int status = 0;
    if (load(&o, &ctx, &model, &eng)) {
        atomic_store(&ctx.engine, eng);
        atomic_store(&ctx.ready, 1);
        mv_model_info info;
        mv_model_get_info(model, &info);
        fprintf(stderr, "minivl: serving %s on http://%s:%d (%d session%s, queue %d; precision %s, quantize %s, "
                "quantize-vision %s, kv cache %s)\n", id, o.host, port, o.parallel, o.parallel > 1 ? "s" : "", o.queue,
                cli_precision_name(info.precision), cli_quant_name(o.mp.quantize), cli_quant_name(o.mp.quantize_vision),
                cli_kv_cache_name(info.kv_cache));
        int sig = 0;
        sigwait(&sigs, &sig);
        fprintf(stderr, "minivl: %s: finishing in-flight requests\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
        status = 1;
    }
    int fd = serve_http_quiesce(d);
    atomic_store(&ctx.ready, 0);
    serve_engine_shutdown(eng, o.grace_s * 1000.0);
    drain(&ctx);
    serve_http_stop(d, fd);
    serve_engine_free(eng);
    mv_model_free(model);
    if (!status) fprintf(stderr, "minivl: stopped\n");
    return status;
}
