/* test_tok_spm.c — SentencePiece tokenizers at the library level:
 *  - the real models (InternLM2, Phi-3 / Llama 2, Chinese-Alpaca): vocabulary sizes, BOS, lookups, the
 *    README's worked examples (legacy=False lone "▁", rstrip of chat tokens, no dummy prefix for InternLM2),
 *    and the streaming decoder on every golden case (byte-fallback pieces split characters; the dummy
 *    prefix space is dropped once) against the golden "decoded" text;
 *  - small hand-built models (a protobuf writer below) for what the real ones never exercise: merge order
 *    by score with leftmost ties, UNUSED pieces split back, user-defined pieces matched whole, runs of
 *    unknown characters without byte fallback, remove_extra_whitespaces;
 *  - model files the loader must refuse (unigram, character map, missing byte piece, duplicate piece). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "jsonl.h"
#include "testutil.h"
#include "text/tokenizer.h"

/* ------------------------------------------------------------------ real models */

static mv_tokenizer *load(const char *rel) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    CHECK(mv_tokenizer_load_dir(mvt_shared(rel), &tok, &err) == MV_OK, "load %s: %s", rel, err.message);
    return tok;
}

static void expect_ids(const mv_tokenizer *tok, const char *what, const char *text, const int32_t *want, size_t n) {
    mv_tok_ids ids = {0};
    mv_error err = {0};
    CHECK(mv_tok_encode(tok, text, strlen(text), &ids, &err) == MV_OK, "%s: %s", what, err.message);
    int same = ids.n == n && (n == 0 || memcmp(ids.v, want, n * sizeof *want) == 0);
    CHECK(same, "%s: got %zu ids (first %ld), want %zu (first %ld)", what, ids.n, ids.n ? (long)ids.v[0] : -1L, n,
          n ? (long)want[0] : -1L);
    mv_tok_ids_free(&ids);
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)

static void test_internlm2(const mv_tokenizer *tok) {
    CHECK(mv_tok_vocab_size(tok) == 92553, "internlm2 vocab %d", mv_tok_vocab_size(tok));
    CHECK(mv_tok_bos_id(tok) == 1, "internlm2 bos %d", mv_tok_bos_id(tok));
    CHECK(mv_tok_token_id(tok, "<|im_start|>", 12) == 92543, "<|im_start|>");
    CHECK(mv_tok_token_id(tok, "[UNUSED_TOKEN_0]", 16) >= 92352, "user-defined piece spelling");
    size_t n;
    const char *b = mv_tok_token_bytes(tok, 3 + 0xE4, &n);
    CHECK(b && n == 1 && (uint8_t)b[0] == 0xE4, "byte piece <0xE4>");
    /* no dummy prefix: "Hello" has no ▁, "▁world" has */
    int32_t hello = mv_tok_token_id(tok, "Hello", 5), world = mv_tok_token_id(tok, "\xE2\x96\x81world", 8);
    CHECK(hello >= 0 && world >= 0, "Hello / ▁world pieces");
    expect_ids(tok, "internlm2 Hello world", "Hello world", (const int32_t[]){hello, world}, 2);
    int32_t d123 = mv_tok_token_id(tok, "123", 3), d45 = mv_tok_token_id(tok, "45", 2);
    expect_ids(tok, "internlm2 12345", "12345", (const int32_t[]){d123, d45}, 2);
    expect_ids(tok, "internlm2 <s> in text", "<s><|im_end|>", IDS(1, 92542));
    expect_ids(tok, "internlm2 empty", "", NULL, 0);
}

static void test_phi3(const mv_tokenizer *tok) {
    CHECK(mv_tok_vocab_size(tok) == 32020, "phi3 vocab %d", mv_tok_vocab_size(tok));
    CHECK(mv_tok_bos_id(tok) == 1, "phi3 bos %d", mv_tok_bos_id(tok));
    /* legacy=False: lone ▁ kept before <|user|> (not in all_special_tokens), dropped before <s> */
    expect_ids(tok, "phi3 <|user|>\\nHi", "<|user|>\nHi", IDS(29871, 32010, 18567));
    expect_ids(tok, "phi3 <s>hello", "<s>hello", IDS(1, 12199));
    /* rstrip: the newline after <|user|> goes, the one before <|end|> stays */
    int32_t hello = mv_tok_token_id(tok, "Hello", 5);
    CHECK(hello > 258, "Hello piece");
    expect_ids(tok, "phi3 rstrip", "<|user|>\nHello<|end|>", IDS(29871, 32010, hello, 32007));
    expect_ids(tok, "phi3 empty", "", NULL, 0);
}

static void test_alpaca(const mv_tokenizer *tok) {
    CHECK(mv_tok_vocab_size(tok) == 49954, "alpaca vocab %d", mv_tok_vocab_size(tok));
    /* legacy: every segment gets the dummy prefix, also after a special token */
    expect_ids(tok, "alpaca <s>hello", "<s>hello", IDS(1, 22172));
    expect_ids(tok, "alpaca [PAD]", "a[PAD]", IDS(263, 49953));
    expect_ids(tok, "alpaca summarize", "summarize:a photo of a cat.",
               IDS(19138, 675, 29901, 29874, 15373, 310, 263, 6635, 29889));
}

/* Stream ids one at a time; the pieces must be valid UTF-8 and add up to the whole decode. Returns the
 * number of pushes that gave nothing (a character split across byte pieces). */
static int stream_matches(const mv_tokenizer *tok, const int32_t *ids, size_t n, const char *want, size_t want_len,
                          const char *what) {
    mv_error err = {0};
    mv_tok_stream *s = NULL;
    mv_tbuf all = {0};
    int held = 0;
    CHECK(mv_tok_stream_new(tok, &s, &err) == MV_OK, "%s", err.message);
    for (size_t i = 0; s && i <= n; i++) {
        const char *piece = NULL;
        size_t plen = 0;
        mv_status rc = i < n ? mv_tok_stream_push(s, ids[i], &piece, &plen, &err)
                             : mv_tok_stream_flush(s, &piece, &plen, &err);
        CHECK(rc == MV_OK && mv_utf8_valid(piece, plen), "%s: push %zu: %s", what, i, err.message);
        held += i < n && plen == 0;
        mv_tbuf_append(&all, piece, plen);
    }
    mv_tok_stream_free(s);
    char *whole = NULL;
    size_t wlen = 0;
    CHECK(mv_tok_decode(tok, ids, n, &whole, &wlen, &err) == MV_OK, "%s: %s", what, err.message);
    CHECK(whole && wlen == all.n && (wlen == 0 || memcmp(whole, all.p, wlen) == 0), "%s: stream != whole decode", what);
    CHECK(wlen == want_len && (wlen == 0 || memcmp(whole, want, wlen) == 0), "%s: decode != golden", what);
    free(whole);
    mv_tbuf_free(&all);
    return held;
}

static void stream_golden(const mv_tokenizer *tok, const char *rel, int expect_cases) {
    size_t glen;
    char *gold = mv_read_file(mvt_shared(rel), 1 << 26, &glen, NULL);
    CHECK(gold != NULL, "%s", rel);
    int cases = 0, held = 0;
    for (char *p = gold, *nl; p && p < gold + glen; p = nl ? nl + 1 : NULL) {
        nl = memchr(p, '\n', (size_t)(gold + glen - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(gold + glen - p);
        cJSON *j = cJSON_ParseWithLength(p, n);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "ids"), *v;
        char *dec = NULL; /* via the CLI's JSON reader: the text may hold NUL characters */
        size_t dec_len = 0;
        const char *why = NULL;
        if (cJSON_IsArray(a) && mv_jsonl_get_string(p, n, "decoded", &dec, &dec_len, &why) == 0) {
            mv_tok_ids ids = {0};
            cJSON_ArrayForEach(v, a) mv_tok_ids_push(&ids, (int32_t)v->valuedouble);
            char what[300];
            snprintf(what, sizeof what, "%s case %d", rel, ++cases);
            held += stream_matches(tok, ids.v, ids.n, dec, dec_len, what);
            mv_tok_ids_free(&ids);
        }
        free(dec);
        cJSON_Delete(j);
    }
    printf("%s: %d cases streamed, %d pushes held back inside a character\n", rel, cases, held);
    CHECK(cases == expect_cases, "%s: %d cases", rel, cases);
    CHECK(held > 0, "%s: no byte-fallback split seen", rel);
    free(gold);
}

/* Phi-3 decoding drops one leading space (the dummy prefix), also when streamed. */
static void test_phi3_stream(const mv_tokenizer *tok) {
    int32_t hello = mv_tok_token_id(tok, "\xE2\x96\x81Hello", 8), lone = 29871;
    stream_matches(tok, (const int32_t[]){hello, hello}, 2, "Hello Hello", 11, "phi3 ▁Hello▁Hello");
    stream_matches(tok, (const int32_t[]){lone, lone, hello}, 3, "  Hello", 7, "phi3 ▁▁▁Hello");
    /* 你 = E4 BD A0 as three byte pieces after a space: nothing until the third byte */
    int32_t ni[] = {lone, 3 + 0xE4, 3 + 0xBD, 3 + 0xA0};
    CHECK(stream_matches(tok, ni, 4, "\xE4\xBD\xA0", 3, "phi3 ▁你 as bytes") == 3, "held pushes for 你");
}

/* ------------------------------------------------------------------ hand-built models */

typedef struct pbuf {
    uint8_t b[8192];
    size_t n;
} pbuf;

static void pb_varint(pbuf *p, uint64_t v) {
    do {
        p->b[p->n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_bytes(pbuf *p, unsigned field, const void *data, size_t n) {
    pb_varint(p, field << 3 | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, data, n);
    p->n += n;
}

static void pb_int(pbuf *p, unsigned field, int64_t v) {
    pb_varint(p, field << 3);
    pb_varint(p, (uint64_t)v);
}

static void pb_piece(pbuf *model, const char *text, float score, int type) {
    pbuf pc = {.n = 0};
    uint32_t bits;
    memcpy(&bits, &score, 4);
    pb_bytes(&pc, 1, text, strlen(text));
    pb_varint(&pc, 2 << 3 | 5);
    for (int k = 0; k < 4; k++) pc.b[pc.n++] = (uint8_t)(bits >> (8 * k));
    if (type != 1) pb_int(&pc, 3, type);
    pb_bytes(model, 1, pc.b, pc.n);
}

typedef struct spec {
    int model_type, byte_fallback, remove_ws;
    const char *charsmap;
} spec;

static void pb_specs(pbuf *model, spec s) {
    pbuf t = {.n = 0}, nm = {.n = 0};
    pb_int(&t, 3, s.model_type);
    pb_int(&t, 35, s.byte_fallback);
    pb_int(&t, 43, -1); /* pad_id: a negative int32 is a 10-byte varint */
    pb_bytes(model, 2, t.b, t.n);
    pb_bytes(&nm, 1, "identity", 8);
    if (s.charsmap) pb_bytes(&nm, 2, s.charsmap, strlen(s.charsmap));
    pb_int(&nm, 4, s.remove_ws);
    pb_bytes(model, 3, nm.b, nm.n);
}

#define U "\xE2\x96\x81"

/* ids: 0 <unk>, 1 <s>, 2 </s>, then the list below (so "a" = 3 ...). */
static const struct { const char *text; float score; int type; } TOY[] = {
    {"a", 0, 1}, {"b", 0, 1}, {"c", 0, 1}, {U, 0, 1}, {"x", 0, 1}, {"y", 0, 1}, {"z", 0, 1},
    {"ab", -1, 1},           /* 10 */
    {"bc", -0.5f, 1},        /* 11: beats ab */
    {"abc", -2, 1},          /* 12 */
    {"aa", -1, 1},           /* 13: "aaa" -> aa a (leftmost wins a tie) */
    {"xy", 0, 5},            /* 14 UNUSED: split back unless merged further */
    {"xyz", -1, 1},          /* 15 */
    {"<u>", 0, 4},           /* 16 USER_DEFINED */
    {U "c", -0.1f, 1},       /* 17 */
    {"b<", 5, 1},            /* 18: would beat everything, but <u> is frozen */
};

static void build_model(pbuf *m, spec s, int with_toy) {
    m->n = 0;
    pb_piece(m, "<unk>", 0, 2);
    pb_piece(m, "<s>", 0, 3);
    pb_piece(m, "</s>", 0, 3);
    for (size_t i = 0; with_toy && i < sizeof TOY / sizeof *TOY; i++) pb_piece(m, TOY[i].text, TOY[i].score, TOY[i].type);
    if (with_toy == 2) pb_piece(m, "ab", 0, 1); /* duplicate */
    pb_specs(m, s);
}

/* build/tests/text/<name>/tokenizer.model holding data[0..n); returns the directory */
static const char *write_dir(const char *name, const void *data, size_t n) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/text/%s", name);
    return mvt_build_dir_file(rel, "tokenizer.model", data, n);
}

static const char *write_model(const char *name, spec s, int with_toy) {
    static pbuf m;
    build_model(&m, s, with_toy);
    return write_dir(name, m.b, m.n);
}

static void test_toy(void) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    const char *dir = write_model("spm_toy", (spec){.model_type = 2, .remove_ws = 1}, 1);
    CHECK(mv_tokenizer_load_dir(dir, &tok, &err) == MV_OK, "load toy: %s", err.message);
    if (!tok) return;
    CHECK(mv_tok_bos_id(tok) == 1, "toy bos");
    expect_ids(tok, "toy abc (bc first, then abc)", "abc", IDS(6, 12));   /* ▁ + abc */
    expect_ids(tok, "toy abab", "abab", IDS(6, 10, 10));
    expect_ids(tok, "toy aaa tie", "aaa", IDS(6, 13, 3));                 /* leftmost of two equal pairs */
    expect_ids(tok, "toy xy unused", "xy", IDS(6, 7, 8));                 /* xy split back into x y */
    expect_ids(tok, "toy xyz", "xyz", IDS(6, 15));
    expect_ids(tok, "toy user-defined", "b<u>b", IDS(6, 4, 16, 4));       /* b< never formed */
    expect_ids(tok, "toy unknown run", "  qq   c  ", IDS(6, 0, 17));       /* squeezed, one unk for qq */
    expect_ids(tok, "toy unknown split", "qbq", IDS(6, 0, 4, 0));
    expect_ids(tok, "toy only spaces", "   ", NULL, 0);
    char *text = NULL;
    size_t len = 0;
    CHECK(mv_tok_decode(tok, IDS(17, 6, 10), &text, &len, &err) == MV_OK && strcmp(text, "c ab") == 0,
          "toy decode: '%s'", text ? text : "");
    free(text);
    mv_tokenizer_free(tok);
}

static void load_fails(const char *what, const char *dir, mv_status code, const char *want) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    mv_status rc = mv_tokenizer_load_dir(dir, &tok, &err);
    CHECK(rc == code && tok == NULL, "%s: got %s, want %s", what, mv_status_name(rc), mv_status_name(code));
    CHECK(strstr(err.message, want) != NULL, "%s: message lacks \"%s\": %s", what, want, err.message);
    printf("%-24s %s\n", what, err.message);
}

static void test_refused(void) {
    load_fails("unigram model", write_model("spm_unigram", (spec){.model_type = 1}, 1), MV_ERR_UNSUPPORTED,
               "model_type unigram is not supported");
    load_fails("character map", write_model("spm_charsmap", (spec){.model_type = 2, .charsmap = "xx"}, 1),
               MV_ERR_UNSUPPORTED, "precompiled character map");
    load_fails("no byte pieces", write_model("spm_nobytes", (spec){.model_type = 2, .byte_fallback = 1}, 1),
               MV_ERR_FORMAT, "piece <0x00> is missing");
    load_fails("duplicate piece", write_model("spm_dup", (spec){.model_type = 2}, 2), MV_ERR_FORMAT,
               "\"ab\" is already defined");
}

/* Every prefix of the toy model and every one-byte corruption of it: the load fails with a message or
 * gives a tokenizer that encodes and decodes (run under ASan to see that nothing reads out of bounds). */
static void test_damaged(void) {
    static pbuf good, bad;
    build_model(&good, (spec){.model_type = 2}, 1);
    int refused = 0, loaded = 0;
    for (size_t k = 0; k < good.n * 9; k++) {
        bad = good;
        if (k < good.n) bad.n = k;                                    /* truncated at k */
        else bad.b[(k - good.n) / 8] ^= (uint8_t)(1u << ((k - good.n) % 8)); /* one bit flipped */
        mv_tokenizer *tok = NULL;
        mv_error err = {0};
        mv_status rc = mv_tokenizer_load_dir(write_dir("spm_damaged", bad.b, bad.n), &tok, &err);
        if (rc != MV_OK) {
            refused++;
            CHECK(tok == NULL && err.message[0], "damaged model %zu: no message", k);
            continue;
        }
        loaded++;
        CHECK(k >= good.n, "truncated model (%zu of %zu bytes) was accepted", k, good.n);
        mv_tok_ids ids = {0};
        char *text = NULL;
        CHECK(mv_tok_encode(tok, "ab c<u>xyz q", 12, &ids, &err) == MV_OK &&
                  mv_tok_decode(tok, ids.v, ids.n, &text, NULL, &err) == MV_OK,
              "damaged model %zu: %s", k, err.message);
        free(text);
        mv_tok_ids_free(&ids);
        mv_tokenizer_free(tok);
    }
    printf("damaged toy models: %d refused, %d loaded and ran\n", refused, loaded);
}

int main(void) {
    mv_tokenizer *tok = load("tokenizers/internlm2-internvl2-2b");
    if (tok) test_internlm2(tok), stream_golden(tok, "tokenizers/internlm2-internvl2-2b/golden.jsonl", 432);
    mv_tokenizer_free(tok);
    tok = load("tokenizers/phi3-internvl2-4b");
    if (tok) test_phi3(tok), test_phi3_stream(tok), stream_golden(tok, "tokenizers/phi3-internvl2-4b/golden.jsonl", 433);
    mv_tokenizer_free(tok);
    tok = load("tokenizers/chinese-alpaca-internvl-c");
    if (tok) test_alpaca(tok), stream_golden(tok, "tokenizers/chinese-alpaca-internvl-c/golden.jsonl", 112);
    mv_tokenizer_free(tok);
    test_toy();
    test_refused();
    test_damaged();
    return mvt_done("test_tok_spm");
}
