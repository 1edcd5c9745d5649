/* test_tok_perf.c — encoding speed: 100 kB texts of several shapes (mixed golden prose, one huge word,
 * a whitespace run, digits, CJK, a chat prompt with 1800 image tokens) must each encode in < 0.2 s and
 * decode back to the input.  */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"
#include "testutil.h"
#include "text/tokenizer.h"

#define TARGET 100000

#if defined(__SANITIZE_ADDRESS__)
#define MV_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MV_SLOW_BUILD 1
#endif
#endif

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* unit repeated until the text reaches TARGET bytes */
static char *repeat(const char *unit, size_t *len) {
    size_t u = strlen(unit), n = 0;
    char *s = malloc(TARGET + u + 1);
    while (s && n < TARGET) {
        memcpy(s + n, unit, u);
        n += u;
    }
    if (s) s[n] = 0;
    *len = n;
    return s;
}

/* All golden texts, concatenated with newlines, repeated to TARGET bytes (raw JSON lines are valid
 * UTF-8 text too, which keeps this independent of a JSON parser). */
static char *golden_mix(size_t *len) {
    size_t n;
    char *g = mv_read_file(mvt_shared("tokenizers/qwen2-internvl2-1b/golden.jsonl"), 1 << 24, &n, NULL);
    if (!g) return NULL;
    char *s = repeat(g, len);
    free(g);
    return s;
}

/* roundtrip: the text is NFC, so decode(encode(text)) must give it back */
static void time_one(const mv_tokenizer *tok, const char *what, const char *text, size_t len, int roundtrip) {
    mv_error err = {0};
    mv_tok_ids ids = {0};
    double t0 = now_s();
    mv_status rc = mv_tok_encode(tok, text, len, &ids, &err);
    double dt = now_s() - t0;
    CHECK(rc == MV_OK, "%s: %s", what, err.message);
    char *back = NULL;
    size_t blen = 0;
    CHECK(mv_tok_decode(tok, ids.v, ids.n, &back, &blen, &err) == MV_OK, "%s: %s", what, err.message);
    CHECK(back && (!roundtrip || (blen == len && memcmp(back, text, len) == 0)), "%s: decode(encode(x)) != x", what);
    printf("%-28s %7zu bytes -> %6zu tokens in %.4f s\n", what, len, ids.n, dt);
#ifndef MV_SLOW_BUILD
    CHECK(dt < 0.2, "%s: encoding took %.3f s (limit 0.2 s)", what, dt);
#endif
    free(back);
    mv_tok_ids_free(&ids);
}

int main(void) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    CHECK_OK(mv_tokenizer_load_dir(mvt_shared("tokenizers/qwen2-internvl2-1b"), &tok, &err), &err);
    struct { const char *name, *unit; } cases[] = {
        {"one long word", "a"},
        {"whitespace run", " "},
        {"newline run", "\n \t"},
        {"digits", "1234567890"},
        {"CJK", "你好世界，这是一个测试。"},
        {"emoji ZWJ", "👨‍👩‍👧‍👦🇯🇵"},
        {"image tokens", "<IMG_CONTEXT>"},
        {"resembles special", "<|im_start"},
    };
    size_t len;
    char *mix = golden_mix(&len);
    CHECK(mix != NULL, "golden.jsonl not readable");
    if (mix) time_one(tok, "golden mix", mix, len, 0); /* holds NFD text */
    free(mix);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = repeat(cases[i].unit, &len);
        time_one(tok, cases[i].name, s, len, 1);
        free(s);
    }
    mv_tokenizer_free(tok);
    return mvt_done("test_tok_perf");
}
