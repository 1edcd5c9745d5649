#include "text/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define INTERNVL_SYSTEM \
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"

#define INTERNVL2_5_SYSTEM \
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"

/* InternVL's conversation.py, MPT style. Hermes-2 and internlm2-chat are the same at inference. */
static const mv_chat_template templates[] = {
    { "Hermes-2", "<|im_start|>system\n", INTERNVL_SYSTEM, "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", "<|im_end|>" },
    { "internlm2-chat", "<|im_start|>system\n", INTERNVL_SYSTEM, "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", "<|im_end|>" },
    { "phi3-chat", "<|system|>\n", INTERNVL_SYSTEM, "<|user|>\n", "<|assistant|>\n", "<|end|>", "<|end|>" },
    { "internvl2_5", "<|im_start|>system\n", INTERNVL2_5_SYSTEM, "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n", "<|im_end|>" },
};

const mv_chat_template *mv_chat_template_find(const char *name) {
    for (size_t i = 0; i < sizeof templates / sizeof *templates; i++)
        if (strcmp(templates[i].name, name) == 0) return &templates[i];
    return NULL;
}

const char *mv_chat_template_names(void) { return "Hermes-2, internlm2-chat, phi3-chat, internvl2_5"; }

/* A growable string; on allocation failure `failed` is set and appends become no-ops. */
typedef struct sbuf { char *s; size_t len, cap; int failed; } sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *g = realloc(b->s, cap);
        if (!g) { b->failed = 1; return; }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static int count_placeholders(const char *s) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, "<image>")) != NULL; p += 7) n++;
    return n;
}

static void put_image(sbuf *b, int tiles, int tokens_per_tile) {
    sb_puts(b, "<img>");
    for (long i = 0; i < (long)tiles * tokens_per_tile; i++) sb_puts(b, "<IMG_CONTEXT>");
    sb_puts(b, "</img>");
}

/* The user text with its images placed: explicit placeholders are filled in order; otherwise
 * upstream's prefixes are added. */
static mv_status put_user_text(sbuf *b, const mv_message *m, int msg_index, const int *tiles, int *next_image,
                               int tokens_per_tile, mv_error *err) {
    const char *text = m->text ? m->text : "";
    int ph = count_placeholders(text);
    if (ph && ph != m->n_images)
        return mv_set_error(err, MV_ERR_ARG, "message %d has %d <image> placeholder(s) but %d image(s)", msg_index, ph, m->n_images);
    if (!ph && m->n_images == 1) {
        put_image(b, tiles[(*next_image)++], tokens_per_tile);
        sb_puts(b, "\n");
    } else if (!ph) {
        for (int k = 0; k < m->n_images; k++) {
            char label[32];
            snprintf(label, sizeof label, "Image-%d: ", k + 1);
            sb_puts(b, label);
            put_image(b, tiles[(*next_image)++], tokens_per_tile);
            sb_puts(b, "\n");
        }
    }
    for (const char *p = text;;) {
        const char *q = strstr(p, "<image>");
        if (!q) { sb_puts(b, p); break; }
        sb_putn(b, p, (size_t)(q - p));
        put_image(b, tiles[(*next_image)++], tokens_per_tile);
        p = q + 7;
    }
    return MV_OK;
}

mv_status mv_chat_build_prompt(const mv_chat_template *t, const char *default_system, const mv_message *msgs, int n_msgs,
                               const int *tiles_per_image, int tokens_per_tile, char **out, mv_error *err) {
    *out = NULL;
    if (n_msgs < 1 || msgs[n_msgs - 1].role != MV_ROLE_USER)
        return mv_set_error(err, MV_ERR_ARG, "the conversation must end with a user message");
    const char *system = default_system ? default_system : t->default_system;
    for (int i = 0; i < n_msgs; i++)
        if (msgs[i].role == MV_ROLE_SYSTEM) system = msgs[i].text ? msgs[i].text : "";
    sbuf b = { 0 };
    sb_puts(&b, t->system_prefix);
    sb_puts(&b, system);
    sb_puts(&b, t->sep);
    int next_image = 0;
    mv_status rc = MV_OK;
    for (int i = 0; i < n_msgs && rc == MV_OK; i++) {
        const mv_message *m = &msgs[i];
        if (m->role == MV_ROLE_SYSTEM) {
            if (m->n_images) rc = mv_set_error(err, MV_ERR_ARG, "message %d: a system message cannot hold images", i);
            continue;
        }
        if (m->role == MV_ROLE_ASSISTANT && m->n_images) {
            rc = mv_set_error(err, MV_ERR_ARG, "message %d: an assistant message cannot hold images", i);
            break;
        }
        if (m->role == MV_ROLE_USER) {
            sb_puts(&b, t->user_role);
            rc = put_user_text(&b, m, i, tiles_per_image, &next_image, tokens_per_tile, err);
        } else {
            sb_puts(&b, t->assistant_role);
            sb_puts(&b, m->text ? m->text : "");
        }
        sb_puts(&b, t->sep);
    }
    sb_puts(&b, t->assistant_role);
    if (rc != MV_OK) { free(b.s); return rc; }
    if (b.failed) { free(b.s); return mv_set_error(err, MV_ERR_NOMEM, "out of memory building the prompt"); }
    *out = b.s;
    return MV_OK;
}
