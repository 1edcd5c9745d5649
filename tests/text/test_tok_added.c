/* test_tok_added.c — front behaviour on a small synthetic byte-level tokenizer.json (ids 0..255 = the
 * bytes, a few merges in both the "a b" and [a, b] forms): added tokens with lstrip / rstrip /
 * single_word, added tokens matched on the raw text (normalized: false) versus after NFC
 * (normalized: true), the NFC normalizer itself, and leftmost-longest matching. Expected ids follow
 * HF tokenizers' rules. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "text/tokenizer.h"

enum { AB = 256, ABC, T_L, T_R, T_W, T_NORM, T_RAW, T_LONG, T_SHORT };

/* GPT-2 bytes_to_unicode, spelled as UTF-8 */
static void byte_spelling(int b, char *out) {
    int keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255), cp = b;
    if (!keep) {
        cp = 256;
        for (int c = 0; c < b; c++) cp += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255));
    }
    size_t n = mv_utf8_encode((uint32_t)cp, out);
    out[n] = 0;
}

static void add_token(cJSON *list, int id, const char *content, int lstrip, int rstrip, int single, int normalized) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddBoolToObject(t, "single_word", single);
    cJSON_AddBoolToObject(t, "lstrip", lstrip);
    cJSON_AddBoolToObject(t, "rstrip", rstrip);
    cJSON_AddBoolToObject(t, "normalized", normalized);
    cJSON_AddBoolToObject(t, "special", !normalized);
    cJSON_AddItemToArray(list, t);
}

static const char *write_tokenizer(void) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char s[8];
        byte_spelling(b, s);
        cJSON_AddNumberToObject(vocab, s, b);
    }
    cJSON_AddNumberToObject(vocab, "ab", AB);
    cJSON_AddNumberToObject(vocab, "abc", ABC);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges"), *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString("a"));
    cJSON_AddItemToArray(pair, cJSON_CreateString("b"));
    cJSON_AddItemToArray(merges, pair);
    cJSON_AddItemToArray(merges, cJSON_CreateString("ab c"));
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    add_token(added, T_L, "<l>", 1, 0, 0, 0);
    add_token(added, T_R, "<r>", 0, 1, 0, 0);
    add_token(added, T_W, "<w>", 0, 0, 1, 0);
    add_token(added, T_NORM, "\xC3\xA9", 0, 0, 0, 1);  /* é, matched after NFC */
    add_token(added, T_RAW, "\xC3\xB1", 0, 0, 0, 0);   /* ñ, matched on the raw text only */
    add_token(added, T_LONG, "<ab>", 0, 0, 0, 0);
    add_token(added, T_SHORT, "<a", 0, 0, 0, 0);
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "ByteLevel");
    cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
    cJSON_AddBoolToObject(pre, "use_regex", 1);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    char *json = cJSON_PrintUnformatted(root);
    static char dir[2048];
    snprintf(dir, sizeof dir, "%s", mvt_build("tests/text/synthetic_added"));
    mkdir(dir, 0755);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(json && mvt_write_file(path, json, strlen(json)) == 0, "write %s", path);
    free(json);
    cJSON_Delete(root);
    return dir;
}

static void expect(const mv_tokenizer *tok, const char *text, const int32_t *want, size_t n_want) {
    mv_error err = {0};
    mv_tok_ids ids = {0};
    CHECK(mv_tok_encode(tok, text, strlen(text), &ids, &err) == MV_OK, "%s", err.message);
    int same = ids.n == n_want && (n_want == 0 || memcmp(ids.v, want, n_want * sizeof *want) == 0);
    CHECK(same, "'%s': got %zu ids", text, ids.n);
    if (!same)
        for (size_t i = 0; i < ids.n; i++) fprintf(stderr, "  got[%zu] = %d\n", i, ids.v[i]);
    mv_tok_ids_free(&ids);
}

#define EXPECT(text, ...) \
    expect(tok, text, (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

int main(void) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    CHECK_OK(mv_tokenizer_load_dir(write_tokenizer(), &tok, &err), &err);
    CHECK(mv_tok_vocab_size(tok) == T_SHORT + 1, "vocab size %d", mv_tok_vocab_size(tok));
    EXPECT("abc ab", ABC, ' ', AB);                   /* merges, in both forms, inside regex pieces */
    EXPECT("x <l> y", 'x', T_L, ' ', 'y');            /* lstrip eats the space before */
    EXPECT("x  \t<l>", 'x', T_L);
    EXPECT("x <r> \n y", 'x', ' ', T_R, 'y');         /* rstrip eats the whitespace after */
    EXPECT("a<w>b", 'a', '<', 'w', '>', 'b');         /* single_word: glued to letters, no match */
    EXPECT("a <w> b", 'a', ' ', T_W, ' ', 'b');
    EXPECT("<ab><a", T_LONG, T_SHORT);                 /* leftmost-longest */
    EXPECT("e\xCC\x81", T_NORM);                       /* NFD é -> NFC é -> normalized added token */
    EXPECT("\xC3\xA9", T_NORM);
    EXPECT("n\xCC\x83", 0xC3, 0xB1);                   /* NFD ñ: not raw-matched, NFC gives ñ's bytes */
    EXPECT("\xC3\xB1", T_RAW);
    EXPECT("<l>", T_L);
    char *text = NULL;
    size_t len = 0;
    int32_t ids[] = {T_L, 'x', ABC, T_R};
    CHECK(mv_tok_decode(tok, ids, 4, &text, &len, &err) == MV_OK && len == 10 && memcmp(text, "<l>xabc<r>", 10) == 0,
          "decode with added tokens");
    free(text);
    mv_tokenizer_free(tok);
    return mvt_done("test_tok_added");
}
