/* `minivl chat`: a two-turn conversation with an image, driven through stdin, must print exactly the
 * answers `minivl run --messages` gives for the same conversation (turn 2 reuses the session's KV cache
 * prefix, so this also checks prefix reuse against a fresh prefill). /reset and /quit are exercised. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char *answer(const char *model, const char *messages_json) {
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/chat-repl-messages.json", MV_BUILD_DIR);
    mvt_write_file(path, messages_json, strlen(messages_json));
    snprintf(cmd, sizeof cmd, "'%s/minivl' run -m '%s' -t 2 -n 8 --json --messages '%s'", MV_BUILD_DIR, model, path);
    char *out = NULL;
    CHECK(mvt_run(cmd, &out) == 0, "run --messages failed");
    cJSON *r = cJSON_Parse(out ? out : "");
    const cJSON *t = cJSON_GetObjectItem(r, "text");
    char *text = strdup(cJSON_IsString(t) ? t->valuestring : "");
    cJSON_Delete(r);
    free(out);
    return text;
}

int main(void) {
    const char *model = mvt_build("models/tiny-qwen2");
    char image[1024];
    snprintf(image, sizeof image, "%s", mvt_shared("golden/images/astronaut.png"));
    const char *q1 = "Describe this image.", *q2 = "And again, shorter?", *q3 = "Hello";

    char json[8192];
    snprintf(json, sizeof json, "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"%s\"}},"
             "{\"type\":\"text\",\"text\":\"%s\"}]}]", image, q1);
    char *a1 = answer(model, json);
    cJSON *hist = cJSON_Parse(json), *asst = cJSON_CreateObject(), *u2 = cJSON_CreateObject();
    cJSON_AddStringToObject(asst, "role", "assistant");
    cJSON_AddStringToObject(asst, "content", a1);
    cJSON_AddItemToArray(hist, asst);
    cJSON_AddStringToObject(u2, "role", "user");
    cJSON_AddStringToObject(u2, "content", q2);
    cJSON_AddItemToArray(hist, u2);
    char *json2 = cJSON_PrintUnformatted(hist);
    char *a2 = answer(model, json2);
    snprintf(json, sizeof json, "[{\"role\":\"user\",\"content\":\"%s\"}]", q3);
    char *a3 = answer(model, json);

    char input[4096], in_path[1024], cmd[4096];
    snprintf(input, sizeof input, "/image %s\n%s\n%s\n/reset\n%s\n/quit\nnot reached\n", image, q1, q2, q3);
    snprintf(in_path, sizeof in_path, "%s/chat-repl-input.txt", MV_BUILD_DIR);
    mvt_write_file(in_path, input, strlen(input));
    snprintf(cmd, sizeof cmd, "'%s/minivl' chat -m '%s' -t 2 -n 8 < '%s' 2>/dev/null", MV_BUILD_DIR, model, in_path);
    char *out = NULL;
    CHECK(mvt_run(cmd, &out) == 0, "chat exited non-zero");
    size_t need = strlen(a1) + strlen(a2) + strlen(a3) + 8;
    char *want = malloc(need);
    snprintf(want, need, "%s\n%s\n%s\n", a1, a2, a3);
    CHECK(out && strcmp(out, want) == 0, "chat output differs from run --messages:\n--- chat\n%s--- expected\n%s", out ? out : "", want);
    CHECK(strlen(a1) > 0 && strlen(a2) > 0, "answers are not empty");
    printf("chat: 3 turns (one after /reset) equal run --messages\n");
    free(want); free(out); free(a1); free(a2); free(a3); free(json2);
    cJSON_Delete(hist);
    return mvt_done("test_chat_repl");
}
