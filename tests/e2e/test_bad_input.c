/* Bad input through the `minivl` command: every case must exit non-zero with a message naming the
 * problem, never crash (sanitizer builds run this too). Model directories are assembled from the
 * tiny-qwen2 golden checkpoint and then damaged one way each. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "testutil.h"

static char root[1024];

static char *slurp_or_die(const char *path, size_t *len) {
    mv_error err;
    char *p = mv_read_file(path, (size_t)1 << 30, len, &err);
    if (!p) { fprintf(stderr, "%s\n", err.message); exit(1); }
    return p;
}

/* A model dir `name` with links to the tiny checkpoint and the Qwen2 tokenizer; files named in `skip`
 * are left out so the caller can write damaged versions. */
static const char *make_dir(const char *name, const char *skip) {
    static char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    mkdir(dir, 0755);
    const char *files[][2] = { { "golden/tiny-qwen2", "config.json" }, { "golden/tiny-qwen2", "model.safetensors" },
                               { "tokenizers/qwen2-internvl2-1b", "tokenizer.json" },
                               { "tokenizers/qwen2-internvl2-1b", "tokenizer_config.json" } };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (skip && strstr(skip, files[i][1])) continue;
        char src[1200], dst[1300];
        snprintf(src, sizeof src, "%s/%s", files[i][0], files[i][1]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i][1]);
        unlink(dst);
        if (symlink(mvt_shared(src), dst) != 0) perror(dst);
    }
    return dir;
}

static void write_in(const char *dir, const char *file, const void *data, size_t n) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    unlink(path);
    CHECK(mvt_write_file(path, data, n) == 0, "write %s", path);
}

/* Run minivl with args; expect failure (exit 1 or 2) and `want` in its output. */
static void expect_error(const char *what, const char *args, const char *want) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/minivl' %s 2>&1", MV_BUILD_DIR, args);
    char *out = NULL;
    int status = mvt_run(cmd, &out);
    CHECK(status == 1 || status == 2, "%s: exit status %d (want 1 or 2; >2 means a crash)\n%s", what, status, out ? out : "");
    CHECK(out && strstr(out, want), "%s: output lacks \"%s\":\n%s", what, want, out ? out : "");
    if (status == 1 || status == 2) printf("ok  %-36s %s", what, out ? out : "\n");
    free(out);
}

static void run_model(const char *what, const char *dir, const char *want) {
    char args[2048];
    snprintf(args, sizeof args, "run -m '%s' -p hi -n 1", dir);
    expect_error(what, args, want);
}

/* Rewrite the safetensors header of the tiny checkpoint through `edit`, keeping the data. */
static void damaged_checkpoint(const char *name, void (*edit)(cJSON *header), const char *want) {
    size_t len;
    char *bytes = slurp_or_die(mvt_shared("golden/tiny-qwen2/model.safetensors"), &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)bytes[i];
    cJSON *h = cJSON_ParseWithLength(bytes + 8, (size_t)hlen);
    edit(h);
    char *json = cJSON_PrintUnformatted(h);
    size_t jl = strlen(json), padded = (jl + 7) & ~(size_t)7, data = len - 8 - (size_t)hlen;
    char *out = malloc(8 + padded + data);
    for (int i = 0; i < 8; i++) out[i] = (char)((uint64_t)padded >> (8 * i));
    memcpy(out + 8, json, jl);
    memset(out + 8 + jl, ' ', padded - jl);
    memcpy(out + 8 + padded, bytes + 8 + hlen, data);
    const char *dir = make_dir(name, "model.safetensors");
    write_in(dir, "model.safetensors", out, 8 + padded + data);
    run_model(name, dir, want);
    free(out);
    free(json);
    cJSON_Delete(h);
    free(bytes);
}

static cJSON *entry(cJSON *h, const char *name) { return cJSON_GetObjectItem(h, name); }
static void set_offsets(cJSON *e, double b, double en) {
    cJSON *o = cJSON_GetObjectItem(e, "data_offsets");
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 0), b);
    cJSON_SetNumberValue(cJSON_GetArrayItem(o, 1), en);
}
#define NORM0 "language_model.model.layers.0.input_layernorm.weight"
#define NORM1 "language_model.model.layers.0.post_attention_layernorm.weight"

static void edit_out_of_range(cJSON *h) { set_offsets(entry(h, NORM0), 1e9, 1e9 + 128); }
static void edit_overlap(cJSON *h) {
    cJSON *o = cJSON_GetObjectItem(entry(h, NORM0), "data_offsets");
    set_offsets(entry(h, NORM1), cJSON_GetArrayItem(o, 0)->valuedouble, cJSON_GetArrayItem(o, 1)->valuedouble);
}
static void edit_dtype(cJSON *h) {
    cJSON_ReplaceItemInObject(entry(h, NORM0), "dtype", cJSON_CreateString("I32"));
    cJSON_ReplaceItemInObject(entry(h, NORM0), "shape", cJSON_Parse("[32]"));
}
static void edit_shape(cJSON *h) { cJSON_ReplaceItemInObject(entry(h, NORM0), "shape", cJSON_Parse("[32,2]")); }
static void edit_missing(cJSON *h) { cJSON_DeleteItemFromObject(h, NORM0); }

int main(void) {
    snprintf(root, sizeof root, "%s/bad-input", MV_BUILD_DIR);
    mkdir(root, 0755);
    char good[1200]; /* make_dir returns a buffer that the next call overwrites */
    snprintf(good, sizeof good, "%s", make_dir("good", NULL));
    char args[4096];

    run_model("missing model directory", "/nonexistent/model", "config.json");
    const char *d = make_dir("no-weights", "model.safetensors");
    run_model("missing model.safetensors", d, "model.safetensors");

    size_t len;
    char *model = slurp_or_die(mvt_shared("golden/tiny-qwen2/model.safetensors"), &len);
    d = make_dir("truncated", "model.safetensors");
    write_in(d, "model.safetensors", model, len / 2);
    run_model("truncated safetensors", d, "past the end");
    d = make_dir("short-header", "model.safetensors");
    write_in(d, "model.safetensors", model, 4);
    run_model("safetensors shorter than its header", d, "truncated");
    char huge[16] = { (char)0xff, (char)0xff, (char)0xff, (char)0xff, 0, 0, 0, 0, '{', '}' };
    d = make_dir("huge-header", "model.safetensors");
    write_in(d, "model.safetensors", huge, sizeof huge);
    run_model("header length past end of file", d, "header length");
    d = make_dir("bad-header-json", "model.safetensors");
    char badjson[24] = { 16, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '"', ':', '[', '[', '[', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ' };
    write_in(d, "model.safetensors", badjson, sizeof badjson);
    run_model("header not JSON", d, "not a JSON object");
    free(model);

    damaged_checkpoint("offsets-out-of-range", edit_out_of_range, "past the end");
    damaged_checkpoint("offsets-overlap", edit_overlap, "overlap");
    damaged_checkpoint("wrong-dtype", edit_dtype, "dtype I32");
    damaged_checkpoint("wrong-shape", edit_shape, "config implies");
    damaged_checkpoint("missing-tensor", edit_missing, "is missing");

    d = make_dir("config-not-json", "config.json");
    write_in(d, "config.json", "{\"llm_config\": [1, 2", 20);
    run_model("config.json not JSON", d, "not valid JSON");
    char *cfg = slurp_or_die(mvt_shared("golden/tiny-qwen2/config.json"), &len);
    cJSON *cj = cJSON_Parse(cfg);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cj, "llm_config"), "num_hidden_layers");
    char *cfg2 = cJSON_Print(cj);
    d = make_dir("config-missing-field", "config.json");
    write_in(d, "config.json", cfg2, strlen(cfg2));
    run_model("config.json lacks a field", d, "llm_config.num_hidden_layers");
    free(cfg2);
    cJSON_Delete(cj);
    free(cfg);

    cj = cJSON_Parse(cfg = slurp_or_die(mvt_shared("golden/tiny-qwen2/config.json"), &len));
    cJSON_ReplaceItemInObject(cj, "template", cJSON_CreateString("vicuna_v1.1"));
    cfg2 = cJSON_Print(cj);
    d = make_dir("config-unknown-template", "config.json");
    write_in(d, "config.json", cfg2, strlen(cfg2));
    run_model("unknown template", d, "supported: Hermes-2");
    free(cfg2);
    cJSON_ReplaceItemInObject(cj, "template", cJSON_CreateString("Hermes-2"));
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(cJSON_GetObjectItem(cj, "llm_config"), "architectures"), 0,
                             cJSON_CreateString("MistralForCausalLM"));
    cfg2 = cJSON_Print(cj);
    d = make_dir("config-unknown-arch", "config.json");
    write_in(d, "config.json", cfg2, strlen(cfg2));
    run_model("unknown architecture", d, "Qwen2ForCausalLM");
    free(cfg2);
    cJSON_Delete(cj);
    free(cfg);

    d = make_dir("tokenizer-broken", "tokenizer.json");
    write_in(d, "tokenizer.json", "{\"model\": {\"vocab\": ", 20);
    run_model("tokenizer.json does not parse", d, "tokenizer.json");

    /* images */
    char *png = slurp_or_die(mvt_shared("golden/images/chelsea.png"), &len);
    char img_path[1400], txt_path[1400], big_path[1400];
    snprintf(img_path, sizeof img_path, "%s/truncated.png", root);
    CHECK(mvt_write_file(img_path, png, len / 3) == 0, "write");
    snprintf(args, sizeof args, "run -m '%s' -i '%s' -p hi -n 1", good, img_path);
    expect_error("truncated PNG", args, "truncated.png");
    snprintf(txt_path, sizeof txt_path, "%s/not-an-image.png", root);
    CHECK(mvt_write_file(txt_path, "hello, I am text\n", 17) == 0, "write");
    snprintf(args, sizeof args, "run -m '%s' -i '%s' -p hi -n 1", good, txt_path);
    expect_error("not an image", args, "not-an-image.png");
    /* A PNG whose header claims 10000 x 10000 (100 Mpx > the 64 Mpx default limit). */
    memcpy(png + 16, "\x00\x00\x27\x10\x00\x00\x27\x10", 8);
    snprintf(big_path, sizeof big_path, "%s/huge.png", root);
    CHECK(mvt_write_file(big_path, png, 64) == 0, "write");
    snprintf(args, sizeof args, "run -m '%s' -i '%s' -p hi -n 1", good, big_path);
    expect_error("image over the pixel limit", args, "limit");
    free(png);

    /* a prompt longer than the context */
    snprintf(args, sizeof args, "run -m '%s' --ctx 64 -i '%s' -p hi -n 1", good, mvt_shared("golden/images/chelsea.png"));
    expect_error("prompt longer than the context", args, "context");
    snprintf(args, sizeof args, "run -m '%s' --messages /nonexistent.json", good);
    expect_error("missing messages file", args, "nonexistent.json");
    snprintf(args, sizeof args, "run -m '%s' -p hi --temp banana", good);
    expect_error("bad option value", args, "--temp");
    snprintf(args, sizeof args, "run -m '%s' -p hi --kv-cache f8", good);
    expect_error("unknown KV-cache type", args, "--kv-cache expects auto, f32 or f16, got 'f8'");
    return mvt_done("test_bad_input");
}
