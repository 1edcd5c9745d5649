/* test_tok_stream.c — internal tokenizer API on Qwen2: token lookups, lossy UTF-8 decoding (U+FFFD per
 * maximal invalid subpart, as Python's bytes.decode(errors="replace")), and the streaming decoder:
 * characters split across tokens (CJK, emoji) are held back until complete, every piece is valid
 * UTF-8, and the pieces always add up to the whole decode — checked on hand-made byte sequences and on
 * the ids of every golden case. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "testutil.h"
#include "text/tokenizer.h"

static int32_t byte_tok[256];

/* ids of the 256 one-byte tokens, found through the public bytes of each id */
static void find_byte_tokens(const mv_tokenizer *tok) {
    for (int b = 0; b < 256; b++) byte_tok[b] = -1;
    for (int32_t id = 0; id < mv_tok_vocab_size(tok); id++) {
        size_t n;
        const char *s = mv_tok_token_bytes(tok, id, &n);
        if (s && n == 1 && byte_tok[(uint8_t)s[0]] < 0 && !mv_tok_is_special(tok, id)) byte_tok[(uint8_t)s[0]] = id;
    }
    for (int b = 0; b < 256; b++) CHECK(byte_tok[b] >= 0, "no token for byte 0x%02x", b);
}

/* Stream ids; check each piece is valid UTF-8 and that pieces + flush == mv_tok_decode. Returns the
 * concatenation (malloc'd) and in *held the number of pushes that produced nothing. */
static char *stream_all(const mv_tokenizer *tok, const int32_t *ids, size_t n, const char *what, size_t *len,
                        int *held) {
    mv_error err = {0};
    mv_tok_stream *s = NULL;
    mv_tbuf all = {0};
    *held = 0;
    CHECK(mv_tok_stream_new(tok, &s, &err) == MV_OK, "%s", err.message);
    for (size_t i = 0; s && i <= n; i++) {
        const char *piece = NULL;
        size_t plen = 0;
        mv_status rc = i < n ? mv_tok_stream_push(s, ids[i], &piece, &plen, &err)
                             : mv_tok_stream_flush(s, &piece, &plen, &err);
        CHECK(rc == MV_OK, "%s: %s", what, err.message);
        CHECK(mv_utf8_valid(piece, plen), "%s: piece %zu is not valid UTF-8", what, i);
        if (i < n && plen == 0) (*held)++;
        mv_tbuf_append(&all, piece, plen);
    }
    mv_tbuf_append(&all, "", 0);
    mv_tok_stream_free(s);
    char *whole = NULL;
    size_t wlen = 0;
    CHECK(mv_tok_decode(tok, ids, n, &whole, &wlen, &err) == MV_OK, "%s: %s", what, err.message);
    CHECK(whole && wlen == all.n && memcmp(whole, all.p, wlen) == 0, "%s: stream != whole decode", what);
    free(whole);
    *len = all.n;
    return all.p;
}

/* Bytes pushed one byte-token at a time: expected output after each push, then after the flush. */
static void bytes_case(const mv_tokenizer *tok, const char *bytes, const char *const *after, const char *flush) {
    size_t n = strlen(bytes);
    int32_t ids[16];
    for (size_t i = 0; i < n; i++) ids[i] = byte_tok[(uint8_t)bytes[i]];
    mv_error err = {0};
    mv_tok_stream *s = NULL;
    CHECK(mv_tok_stream_new(tok, &s, &err) == MV_OK, "%s", err.message);
    mv_tbuf expect = {0};
    for (size_t i = 0; s && i <= n; i++) {
        const char *piece = NULL, *want = i < n ? after[i] : flush;
        size_t plen = 0;
        if (i < n) mv_tok_stream_push(s, ids[i], &piece, &plen, &err);
        else mv_tok_stream_flush(s, &piece, &plen, &err);
        CHECK(piece && plen == strlen(want) && memcmp(piece, want, plen) == 0, "bytes case %zu: step %zu gave '%.*s', want '%s'",
              n, i, (int)plen, piece ? piece : "", want);
        mv_tbuf_append(&expect, want, strlen(want));
    }
    mv_tok_stream_free(s);
    char *whole = NULL;
    size_t wlen = 0;
    CHECK(mv_tok_decode(tok, ids, n, &whole, &wlen, &err) == MV_OK, "%s", err.message);
    CHECK(whole && wlen == expect.n && memcmp(whole, expect.p, wlen) == 0, "bytes case: whole decode differs");
    free(whole);
    mv_tbuf_free(&expect);
}

#define R "\xEF\xBF\xBD" /* U+FFFD */

static void test_bytes(const mv_tokenizer *tok) {
    /* a 4-byte emoji one byte at a time: nothing until the last byte */
    bytes_case(tok, "\xF0\x9F\x98\x80", (const char *const[]){"", "", "", "\xF0\x9F\x98\x80"}, "");
    /* a CJK character cut short by ASCII: one U+FFFD for the 2-byte prefix, then the ASCII */
    bytes_case(tok, "\xE4\xB8" "A", (const char *const[]){"", "", R "A"}, "");
    /* encoded surrogate: ED A0 is already invalid, each byte is one U+FFFD */
    bytes_case(tok, "\xED\xA0\x80", (const char *const[]){"", R R, R}, "");
    /* above U+10FFFF, overlong, stray bytes */
    bytes_case(tok, "\xF4\x90\x80\x80", (const char *const[]){"", R R, R, R}, "");
    bytes_case(tok, "\xC0\x80", (const char *const[]){R, R}, "");
    bytes_case(tok, "\xE0\x80", (const char *const[]){"", R R}, "");
    bytes_case(tok, "\xFF", (const char *const[]){R}, "");
    /* unfinished at the end: the flush gives a single U+FFFD */
    bytes_case(tok, "\xF0\x9F\x98", (const char *const[]){"", "", ""}, R);
    /* a broken emoji followed by a whole one */
    bytes_case(tok, "a\xF0\x9F\x98\xF0\x9F\x98\x80" "b",
               (const char *const[]){"a", "", "", "", R, "", "", "\xF0\x9F\x98\x80", "b"}, "");
}

static void test_lookups(const mv_tokenizer *tok) {
    CHECK(mv_tok_vocab_size(tok) == 151655, "vocab size %d", mv_tok_vocab_size(tok));
    CHECK(mv_tok_token_id(tok, "<|im_end|>", 10) == 151645, "<|im_end|>");
    CHECK(mv_tok_token_id(tok, "<IMG_CONTEXT>", 13) == 151648, "<IMG_CONTEXT>");
    CHECK(mv_tok_token_id(tok, "\xC4\xA0the", 5) == 279, "Ġthe"); /* " the" in byte-level spelling */
    CHECK(mv_tok_token_id(tok, "<|im_end", 8) == -1, "partial special token");
    size_t n = 0;
    const char *b = mv_tok_token_bytes(tok, 279, &n);
    CHECK(b && n == 4 && memcmp(b, " the", 4) == 0, "bytes of 279");
    b = mv_tok_token_bytes(tok, 151644, &n);
    CHECK(b && n == 12 && memcmp(b, "<|im_start|>", 12) == 0, "bytes of <|im_start|>");
    CHECK(mv_tok_token_bytes(tok, -1, &n) == NULL && mv_tok_token_bytes(tok, 151655, &n) == NULL, "out of range ids");
    CHECK(mv_tok_is_special(tok, 151643) && !mv_tok_is_special(tok, 279), "is_special");
}

/* Split multi-byte characters: Chinese and emoji that Qwen2 spells with partial-byte tokens. */
static void test_text(const mv_tokenizer *tok) {
    static const char text[] = "你好，世界！我是书生·万象。🤖👨‍👩‍👧‍👦🇨🇳 龘齉 ok";
    mv_error err = {0};
    mv_tok_ids ids = {0};
    CHECK(mv_tok_encode(tok, text, strlen(text), &ids, &err) == MV_OK, "%s", err.message);
    size_t len;
    int held;
    char *got = stream_all(tok, ids.v, ids.n, "chinese+emoji", &len, &held);
    CHECK(got && len == strlen(text) && memcmp(got, text, len) == 0, "stream of text differs");
    CHECK(held > 0, "expected some tokens to end inside a character (held=%d of %zu)", held, ids.n);
    printf("chinese+emoji: %zu tokens, %d held back inside a character\n", ids.n, held);
    free(got);
    mv_tok_ids_free(&ids);
}

/* The golden ids of every case, streamed. */
static void test_golden(const mv_tokenizer *tok) {
    size_t glen;
    char *gold = mv_read_file(mvt_shared("tokenizers/qwen2-internvl2-1b/golden.jsonl"), 1 << 26, &glen, NULL);
    CHECK(gold != NULL, "golden.jsonl");
    int cases = 0, held_total = 0;
    for (char *p = gold, *nl; p && p < gold + glen; p = nl ? nl + 1 : NULL) {
        nl = memchr(p, '\n', (size_t)(gold + glen - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(gold + glen - p);
        cJSON *j = cJSON_ParseWithLength(p, n);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "ids"), *v;
        if (cJSON_IsArray(a)) {
            mv_tok_ids ids = {0};
            cJSON_ArrayForEach(v, a) mv_tok_ids_push(&ids, (int32_t)v->valuedouble);
            size_t len;
            int held;
            char what[32];
            snprintf(what, sizeof what, "golden case %d", cases + 1);
            free(stream_all(tok, ids.v, ids.n, what, &len, &held));
            held_total += held;
            cases++;
            mv_tok_ids_free(&ids);
        }
        cJSON_Delete(j);
    }
    printf("golden: %d cases streamed, %d pushes held back\n", cases, held_total);
    CHECK(cases == 390, "cases %d", cases);
    free(gold);
}

int main(void) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    CHECK_OK(mv_tokenizer_load_dir(mvt_shared("tokenizers/qwen2-internvl2-1b"), &tok, &err), &err);
    find_byte_tokens(tok);
    test_lookups(tok);
    test_bytes(tok);
    test_text(tok);
    test_golden(tok);
    mv_tokenizer_free(tok);
    return mvt_done("test_tok_stream");
}
