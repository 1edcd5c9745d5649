/* fuzz_json_scan.c — libFuzzer target for the DOM-free JSON readers (io/json_scan.c) over arbitrary
 * bytes, driven the way the tokenizer drives them: find model.vocab and model.merges, read the vocab
 * as string → number members and the merges as strings or string pairs. Any crash, out-of-bounds read
 * (the input is copied to an exact-size buffer, so ASan sees one byte past the end) or UB fails. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_scan.h"

static void read_container(const char *p, const char *end, char open, mv_tbuf *scratch) {
    mv_json_iter it;
    if (mv_json_iter_begin(&it, p, end, open) != 0) return;
    for (int guard = 0; guard < 100000 && mv_json_iter_next(&it) == 1; guard++) {
        const char *s, *after;
        size_t n;
        double v;
        if (open == '{') {
            if (!(after = mv_json_string(it.p, end, scratch, &s, &n))) return;
            it.p = after;
            if (mv_json_iter_colon(&it) != 0) return;
            if (!(after = mv_json_number(it.p, end, &v)) && !(after = mv_json_skip(it.p, end, NULL))) return;
        } else if (!(after = mv_json_string(it.p, end, scratch, &s, &n))) {
            if (!(after = mv_json_skip(it.p, end, NULL))) return;
            read_container(it.p, after, '[', scratch); /* a [left, right] pair */
        }
        it.p = after;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    const char *end = text + size;
    mv_tbuf scratch = {0};
    size_t n_items;
    (void)mv_json_skip(text, end, &n_items);
    static const char *const keys[2] = {"vocab", "merges"};
    mv_json_span parts[2];
    const char *model = mv_json_find(text, end, "model");
    if (model && mv_json_members(model, end, keys, parts, 2)) {
        if (parts[0].p) read_container(parts[0].p, parts[0].end, '{', &scratch);
        if (parts[1].p) read_container(parts[1].p, parts[1].end, '[', &scratch);
    }
    read_container(text, end, '{', &scratch); /* the whole input as a vocab.json */
    mv_tbuf_free(&scratch);
    free(text);
    return 0;
}
