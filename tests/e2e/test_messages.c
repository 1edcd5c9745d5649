/* `minivl run --messages`: a multi-turn, two-image conversation must tokenize to exactly the prompt
 * upstream's chat() builds (written out here by hand from its rules), and images given as paths,
 * file:// URLs or data: URLs must give identical embeddings. */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "testutil.h"

static const char *SYS =
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。";

static char *image_tokens(int tiles) {
    size_t n = (size_t)tiles * 256;
    char *s = malloc(n * 13 + 16), *p = s;
    p += sprintf(p, "<img>");
    for (size_t i = 0; i < n; i++) p += sprintf(p, "<IMG_CONTEXT>");
    sprintf(p, "</img>");
    return s;
}

static char *run_json(const char *cmd_fmt, const char *a, const char *b) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, cmd_fmt, MV_BUILD_DIR, a, b);
    char *out = NULL;
    int st = mvt_run(cmd, &out);
    CHECK(st == 0, "command failed (%d): %s", st, cmd);
    return out;
}

static char *data_url(const char *path) {
    size_t len;
    mv_error err;
    char *bytes = mv_read_file(path, 1 << 26, &len, &err);
    char *url = malloc(len * 4 / 3 + 64);
    int n = sprintf(url, "data:image/png;base64,");
    EVP_EncodeBlock((unsigned char *)url + n, (const unsigned char *)bytes, (int)len);
    free(bytes);
    return url;
}

static char *write_messages(const char *name, const char *img1, const char *img2) {
    cJSON *msgs = cJSON_CreateArray();
    cJSON *u1 = cJSON_CreateObject(), *parts = cJSON_CreateArray();
    cJSON_AddStringToObject(u1, "role", "user");
    const char *urls[2] = { img1, img2 };
    for (int i = 0; i < 2; i++) {
        cJSON *p = cJSON_CreateObject(), *iu = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON_AddStringToObject(iu, "url", urls[i]);
        cJSON_AddItemToObject(p, "image_url", iu);
        cJSON_AddItemToArray(parts, p);
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", "text");
    cJSON_AddStringToObject(t, "text", "What differs between these pictures?");
    cJSON_AddItemToArray(parts, t);
    cJSON_AddItemToObject(u1, "content", parts);
    cJSON_AddItemToArray(msgs, u1);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "role", "assistant");
    cJSON_AddStringToObject(a, "content", "One is a cat, one is an astronaut.");
    cJSON_AddItemToArray(msgs, a);
    cJSON *u2 = cJSON_CreateObject();
    cJSON_AddStringToObject(u2, "role", "user");
    cJSON_AddStringToObject(u2, "content", "Which one is older? 用一个词回答。");
    cJSON_AddItemToArray(msgs, u2);
    char *json = cJSON_Print(msgs);
    cJSON_Delete(msgs);
    char *path = malloc(1024);
    snprintf(path, 1024, "%s/%s", MV_BUILD_DIR, name);
    CHECK(mvt_write_file(path, json, strlen(json)) == 0, "write %s", path);
    free(json);
    return path;
}

int main(void) {
    const char *model = mvt_build("models/tiny-qwen2");
    char chelsea[1024], astronaut[1024], file_url[1100];
    snprintf(chelsea, sizeof chelsea, "%s", mvt_shared("golden/images/chelsea.png"));
    snprintf(astronaut, sizeof astronaut, "%s", mvt_shared("golden/images/astronaut.png"));
    snprintf(file_url, sizeof file_url, "file://%s", chelsea);

    /* The prompt by upstream's rules: two images without placeholders → "Image-k: <image>\n" lines. */
    char *img1 = image_tokens(7), *img2 = image_tokens(1);
    size_t cap = strlen(img1) + strlen(img2) + 4096;
    char *prompt = malloc(cap);
    snprintf(prompt, cap,
             "<|im_start|>system\n%s<|im_end|><|im_start|>user\nImage-1: %s\nImage-2: %s\nWhat differs between these "
             "pictures?<|im_end|><|im_start|>assistant\nOne is a cat, one is an astronaut.<|im_end|><|im_start|>user\n"
             "Which one is older? 用一个词回答。<|im_end|><|im_start|>assistant\n",
             SYS, img1, img2);
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "text", prompt);
    char *jl = cJSON_PrintUnformatted(line);
    char jl_path[1024];
    snprintf(jl_path, sizeof jl_path, "%s/messages-expected.jsonl", MV_BUILD_DIR);
    CHECK(mvt_write_file(jl_path, jl, strlen(jl)) == 0, "write");
    char *tok_out = run_json("'%s/minivl' tokenize -m '%s' --jsonl < '%s'", model, jl_path);
    cJSON *want = cJSON_Parse(tok_out ? tok_out : "");
    const cJSON *want_ids = cJSON_GetObjectItem(want, "ids");
    CHECK(cJSON_GetArraySize(want_ids) > 2000, "expected prompt tokenized (%d ids)", cJSON_GetArraySize(want_ids));

    char *m1 = write_messages("messages-paths.json", chelsea, astronaut);
    char *url2 = data_url(astronaut);
    char *m2 = write_messages("messages-urls.json", file_url, url2);
    char *o1 = run_json("'%s/minivl' run -m '%s' -n 0 --json --messages '%s' --dump-tensors messages-a.safetensors", model, m1);
    char *o2 = run_json("'%s/minivl' run -m '%s' -n 0 --json --messages '%s' --dump-tensors messages-b.safetensors", model, m2);
    cJSON *r1 = cJSON_Parse(o1 ? o1 : ""), *r2 = cJSON_Parse(o2 ? o2 : "");
    char *ids1 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r1, "input_ids"));
    char *ids2 = cJSON_PrintUnformatted(cJSON_GetObjectItem(r2, "input_ids"));
    char *idsw = cJSON_PrintUnformatted(want_ids);
    CHECK(ids1 && idsw && strcmp(ids1, idsw) == 0, "--messages input_ids equal upstream's prompt tokenized");
    CHECK(ids1 && ids2 && strcmp(ids1, ids2) == 0, "paths and URLs give the same input_ids");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(r1, "output_ids")) == 0, "-n 0 generates nothing");
    size_t la, lb;
    mv_error err;
    char *da = mv_read_file("messages-a.safetensors", 1u << 30, &la, &err);
    char *db = mv_read_file("messages-b.safetensors", 1u << 30, &lb, &err);
    CHECK(da && db && la == lb && memcmp(da, db, la) == 0, "paths and URLs give identical pixel_values, vit_embeds, logits");
    remove("messages-a.safetensors");
    remove("messages-b.safetensors");
    printf("messages: %d input ids match the hand-built upstream prompt\n", cJSON_GetArraySize(want_ids));
    free(da); free(db); free(ids1); free(ids2); free(idsw);
    cJSON_Delete(r1); cJSON_Delete(r2); cJSON_Delete(want); cJSON_Delete(line);
    free(o1); free(o2); free(m1); free(m2); free(url2); free(tok_out); free(jl); free(prompt); free(img1); free(img2);
    return mvt_done("test_messages");
}
