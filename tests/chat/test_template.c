/* The prompt string built from messages must equal the `query` upstream chat() built for every golden
 * prompt (manifest.json), and follow the multi-image / multi-turn rules. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "testutil.h"
#include "text/chat_template.h"

static void check_manifest(const char *case_name) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s/manifest.json", case_name);
    mv_error err = { 0 };
    size_t len;
    char *text = mv_read_file(mvt_shared(rel), 1 << 26, &len, &err);
    CHECK(text != NULL, "%s", err.message);
    if (!text) return;
    cJSON *m = cJSON_ParseWithLength(text, len);
    const mv_chat_template *t = mv_chat_template_find(cJSON_GetObjectItem(m, "template")->valuestring);
    CHECK(t != NULL, "template of %s", case_name);
    int n_checked = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "prompts")) {
        if (!t) break;
        const cJSON *patches = cJSON_GetObjectItem(p, "num_patches_list");
        int tiles[16], n_img = 0;
        const cJSON *x;
        if (cJSON_IsArray(patches)) cJSON_ArrayForEach(x, patches) tiles[n_img++] = x->valueint;
        /* images are opaque here; the template only needs their count (tiles come separately) */
        const mv_image *fake[16] = { 0 };
        mv_message msg = { MV_ROLE_USER, cJSON_GetObjectItem(p, "question")->valuestring, fake, n_img };
        char *prompt = NULL;
        CHECK(mv_chat_build_prompt(t, NULL, &msg, 1, tiles, 256, &prompt, &err) == MV_OK, "%s", err.message);
        const char *want = cJSON_GetObjectItem(p, "query")->valuestring;
        CHECK(prompt && strcmp(prompt, want) == 0, "%s/%s: prompt differs from upstream's query",
              case_name, cJSON_GetObjectItem(p, "prompt")->valuestring);
        free(prompt);
        n_checked++;
    }
    CHECK(n_checked >= 2, "%s: only %d prompts", case_name, n_checked);
    printf("%s: %d prompts equal upstream's query\n", case_name, n_checked);
    cJSON_Delete(m);
    free(text);
}

static char *build(const mv_message *msgs, int n, const int *tiles, int per_tile, mv_status *rc) {
    mv_error err = { 0 };
    char *out = NULL;
    *rc = mv_chat_build_prompt(mv_chat_template_find("Hermes-2"), NULL, msgs, n, tiles, per_tile, &out, &err);
    return out;
}

static void check_rules(void) {
    const mv_image *imgs[2] = { 0 };
    const int tiles[3] = { 2, 1, 1 };
    mv_status rc;
    /* two images without placeholders, then a turn of history and a third image placed explicitly */
    mv_message conv[] = {
        { MV_ROLE_SYSTEM, "Be brief.", NULL, 0 },
        { MV_ROLE_USER, "Compare them.", imgs, 2 },
        { MV_ROLE_ASSISTANT, "Same cat.", NULL, 0 },
        { MV_ROLE_USER, "And <image> here?", imgs, 1 },
    };
    char *p = build(conv, 4, tiles, 1, &rc);
    const char *want =
        "<|im_start|>system\nBe brief.<|im_end|>"
        "<|im_start|>user\nImage-1: <img><IMG_CONTEXT><IMG_CONTEXT></img>\nImage-2: <img><IMG_CONTEXT></img>\nCompare them.<|im_end|>"
        "<|im_start|>assistant\nSame cat.<|im_end|>"
        "<|im_start|>user\nAnd <img><IMG_CONTEXT></img> here?<|im_end|>"
        "<|im_start|>assistant\n";
    CHECK(rc == MV_OK && p && strcmp(p, want) == 0, "multi-image multi-turn prompt:\n%s", p ? p : "(null)");
    free(p);
    /* one image: "<image>\n" prefix */
    mv_message one = { MV_ROLE_USER, "What?", imgs, 1 };
    p = build(&one, 1, tiles + 1, 2, &rc);
    CHECK(rc == MV_OK && p && strstr(p, "user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nWhat?<|im_end|>"), "single image prefix: %s", p ? p : "");
    free(p);
    /* placeholder count must match */
    mv_message bad = { MV_ROLE_USER, "<image> and <image>", imgs, 1 };
    p = build(&bad, 1, tiles, 1, &rc);
    CHECK(rc == MV_ERR_ARG && !p, "placeholder mismatch must fail");
    /* must end with a user turn */
    mv_message last_asst[] = { { MV_ROLE_USER, "hi", NULL, 0 }, { MV_ROLE_ASSISTANT, "yo", NULL, 0 } };
    p = build(last_asst, 2, tiles, 1, &rc);
    CHECK(rc == MV_ERR_ARG && !p, "a conversation ending with the assistant must fail");
    CHECK(mv_chat_template_find("vicuna") == NULL, "unknown template");
    /* InternVL2.5/3: newer system message and a newline after every <|im_end|> */
    mv_error err = { 0 };
    mv_message hello = { MV_ROLE_USER, "Hi", NULL, 0 };
    const mv_chat_template *t25 = mv_chat_template_find("internvl2_5");
    p = NULL;
    CHECK(t25 && mv_chat_build_prompt(t25, NULL, &hello, 1, tiles, 1, &p, &err) == MV_OK, "internvl2_5");
    CHECK(p && strcmp(p, "<|im_start|>system\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
                         "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") == 0, "internvl2_5 prompt: %s", p ? p : "");
    CHECK(t25 && strcmp(t25->end_token, "<|im_end|>") == 0, "internvl2_5 stops at <|im_end|>");
    free(p);
    /* config.json's system_message replaces the template's */
    p = NULL;
    CHECK(mv_chat_build_prompt(t25, "Be nice.", &hello, 1, tiles, 1, &p, &err) == MV_OK && p &&
          strncmp(p, "<|im_start|>system\nBe nice.<|im_end|>\n", 38) == 0, "system override: %s", p ? p : "");
    free(p);
}

int main(void) {
    check_manifest("tiny-qwen2");
    check_manifest("full-internvl2-1b");
    check_manifest("tiny-internlm2");
    check_manifest("tiny-phi3");
    check_rules();
    return mvt_done("test_template");
}
