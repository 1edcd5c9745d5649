/* cmd_run.c — `minivl run` (one answer, streamed) and `minivl chat` (an interactive REPL). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "conversation.h"
#include "minivl.h"

typedef struct run_opts {
    const char *model_dir;
    const char *prompt;
    const char *messages_file;
    const char *dump_path;
    const char *system;
    const char *images[64];
    int n_images;
    int json;
    mv_model_params mp;
    mv_generate_params gp;
} run_opts;

static void usage_run(FILE *f) {
    fprintf(f,
            "usage: minivl run -m DIR [-i IMAGE]... -p PROMPT [options]\n"
            "       minivl run -m DIR --messages FILE [options]\n"
            "       minivl chat -m DIR [options]\n"
            "options:\n"
            "  -m, --model DIR        Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer)\n"
            "  -i, --image PATH       an image (PNG or JPEG); repeat for several\n"
            "  -p, --prompt TEXT      the question; <image> places images explicitly\n"
            "  --messages FILE        a JSON array of OpenAI-style chat messages ('-' = stdin)\n"
            "  --system TEXT          replace the template's system message\n"
            "  -n, --max-tokens N     new tokens to generate (default 512; 0 = prefill only)\n"
            "  -t, --threads N        worker threads (default: all CPUs)\n"
            "  --temp T  --top-k K  --top-p P  --repeat-penalty R  --seed S   sampling (default greedy)\n"
            "  --max-tiles N          tile budget per image (default: config max_dynamic_patch)\n"
            "  --ctx N                context length (default: min(config, 32768))\n"
            "  --ignore-eos           keep generating past the end-of-turn token\n"
            "  --json                 print one JSON object (ids, text, tiles, timings) instead of streaming\n"
            "  --dump-tensors FILE    write pixel_values, vit_embeds, logits_last (F32 safetensors)\n");
    cli_model_options_usage(f, 2, 22);
}

static int parse_float(const char *s, const char *opt, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || end == s || !(v >= lo && v <= hi)) {
        fprintf(stderr, "minivl: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

/* Returns 1 on success, 0 on a usage error (message printed). */
static int parse_run_opts(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->mp = mv_model_default_params();
    o->gp = mv_generate_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1, ok = 1, seed, load_option; /* load_option: -1 when a is not one */
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage_run(stdout); exit(0); }
        else if (!strcmp(a, "--json")) { o->json = 1; takes = 0; }
        else if (!strcmp(a, "--ignore-eos")) { o->gp.stop_at_eos = 0; takes = 0; }
        else if (!v) { fprintf(stderr, "minivl: %s needs a value (or is unknown)\n", a); return 0; }
        else if ((load_option = cli_model_option(a, v, &o->mp)) >= 0) ok = load_option;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_dir = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--messages")) o->messages_file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--dump-tensors")) o->gp.dump_tensors_path = v;
        else if (!strcmp(a, "-i") || !strcmp(a, "--image")) {
            if (o->n_images == 64) { fprintf(stderr, "minivl: at most 64 images\n"); return 0; }
            o->images[o->n_images++] = v;
        }
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) ok = cli_parse_int(v, a, 0, 1 << 20, &o->gp.max_new_tokens);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_int(v, a, 1, 256, &o->mp.n_threads);
        else if (!strcmp(a, "--max-tiles")) { ok = cli_parse_int(v, a, 1, 64, &o->gp.max_tiles); o->mp.max_tiles = o->gp.max_tiles; }
        else if (!strcmp(a, "--ctx")) ok = cli_parse_int(v, a, 16, 1 << 20, &o->mp.context_length);
        else if (!strcmp(a, "--temp")) ok = parse_float(v, a, 0, 100, &o->gp.sampling.temperature);
        else if (!strcmp(a, "--top-k")) ok = cli_parse_int(v, a, 0, 1 << 24, &o->gp.sampling.top_k);
        else if (!strcmp(a, "--top-p")) ok = parse_float(v, a, 0, 1, &o->gp.sampling.top_p);
        else if (!strcmp(a, "--repeat-penalty")) ok = parse_float(v, a, 0.01f, 100, &o->gp.sampling.repeat_penalty);
        else if (!strcmp(a, "--seed")) { ok = cli_parse_int(v, a, 0, 2147483647, &seed); o->gp.sampling.seed = (uint64_t)seed; }
        else { fprintf(stderr, "minivl: unknown option '%s' (see minivl run --help)\n", a); return 0; }
        if (!ok) return 0;
        i += takes;
    }
    /* A sampling option without --temp means the user wants sampling at the usual temperature. */
    if (o->gp.sampling.temperature == 0 && (o->gp.sampling.top_k || o->gp.sampling.top_p < 1)) o->gp.sampling.temperature = 1.0f;
    if (!o->model_dir) { fprintf(stderr, "minivl: -m DIR is required\n"); return 0; }
    return 1;
}

static int on_piece(void *user, const char *piece, size_t len, int32_t token) {
    (void)user;
    (void)token;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int fail(const char *what, const mv_error *err) {
    fprintf(stderr, "minivl: %s: %s\n", what, err->message);
    return 1;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *g = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!g) { free(buf); buf = NULL; break; }
            buf = g;
            cap *= 2;
        }
    }
    if (f != stdin) fclose(f);
    if (buf) { buf[n] = 0; *len = n; }
    return buf;
}

static mv_status build_conversation(const run_opts *o, conversation *c, mv_error *err) {
    image_policy pol = { o->mp.max_pixels, 1, NULL };
    if (o->system) {
        mv_status rc = conversation_add(c, MV_ROLE_SYSTEM, o->system, NULL, 0, err);
        if (rc != MV_OK) return rc;
    }
    if (o->messages_file) {
        if (o->prompt || o->n_images) return cli_error(err, MV_ERR_ARG, "--messages replaces -i/-p; give one or the other");
        size_t len;
        char *json = read_all(o->messages_file, &len);
        if (!json) return cli_error(err, MV_ERR_IO, "%s: cannot read: %s", o->messages_file, strerror(errno));
        mv_status rc = conversation_from_json(c, json, len, &pol, err);
        free(json);
        return rc;
    }
    if (!o->prompt) return cli_error(err, MV_ERR_ARG, "give a prompt with -p (or a conversation with --messages)");
    mv_image *imgs[64];
    for (int i = 0; i < o->n_images; i++) {
        mv_status rc = conversation_load_image(o->images[i], &pol, &imgs[i], err);
        if (rc != MV_OK) {
            for (int j = 0; j < i; j++) mv_image_free(imgs[j]);
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%s", err->message);
            return cli_error(err, rc, "%s", msg);
        }
    }
    return conversation_add(c, MV_ROLE_USER, o->prompt, imgs, o->n_images, err);
}

static const char *finish_name(mv_finish f) {
    return f == MV_FINISH_STOP ? "stop" : f == MV_FINISH_LENGTH ? "length" : "cancelled";
}

static cJSON *ids_json(const int32_t *ids, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

static double rate(int tokens, double ms) { return ms > 0 ? tokens * 1000.0 / ms : 0; }

static void print_json(const mv_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "input_ids", ids_json(r->input_ids, r->n_input_ids));
    cJSON_AddItemToObject(o, "output_ids", ids_json(r->output_ids, r->n_output_ids));
    cJSON_AddStringToObject(o, "text", r->text);
    cJSON_AddStringToObject(o, "finish_reason", finish_name(r->finish));
    cJSON *tiles = cJSON_AddArrayToObject(o, "tiles");
    for (int i = 0; i < r->n_images; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "cols", r->tiles[i].cols);
        cJSON_AddNumberToObject(t, "rows", r->tiles[i].rows);
        cJSON_AddNumberToObject(t, "count", r->tiles[i].count);
        cJSON_AddItemToArray(tiles, t);
    }
    cJSON_AddNumberToObject(o, "image_tokens", r->n_image_tokens);
    const mv_timings *tm = &r->timings;
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "load_ms", tm->load_ms);
    cJSON_AddNumberToObject(t, "preprocess_ms", tm->preprocess_ms);
    cJSON_AddNumberToObject(t, "vision_ms", tm->vision_ms);
    cJSON_AddNumberToObject(t, "prefill_ms", tm->prefill_ms);
    cJSON_AddNumberToObject(t, "prefill_tokens", tm->prefill_tokens);
    cJSON_AddNumberToObject(t, "prefill_tok_s", rate(tm->prefill_tokens, tm->prefill_ms));
    cJSON_AddNumberToObject(t, "decode_ms", tm->decode_ms);
    cJSON_AddNumberToObject(t, "decode_tokens", tm->decode_tokens);
    cJSON_AddNumberToObject(t, "decode_tok_s", rate(tm->decode_tokens, tm->decode_ms));
    char *s = cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

static void print_timings(const mv_result *r) {
    const mv_timings *t = &r->timings;
    fprintf(stderr, "\n[load %.0f ms | preprocess %.0f ms | vision %.0f ms (%d tiles) | prefill %d tok %.0f ms (%.1f tok/s) | decode %d tok (%.1f tok/s) | %s]\n",
            t->load_ms, t->preprocess_ms, t->vision_ms, r->n_image_tokens / 256, t->prefill_tokens, t->prefill_ms,
            rate(t->prefill_tokens, t->prefill_ms), t->decode_tokens, rate(t->decode_tokens, t->decode_ms), finish_name(r->finish));
}

static int load_model(const run_opts *o, mv_model **model, mv_error *err) {
    if (mv_model_load(o->model_dir, &o->mp, model, err) != MV_OK) return fail("cannot load the model", err);
    return 0;
}

int mv_cmd_run(int argc, char **argv) {
    run_opts o;
    if (!parse_run_opts(argc, argv, &o)) return 2;
    mv_error err = { 0 };
    conversation conv = { 0 };
    if (build_conversation(&o, &conv, &err) != MV_OK) {
        conversation_clear(&conv);
        return fail("bad input", &err);
    }
    mv_model *model = NULL;
    mv_session *s = NULL;
    mv_result r = { 0 };
    int status = load_model(&o, &model, &err);
    if (!status && mv_session_create(model, &s, &err) != MV_OK) status = fail("cannot create a session", &err);
    if (!status) {
        if (!o.json) o.gp.on_token = on_piece;
        if (mv_session_chat(s, conv.msgs, conv.n_msgs, &o.gp, &r, &err) != MV_OK) status = fail("generation failed", &err);
        else if (o.json) print_json(&r);
        else { fputc('\n', stdout); print_timings(&r); }
    }
    mv_result_free(&r);
    mv_session_free(s);
    mv_model_free(model);
    conversation_clear(&conv);
    return status;
}

/* ------------------------------------------------------------------ chat REPL */

static int repl_command(char *line, conversation *conv, mv_image **pending, int *n_pending, const run_opts *o) {
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return -1;
    if (!strcmp(line, "/reset")) {
        conversation_clear(conv);
        for (int i = 0; i < *n_pending; i++) mv_image_free(pending[i]);
        *n_pending = 0;
        if (o->system) {
            mv_error e;
            conversation_add(conv, MV_ROLE_SYSTEM, o->system, NULL, 0, &e);
        }
        fprintf(stderr, "(conversation cleared)\n");
        return 1;
    }
    if (!strncmp(line, "/image ", 7)) {
        image_policy pol = { o->mp.max_pixels, 1, NULL };
        mv_error e = { 0 };
        if (*n_pending == 16) fprintf(stderr, "at most 16 images per message\n");
        else if (conversation_load_image(line + 7, &pol, &pending[*n_pending], &e) != MV_OK) fprintf(stderr, "cannot load image: %s\n", e.message);
        else {
            const mv_image *img = pending[(*n_pending)++];
            fprintf(stderr, "(image %d added: %dx%d)\n", *n_pending, mv_image_width(img), mv_image_height(img));
        }
        return 1;
    }
    if (line[0] == '/') {
        fprintf(stderr, "commands: /image PATH, /reset, /quit\n");
        return 1;
    }
    return 0;
}

int mv_cmd_chat(int argc, char **argv) {
    run_opts o;
    if (!parse_run_opts(argc, argv, &o)) return 2;
    mv_error err = { 0 };
    mv_model *model = NULL;
    mv_session *s = NULL;
    if (load_model(&o, &model, &err)) return 1;
    if (mv_session_create(model, &s, &err) != MV_OK) { mv_model_free(model); return fail("cannot create a session", &err); }
    conversation conv = { 0 };
    if (o.system) conversation_add(&conv, MV_ROLE_SYSTEM, o.system, NULL, 0, &err);
    mv_image *pending[16];
    int n_pending = 0, tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    if (tty) fprintf(stderr, "minivl chat — /image PATH adds an image, /reset clears, /quit exits\n");
    for (;;) {
        if (tty) { fputs("> ", stdout); fflush(stdout); }
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) continue;
        int cmd = repl_command(line, &conv, pending, &n_pending, &o);
        if (cmd < 0) break;
        if (cmd > 0) continue;
        if (conversation_add(&conv, MV_ROLE_USER, line, pending, n_pending, &err) != MV_OK) { fail("chat", &err); break; }
        n_pending = 0;
        o.gp.on_token = on_piece;
        mv_result r = { 0 };
        if (mv_session_chat(s, conv.msgs, conv.n_msgs, &o.gp, &r, &err) != MV_OK) {
            fprintf(stderr, "error: %s\n", err.message);
            conversation_pop(&conv); /* drop the failed turn so the conversation stays usable */
        } else {
            fputc('\n', stdout);
            conversation_add(&conv, MV_ROLE_ASSISTANT, r.text, NULL, 0, &err);
        }
        mv_result_free(&r);
    }
    free(line);
    for (int i = 0; i < n_pending; i++) mv_image_free(pending[i]);
    conversation_clear(&conv);
    mv_session_free(s);
    mv_model_free(model);
    return 0;
}
