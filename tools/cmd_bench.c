/* cmd_bench.c — `minivl bench`: a fixed workload on any checkpoint, through the public API only.
 *
 * Measures (each a median over repetitions, all on one loaded model):
 *  - load_ms: mv_model_load to ready (the model is loaded --reps times, freeing all but the last);
 *  - vision_ms_per_tile: one 448 tile (a synthetic image, or --image with max_tiles 1) through
 *    mv_session_chat with max_new_tokens 0, read from its timings (--vision-reps, default 3: a tile
 *    is the slowest item);
 *  - prefill_tok_s: --prefill (512) fixed pseudo-random token ids in one mv_session_eval;
 *  - decode_tok_s at context 300 and 2000: each context filled with mv_session_eval in a session of
 *    its own, then --decode-tokens greedy steps of one token each, timed per repetition (the context
 *    is truncated back before each repetition); the contexts' repetitions take turns;
 *  - peak_rss_mb (getrusage ru_maxrss, MiB), weights_mb (MiB of tensors), threads, precision, quant,
 *    quant_vision, kv_cache (what --kv-cache auto resolved to).
 * Prints a table, or with --json one object. Speeds are reported, never checked. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "commands.h"
#include "conversation.h"
#include "minivl.h"

#define N_CTX 2
static const int decode_contexts[N_CTX] = { 300, 2000 };

typedef struct bench_opts {
    const char *model_dir;
    const char *image_path;
    mv_model_params mp;     /* the load options (precision, quantization, KV cache) */
    int threads, json, reps, vision_reps, prefill_tokens, decode_tokens;
} bench_opts;

typedef struct bench_result {
    double load_ms, vision_ms_per_tile, prefill_tok_s, decode_tok_s[N_CTX], peak_rss_mb, weights_mb;
    int threads, tiles;
    mv_kv_type kv_cache; /* what auto resolved to */
} bench_result;

static void usage(FILE *f) {
    fprintf(f,
            "usage: minivl bench -m DIR [options]\n"
            "  -m, --model DIR        checkpoint directory\n"
            "  -t, --threads N        worker threads (default: all CPUs)\n"
            "  --json                 print one JSON object instead of a table\n"
            "  --reps N               repetitions for load, prefill and decode (default 5; medians)\n"
            "  --vision-reps N        repetitions of the one-tile vision encode (default 3)\n"
            "  --prefill N            prompt length for the prefill rate (default 512)\n"
            "  --decode-tokens N      decode steps per repetition (default 16)\n"
            "  --image PATH           the image for the vision timing (default: a synthetic 448x448 one)\n");
    cli_model_options_usage(f, 2, 22);
}

/* Returns 1 to run, 0 on a usage error (message printed), -1 after --help. */
static int parse_opts(int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){ .mp = mv_model_default_params(), .reps = 5, .vision_reps = 3, .prefill_tokens = 512, .decode_tokens = 16 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return -1; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!v) { fprintf(stderr, "minivl bench: %s needs a value (or is unknown)\n", a); return 0; }
        const int load_option = cli_model_option(a, v, &o->mp); /* -1: not one */
        if (load_option >= 0) ok = load_option;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_dir = v;
        else if (!strcmp(a, "--image")) o->image_path = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, a, 1, 256, &o->threads);
        else if (!strcmp(a, "--reps")) ok = cli_parse_int(v, a, 1, 1000, &o->reps);
        else if (!strcmp(a, "--vision-reps")) ok = cli_parse_int(v, a, 1, 1000, &o->vision_reps);
        else if (!strcmp(a, "--prefill")) ok = cli_parse_int(v, a, 1, 16384, &o->prefill_tokens);
        else if (!strcmp(a, "--decode-tokens")) ok = cli_parse_int(v, a, 1, 4096, &o->decode_tokens);
        else { fprintf(stderr, "minivl bench: unknown option '%s' (see minivl bench --help)\n", a); return 0; }
        if (!ok) return 0;
        i++;
    }
    if (!o->model_dir) { fprintf(stderr, "minivl bench: -m DIR is required\n"); return 0; }
    return 1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them). */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int fail(const char *what, const mv_error *err) {
    fprintf(stderr, "minivl bench: %s: %s\n", what, err->message);
    return 1;
}

/* Loads the model o->reps times (median load time); keeps the last one. */
static mv_status load_model(const bench_opts *o, const mv_model_params *mp, mv_model **model, double *load_ms,
                            mv_error *err) {
    double *t = calloc((size_t)o->reps, sizeof *t);
    if (!t) return MV_ERR_NOMEM;
    mv_status rc = MV_OK;
    for (int r = 0; r < o->reps && rc == MV_OK; r++) {
        if (*model) { mv_model_free(*model); *model = NULL; }
        double t0 = now_ms();
        rc = mv_model_load(o->model_dir, mp, model, err);
        t[r] = now_ms() - t0;
    }
    if (rc == MV_OK) *load_ms = median(t, o->reps);
    free(t);
    return rc;
}

/* A deterministic, textured 448x448 image: the vision cost does not depend on the content, only
 * on the tile count, and a built-in image keeps the workload fixed for any checkpoint. */
static mv_status synthetic_image(mv_image **img, mv_error *err) {
    enum { S = 448 };
    uint8_t *rgb = malloc((size_t)S * S * 3);
    if (!rgb) return MV_ERR_NOMEM;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = rgb + ((size_t)y * S + (size_t)x) * 3;
            p[0] = (uint8_t)(x * 255 / (S - 1));
            p[1] = (uint8_t)(y * 255 / (S - 1));
            p[2] = (uint8_t)(((x / 32 + y / 32) % 2) * 200 + 20);
        }
    mv_status rc = mv_image_from_rgb(rgb, S, S, img, err);
    free(rgb);
    return rc;
}

/* Median ms per tile of one image encoded with max_tiles 1 (prefill of its short prompt not counted). */
static mv_status bench_vision(const bench_opts *o, mv_session *s, bench_result *res, mv_error *err) {
    mv_image *img = NULL;
    mv_status rc = o->image_path ? mv_image_load_file(o->image_path, 0, &img, err) : synthetic_image(&img, err);
    if (rc != MV_OK) return rc;
    const mv_image *imgs[1] = { img };
    mv_message msg = { MV_ROLE_USER, "Describe the image.", imgs, 1 };
    mv_generate_params gp = mv_generate_default_params();
    gp.max_new_tokens = 0;
    gp.max_tiles = 1;
    double *t = calloc((size_t)o->vision_reps, sizeof *t);
    if (!t) rc = MV_ERR_NOMEM;
    for (int r = 0; r < o->vision_reps && rc == MV_OK; r++) {
        mv_result out;
        mv_session_truncate(s, 0); /* else the cached prefix would skip the image */
        rc = mv_session_chat(s, &msg, 1, &gp, &out, err);
        if (rc != MV_OK) break;
        res->tiles = out.n_images ? out.tiles[0].count : 0;
        t[r] = res->tiles ? out.timings.vision_ms / res->tiles : 0;
        mv_result_free(&out);
    }
    if (rc == MV_OK) res->vision_ms_per_tile = median(t, o->vision_reps);
    free(t);
    mv_image_free(img);
    return rc;
}

/* Fixed pseudo-random ids in [0, vocab): the rates do not depend on which tokens they are. */
static int32_t *workload_ids(int n, int vocab) {
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    uint32_t x = 2463534242u;
    for (int i = 0; ids && i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        ids[i] = (int32_t)(x % (uint32_t)vocab);
    }
    return ids;
}

static int32_t argmax(const float *v, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Brings the session's context to exactly `len` tokens of ids (evaluating what is missing). */
static mv_status fill_context(mv_session *s, const int32_t *ids, int len, float *logits, mv_error *err) {
    int have = mv_session_length(s);
    if (have > len) { mv_session_truncate(s, 0); have = 0; }
    return mv_session_eval(s, ids + have, (size_t)(len - have), logits, err);
}

/* Median over reps of the prefill rate for ids[0, n) evaluated in one call. */
static mv_status bench_prefill(const bench_opts *o, mv_session *s, const int32_t *ids, float *logits,
                               bench_result *res, mv_error *err) {
    double *t = calloc((size_t)o->reps, sizeof *t);
    if (!t) return MV_ERR_NOMEM;
    mv_status rc = MV_OK;
    for (int r = 0; r < o->reps && rc == MV_OK; r++) {
        mv_session_truncate(s, 0);
        double t0 = now_ms();
        rc = mv_session_eval(s, ids, (size_t)o->prefill_tokens, logits, err);
        t[r] = now_ms() - t0;
    }
    if (rc == MV_OK) res->prefill_tok_s = o->prefill_tokens * 1000.0 / median(t, o->reps);
    free(t);
    return rc;
}

/* One timed repetition: decode_tokens greedy one-token steps from `ctx` cached tokens, the first
 * token being `first`; adds the milliseconds to *ms. */
static mv_status decode_rep(const bench_opts *o, mv_session *s, int ctx, int32_t first, float *logits, int vocab,
                            double *ms, mv_error *err) {
    mv_session_truncate(s, ctx);
    int32_t tok = first;
    mv_status rc = MV_OK;
    for (int i = 0; i < o->decode_tokens && rc == MV_OK; i++) {
        double t0 = now_ms();
        rc = mv_session_eval(s, &tok, 1, logits, err);
        *ms += now_ms() - t0;
        tok = argmax(logits, vocab);
    }
    return rc;
}

/* Decode rates at every context, each context in a session of its own, filled once. The repetitions
 * take turns between the contexts (in alternating order), so the @2000 / @300 ratio compares rates
 * measured under the same conditions: on a shared VM whose bandwidth drifts by 15% over a minute, one
 * context measured after the other moved that ratio by as much. The second session's cache adds what
 * the first one's prefill positions touched to the peak RSS (InternVL2-1B: 6 MB F16, 13 MB F32). */
static mv_status bench_decode(const bench_opts *o, mv_model *model, mv_session *first_session, const int32_t *ids,
                              float *logits, int vocab, bench_result *res, mv_error *err) {
    mv_session *s[N_CTX] = { first_session };
    int32_t first[N_CTX] = { 0 };
    double *t = calloc((size_t)N_CTX * (size_t)o->reps, sizeof *t);
    mv_status rc = t ? MV_OK : MV_ERR_NOMEM;
    for (int c = 1; c < N_CTX && rc == MV_OK; c++) rc = mv_session_create(model, &s[c], err);
    for (int c = 0; c < N_CTX && rc == MV_OK; c++) {
        rc = fill_context(s[c], ids, decode_contexts[c], logits, err);
        if (rc == MV_OK) first[c] = argmax(logits, vocab);
    }
    for (int r = 0; r < o->reps && rc == MV_OK; r++)
        for (int i = 0; i < N_CTX && rc == MV_OK; i++) {
            const int c = r % 2 ? N_CTX - 1 - i : i;
            rc = decode_rep(o, s[c], decode_contexts[c], first[c], logits, vocab, &t[(size_t)c * o->reps + r], err);
        }
    for (int c = 0; c < N_CTX && rc == MV_OK; c++)
        res->decode_tok_s[c] = o->decode_tokens * 1000.0 / median(t + (size_t)c * o->reps, o->reps);
    for (int c = 1; c < N_CTX; c++) mv_session_free(s[c]);
    free(t);
    return rc;
}

static mv_status bench_text(const bench_opts *o, mv_model *model, mv_session *s, int vocab, bench_result *res,
                            mv_error *err) {
    int longest = o->prefill_tokens;
    for (int c = 0; c < N_CTX; c++) longest = decode_contexts[c] > longest ? decode_contexts[c] : longest;
    int32_t *ids = workload_ids(longest, vocab);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    mv_status rc = ids && logits ? MV_OK : MV_ERR_NOMEM;
    if (rc == MV_OK) rc = bench_prefill(o, s, ids, logits, res, err);
    if (rc == MV_OK) rc = bench_decode(o, model, s, ids, logits, vocab, res, err);
    free(logits);
    free(ids);
    return rc;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static void print_json(const bench_opts *o, const bench_result *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "vision_ms_per_tile", r->vision_ms_per_tile);
    cJSON_AddNumberToObject(j, "prefill_tok_s", r->prefill_tok_s);
    cJSON *d = cJSON_AddObjectToObject(j, "decode_tok_s");
    for (int c = 0; c < N_CTX; c++) {
        char key[16];
        snprintf(key, sizeof key, "%d", decode_contexts[c]);
        cJSON_AddNumberToObject(d, key, r->decode_tok_s[c]);
    }
    cJSON_AddNumberToObject(j, "load_ms", r->load_ms);
    cJSON_AddNumberToObject(j, "peak_rss_mb", r->peak_rss_mb);
    cJSON_AddNumberToObject(j, "weights_mb", r->weights_mb);
    cJSON_AddNumberToObject(j, "threads", r->threads);
    cJSON_AddStringToObject(j, "precision", cli_precision_name(o->mp.precision));
    cJSON_AddStringToObject(j, "quant", cli_quant_name(o->mp.quantize));
    cJSON_AddStringToObject(j, "quant_vision", cli_quant_name(o->mp.quantize_vision));
    cJSON_AddStringToObject(j, "kv_cache", cli_kv_cache_name(r->kv_cache));
    cJSON_AddNumberToObject(j, "prefill_tokens", o->prefill_tokens);
    cJSON_AddNumberToObject(j, "decode_steps", o->decode_tokens);
    cJSON_AddNumberToObject(j, "reps", o->reps);
    cJSON_AddNumberToObject(j, "vision_reps", o->vision_reps);
    char *s = cJSON_PrintUnformatted(j);
    if (s) puts(s);
    free(s);
    cJSON_Delete(j);
}

static void print_table(const bench_opts *o, const bench_result *r) {
    printf("minivl bench: %s (threads %d, precision %s, quant %s, vision quant %s, kv cache %s)\n", o->model_dir,
           r->threads, cli_precision_name(o->mp.precision), cli_quant_name(o->mp.quantize),
           cli_quant_name(o->mp.quantize_vision), cli_kv_cache_name(r->kv_cache));
    printf("  %-34s %10.1f ms   (median of %d)\n", "load to ready", r->load_ms, o->reps);
    printf("  %-34s %10.1f ms   (median of %d)\n", "vision, per 448 tile", r->vision_ms_per_tile, o->vision_reps);
    char label[64];
    snprintf(label, sizeof label, "prefill, %d tokens", o->prefill_tokens);
    printf("  %-34s %10.1f tok/s (median of %d)\n", label, r->prefill_tok_s, o->reps);
    for (int c = 0; c < N_CTX; c++) {
        snprintf(label, sizeof label, "decode at context %d", decode_contexts[c]);
        printf("  %-34s %10.2f tok/s (median of %d x %d steps)\n", label, r->decode_tok_s[c], o->reps, o->decode_tokens);
    }
    printf("  %-34s %10.1f MiB\n", "peak RSS", r->peak_rss_mb);
    printf("  %-34s %10.1f MiB\n", "weights", r->weights_mb);
}

int mv_cmd_bench(int argc, char **argv) {
    bench_opts o;
    int p = parse_opts(argc, argv, &o);
    if (p <= 0) return p < 0 ? 0 : 2;
    mv_model_params mp = o.mp;
    mp.n_threads = o.threads;
    mp.max_tiles = 1;
    /* room for the longest context plus its decode steps; a small cache keeps the RSS honest */
    mp.context_length = (decode_contexts[N_CTX - 1] > o.prefill_tokens ? decode_contexts[N_CTX - 1] : o.prefill_tokens)
                        + o.decode_tokens + 1;
    mv_error err = { 0 };
    bench_result res = { 0 };
    mv_model *model = NULL;
    mv_session *s = NULL;
    mv_status rc = load_model(&o, &mp, &model, &res.load_ms, &err);
    if (rc != MV_OK) return fail("load", &err);
    mv_model_info info;
    mv_model_get_info(model, &info);
    res.threads = info.n_threads;
    res.kv_cache = info.kv_cache;
    res.weights_mb = (double)info.weights_bytes / (1024.0 * 1024.0);
    if ((rc = mv_session_create(model, &s, &err)) != MV_OK) { mv_model_free(model); return fail("session", &err); }
    const char *stage = "vision";
    rc = bench_vision(&o, s, &res, &err);
    if (rc == MV_OK) { stage = "text"; rc = bench_text(&o, model, s, info.vocab_size, &res, &err); }
    res.peak_rss_mb = peak_rss_mib();
    mv_session_free(s);
    mv_model_free(model);
    if (rc != MV_OK) {
        if (!err.message[0]) snprintf(err.message, sizeof err.message, "%s", mv_status_name(rc));
        return fail(stage, &err);
    }
    if (o.json) print_json(&o, &res);
    else print_table(&o, &res);
    return 0;
}
