/* chat_template.h — the conversation templates of InternVL's conversation.py (MPT separator style),
 * and the image placeholder expansion its chat() performs.
 *
 * A prompt is: system_template(system) + sep, then for every message role + text + sep, then the
 * assistant role left open for the answer. Images: a user text may place them with "<image>"; if it
 * has none, one image becomes "<image>\n" before the text, several "Image-1: <image>\nImage-2: ...".
 * Every "<image>" (in conversation order) becomes <img> + <IMG_CONTEXT> x (tokens_per_tile x tiles)
 * + </img>. */
#ifndef MV_TEXT_CHAT_TEMPLATE_H
#define MV_TEXT_CHAT_TEMPLATE_H

#include "minivl.h"

typedef struct mv_chat_template {
    const char *name;             /* config.json "template" */
    const char *system_prefix;    /* before the system message */
    const char *default_system;   /* the template's system message */
    const char *user_role;
    const char *assistant_role;
    const char *sep;              /* after every message */
    const char *end_token;        /* sep without whitespace: the token that ends an answer (chat()'s eos) */
} mv_chat_template;

/* NULL when unknown; mv_chat_template_names lists the supported ones for error messages. */
const mv_chat_template *mv_chat_template_find(const char *name);
const char *mv_chat_template_names(void);

/* Build the prompt with `system` as the default system message (NULL = the template's own; a
 * system-role message overrides both). tiles_per_image[k] = tiles of the k-th image in conversation order (n_images
 * in total, counted over all messages). Returns a malloc'd string or an error (MV_ERR_ARG when a text
 * has more "<image>" placeholders than images or fewer, or roles are out of order). */
mv_status mv_chat_build_prompt(const mv_chat_template *t, const char *system, const mv_message *msgs, int n_msgs,
                               const int *tiles_per_image, int tokens_per_tile, char **out, mv_error *err);

#endif
