/* tokenizer.c — tokenizer front: finds and loads the tokenizer files of a checkpoint directory, matches
 * added/special tokens on the raw text (leftmost-longest, with lstrip/rstrip/single_word), applies the
 * normalizer, hands the text between them to the model kind (bpe.c, spm.c), and decodes ids (whole or
 * streamed) with U+FFFD for invalid UTF-8. Behaviour follows Hugging Face `tokenizers`, or transformers'
 * slow tokenizer where a SentencePiece model is loaded (flags set by spm.c). */
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "base/error.h"
#include "base/file.h"

#define MAX_TOKENIZER_FILE ((size_t)512 << 20) /* sanity cap: real tokenizer.json files are < 20 MB */

/* ------------------------------------------------------------------ id arrays */

int mv_tok_ids_push(mv_tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *g = realloc(a->v, cap * sizeof *g);
        if (!g) return -1;
        a->v = g;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

void mv_tok_ids_free(mv_tok_ids *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ vocabulary table */

static int grow_table(mv_tokenizer *tok, size_t need) {
    if (need <= tok->cap_vocab) return 0;
    size_t cap = tok->cap_vocab ? tok->cap_vocab : 1024;
    while (cap < need) cap *= 2;
    uint32_t **arrays[] = {&tok->str_off, &tok->str_len, &tok->byte_off, &tok->byte_len};
    for (size_t k = 0; k < sizeof arrays / sizeof *arrays; k++) {
        uint32_t *g = realloc(*arrays[k], cap * sizeof *g);
        if (!g) return -1;
        *arrays[k] = g;
    }
    uint8_t *g = realloc(tok->is_added, cap);
    if (!g) return -1;
    tok->is_added = g;
    for (size_t i = tok->cap_vocab; i < cap; i++) {
        tok->str_len[i] = tok->byte_len[i] = MV_TOK_NONE;
        tok->str_off[i] = tok->byte_off[i] = 0;
        tok->is_added[i] = 0;
    }
    tok->cap_vocab = cap;
    return 0;
}

int mv_tok_reserve(mv_tokenizer *tok, size_t n_tokens, size_t n_bytes) {
    if (grow_table(tok, n_tokens) != 0 || mv_strmap_reserve(&tok->by_str, n_tokens, n_bytes) != 0) return -1;
    return mv_tbuf_reserve(&tok->strs, n_bytes);
}

/* mv_tok_set_token with the spelling's mv_strmap_hash. */
static mv_status set_token_h(mv_tokenizer *tok, int32_t id, const char *s, size_t n, uint64_t h, const char *where,
                             mv_error *err) {
    if (id < 0 || id >= INT32_MAX - 1)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: token id %ld out of range", where, (long)id);
    if (tok->strs.n > UINT32_MAX - n - 1)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: vocabulary strings too large", where);
    if (grow_table(tok, (size_t)id + 1) != 0 || mv_strmap_put_h(&tok->by_str, h, s, n, id) != 0)
        return mv_set_error(err, MV_ERR_NOMEM, "%s: out of memory", where);
    tok->str_off[id] = (uint32_t)tok->strs.n;
    tok->str_len[id] = (uint32_t)n;
    if (mv_tbuf_append(&tok->strs, s, n) != 0) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (id >= tok->n_vocab) tok->n_vocab = id + 1;
    return MV_OK;
}

mv_status mv_tok_set_token(mv_tokenizer *tok, int32_t id, const char *s, size_t n, const char *where,
                           mv_error *err) {
    return set_token_h(tok, id, s, n, mv_strmap_hash(s, n, NULL, 0), where, err);
}

enum { SET_LOOKAHEAD = 8 }; /* entries hashed and prefetched ahead of the one inserted */

mv_status mv_tok_set_tokens(mv_tokenizer *tok, const mv_tok_entry *e, size_t n, const char *text, const char *where,
                            mv_error *err) {
    uint64_t h[SET_LOOKAHEAD]; /* a ring: the hash of entry i sits at i % SET_LOOKAHEAD */
    for (size_t i = 0; i < n && i < SET_LOOKAHEAD; i++) h[i] = mv_strmap_hash(text + e[i].off, e[i].len, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        const uint64_t hi = h[i % SET_LOOKAHEAD];
        const size_t next = i + SET_LOOKAHEAD;
        if (next < n) {
            h[i % SET_LOOKAHEAD] = mv_strmap_hash(text + e[next].off, e[next].len, NULL, 0);
            mv_strmap_prefetch(&tok->by_str, h[i % SET_LOOKAHEAD]);
        }
        mv_status rc = set_token_h(tok, e[i].id, text + e[i].off, e[i].len, hi, where, err);
        if (rc != MV_OK) return rc;
    }
    return MV_OK;
}

/* ------------------------------------------------------------------ added tokens */

int mv_tok_json_bool(const cJSON *obj, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* An integral JSON number in [0, INT32_MAX - 2], else -1. */
static int32_t json_id(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT32_MAX - 2 ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return -1;
    return (int32_t)v->valuedouble;
}

mv_status mv_tok_parse_added(mv_tokenizer *tok, const cJSON *obj, int32_t id, const char *where,
                             mv_error *err) {
    if (!cJSON_IsObject(obj)) return mv_set_error(err, MV_ERR_FORMAT, "%s: not an object", where);
    if (id < 0) id = json_id(cJSON_GetObjectItemCaseSensitive(obj, "id"));
    if (id < 0) return mv_set_error(err, MV_ERR_FORMAT, "%s: \"id\" missing or not a valid token id", where);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(obj, "content");
    if (!cJSON_IsString(content) || !content->valuestring[0])
        return mv_set_error(err, MV_ERR_FORMAT, "%s: \"content\" missing or empty", where);
    mv_tok_added *g = realloc(tok->added, (tok->n_added + 1) * sizeof *g);
    if (!g) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    tok->added = g;
    mv_tok_added *a = &tok->added[tok->n_added];
    memset(a, 0, sizeof *a);
    a->len = strlen(content->valuestring);
    a->content = malloc(a->len + 1);
    if (!a->content) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    memcpy(a->content, content->valuestring, a->len + 1);
    a->id = id;
    a->special = (unsigned)mv_tok_json_bool(obj, "special", 0);
    a->lstrip = (unsigned)mv_tok_json_bool(obj, "lstrip", 0);
    a->rstrip = (unsigned)mv_tok_json_bool(obj, "rstrip", 0);
    a->normalized = (unsigned)mv_tok_json_bool(obj, "normalized", !a->special);
    a->single_word = (unsigned)mv_tok_json_bool(obj, "single_word", 0);
    tok->n_added++;
    mv_status rc = mv_tok_set_token(tok, id, a->content, a->len, where, err);
    if (rc == MV_OK) tok->is_added[id] = a->special ? 2 : 1;
    return rc;
}

static int cmp_added_len_desc(const void *pa, const void *pb, void *ctx) {
    const mv_tok_added *added = ctx;
    const mv_tok_added *a = &added[*(const uint32_t *)pa], *b = &added[*(const uint32_t *)pb];
    if (a->content[0] != b->content[0]) return (uint8_t)a->content[0] < (uint8_t)b->content[0] ? -1 : 1;
    return a->len > b->len ? -1 : a->len < b->len ? 1 : 0;
}

/* Index added tokens by first byte, longest first, so the first hit at a position is the longest. */
static mv_status index_added(mv_tokenizer *tok, mv_error *err) {
    free(tok->by_first);
    tok->by_first = malloc((tok->n_added + 1) * sizeof *tok->by_first);
    if (!tok->by_first) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < tok->n_added; i++) tok->by_first[i] = (uint32_t)i;
    qsort_r(tok->by_first, tok->n_added, sizeof *tok->by_first, cmp_added_len_desc, tok->added);
    size_t j = 0;
    for (int b = 0; b < 256; b++) {
        tok->first_idx[b] = (uint32_t)j;
        while (j < tok->n_added && (uint8_t)tok->added[tok->by_first[j]].content[0] == b) j++;
    }
    tok->first_idx[256] = (uint32_t)j;
    return MV_OK;
}

/* Rust's char::is_whitespace (Unicode White_Space), used by lstrip/rstrip. */
static int is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's str.isspace(), used by the slow tokenizers' lstrip/rstrip: Rust's set plus U+001C..U+001F. */
static int is_py_space(uint32_t c) { return is_white_space(c) || (c >= 0x1C && c <= 0x1F); }

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t cp = 0xFFFD;
    if (mv_utf8_next((const uint8_t *)s + i, n - i, len, &cp) != MV_UTF8_OK) *len = 1;
    return cp;
}

/* Start of the character that ends just before byte i (i > 0). */
static size_t prev_char(const char *s, size_t i) {
    do i--; while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80);
    return i;
}

static int is_word_char(uint32_t c) {
    if (c == '_') return 1;
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

/* single_word: the match must not touch a word character on either side. */
static int single_word_ok(const char *s, size_t n, size_t start, size_t stop) {
    size_t len;
    if (start > 0 && is_word_char(cp_at(s, n, prev_char(s, start), &len))) return 0;
    if (stop < n && is_word_char(cp_at(s, n, stop, &len))) return 0;
    return 1;
}

/* Leftmost-longest added token at or after pos among those with the given `normalized` flag. */
static const mv_tok_added *find_added(const mv_tokenizer *tok, const char *s, size_t n, size_t pos,
                                      int normalized, size_t *start) {
    for (size_t i = pos; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        for (uint32_t j = tok->first_idx[b]; j < tok->first_idx[b + 1]; j++) {
            const mv_tok_added *a = &tok->added[tok->by_first[j]];
            if ((int)a->normalized != normalized || a->len > n - i || memcmp(s + i, a->content, a->len) != 0)
                continue;
            if (a->single_word && !single_word_ok(s, n, i, i + a->len)) continue;
            *start = i;
            return a;
        }
    }
    return NULL;
}

static mv_status encode_gap(const mv_tokenizer *tok, const char *s, size_t n, int pass, mv_tok_ids *out,
                            mv_error *err);

/* Split s on added tokens (pass 0: those matched on the raw text, pass 1: those matched after
 * normalization) and encode the pieces in between. */
static mv_status split_added(const mv_tokenizer *tok, const char *s, size_t n, int pass, mv_tok_ids *out,
                             mv_error *err) {
    size_t gap = 0, start, len;
    const mv_tok_added *a;
    int (*space)(uint32_t) = tok->py_space ? is_py_space : is_white_space;
    while (gap < n && (a = find_added(tok, s, n, gap, pass, &start)) != NULL) {
        size_t stop = start + a->len;
        if (a->lstrip)
            while (start > gap && space(cp_at(s, n, prev_char(s, start), &len))) start = prev_char(s, start);
        if (a->rstrip)
            while (stop < n && space(cp_at(s, n, stop, &len))) stop += len;
        mv_status rc = encode_gap(tok, s + gap, start - gap, pass, out, err);
        if (rc != MV_OK) return rc;
        if (mv_tok_ids_push(out, a->id) != 0) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        gap = stop;
    }
    return encode_gap(tok, s + gap, n - gap, pass, out, err);
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0x80) return 0;
    return 1;
}

/* Starters NFC must not compose here:
 *  - U+11A7, one before the first Hangul trailing consonant: utf8proc (2.8) composed an LV syllable
 *    with it as if it were a trailing consonant of index 0 and dropped it ("가\u11A7" became "가");
 *    NFC composes only U+11A8..U+11C2;
 *  - U+11930, Dives Akuru vowel sign AA: the only canonical pair (U+11935 U+11930 → U+11938, Unicode
 *    13) that the normalizer of HF tokenizers (the reference) does not compose; found by a sweep of
 *    every composition against it.
 * Neither composes with anything else, so the text is normalized piece by piece around them: the same
 * NFC without those two compositions. */
static const char NFC_STOPS[][5] = { "\xE1\x86\xA7", "\xF0\x91\xA4\xB0" };

/* Length of the stop at s (n bytes left), 0 if none. */
static size_t nfc_stop_at(const char *s, size_t n) {
    for (size_t k = 0; k < sizeof NFC_STOPS / sizeof *NFC_STOPS; k++) {
        const size_t len = strlen(NFC_STOPS[k]);
        if (len <= n && memcmp(s, NFC_STOPS[k], len) == 0) return len;
    }
    return 0;
}

/* NFC of s[0, n) appended to out. */
static mv_status nfc_append(const char *s, size_t n, mv_tbuf *out, mv_error *err) {
    while (n > 0) {
        size_t piece = 0, stop = 0;
        while (piece < n && (stop = nfc_stop_at(s + piece, n - piece)) == 0) piece++;
        utf8proc_uint8_t *norm = NULL;
        utf8proc_ssize_t m = piece ? utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)piece, &norm,
                                                  UTF8PROC_STABLE | UTF8PROC_COMPOSE)
                                   : 0;
        if (m < 0) {
            free(norm);
            return mv_set_error(err, m == UTF8PROC_ERROR_NOMEM ? MV_ERR_NOMEM : MV_ERR_ARG, "NFC normalization: %s",
                                utf8proc_errmsg(m));
        }
        const int fail = mv_tbuf_append(out, (const char *)norm, (size_t)m) != 0 ||
                         mv_tbuf_append(out, s + piece, stop) != 0;
        free(norm);
        if (fail) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        s += piece + stop;
        n -= piece + stop;
    }
    return MV_OK;
}

static mv_status encode_gap(const mv_tokenizer *tok, const char *s, size_t n, int pass, mv_tok_ids *out,
                            mv_error *err) {
    if (n == 0) return MV_OK;
    if (pass == 1) return tok->ops->encode(tok, s, n, out, err);
    if (!tok->nfc || is_ascii(s, n)) return split_added(tok, s, n, 1, out, err); /* ASCII is NFC */
    mv_tbuf norm = {0};
    mv_status rc = nfc_append(s, n, &norm, err);
    if (rc == MV_OK) rc = split_added(tok, norm.p ? norm.p : "", norm.n, 1, out, err);
    mv_tbuf_free(&norm);
    return rc;
}

#define SPIECE_UNDERLINE "\xE2\x96\x81" /* U+2581 ▁ */

int mv_tok_unescape_spaces(const char *s, size_t n, mv_tbuf *out) {
    size_t done = 0; /* copy the runs between underlines in one go */
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(s + i, SPIECE_UNDERLINE, 3) != 0) continue;
        if (mv_tbuf_append(out, s + done, i - done) != 0 || mv_tbuf_append(out, " ", 1) != 0) return -1;
        done = i + 3;
        i += 2;
    }
    return mv_tbuf_append(out, s + done, n - done);
}

static int is_llama_special(const mv_tokenizer *tok, int32_t id) {
    for (size_t i = 0; i < tok->n_llama_specials; i++)
        if (tok->llama_specials[i] == id) return 1;
    return 0;
}

/* transformers' LlamaTokenizer.tokenize with legacy=False: the prefix "▁" goes in front of the whole
 * input only (the model runs with add_dummy_prefix off), and is taken out again when it stands alone
 * before a special token such as "<s>". */
static mv_status encode_llama(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out,
                              mv_error *err) {
    mv_tbuf t = {0};
    int oom = mv_tbuf_append(&t, SPIECE_UNDERLINE, 3) != 0 || mv_tok_unescape_spaces(text, len, &t) != 0;
    size_t first = out->n;
    mv_status rc = oom ? mv_set_error(err, MV_ERR_NOMEM, "out of memory") : split_added(tok, t.p, t.n, 0, out, err);
    mv_tbuf_free(&t);
    if (rc == MV_OK && out->n - first > 1 && out->v[first] == tok->llama_lone_id &&
        is_llama_special(tok, out->v[first + 1])) {
        memmove(out->v + first, out->v + first + 1, (out->n - first - 1) * sizeof *out->v);
        out->n--;
    }
    return rc;
}

mv_status mv_tok_encode(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out,
                        mv_error *err) {
    if (!tok || !out || (!text && len)) return mv_set_error(err, MV_ERR_ARG, "tokenize: NULL argument");
    if (!mv_utf8_valid(text, len)) return mv_set_error(err, MV_ERR_ARG, "tokenize: text is not valid UTF-8");
    if (tok->llama_prefix && len > 0) return encode_llama(tok, text, len, out, err);
    return split_added(tok, text, len, 0, out, err);
}

/* ------------------------------------------------------------------ decoding */

const char *mv_tok_token_bytes(const mv_tokenizer *tok, int32_t id, size_t *len) {
    if (!tok || id < 0 || id >= tok->n_vocab || tok->byte_len[id] == MV_TOK_NONE) return NULL;
    if (len) *len = tok->byte_len[id];
    return tok->bytes.p + tok->byte_off[id];
}

static mv_status unknown_id(mv_error *err, int32_t id, int32_t n_vocab) {
    return mv_set_error(err, MV_ERR_ARG, "detokenize: unknown token id %ld (vocabulary has %ld ids)", (long)id,
                        (long)n_vocab);
}

mv_status mv_tok_decode(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                        size_t *len, mv_error *err) {
    if (!tok || !text || (!ids && n_ids)) return mv_set_error(err, MV_ERR_ARG, "detokenize: NULL argument");
    mv_tbuf raw = {0}, out = {0};
    mv_status rc = MV_OK;
    for (size_t i = 0; i < n_ids && rc == MV_OK; i++) {
        size_t n;
        const char *b = mv_tok_token_bytes(tok, ids[i], &n);
        if (!b) rc = unknown_id(err, ids[i], tok->n_vocab);
        else if (mv_tbuf_append(&raw, b, n) != 0) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    }
    size_t skip = tok->strip_first_space && raw.n > 0 && raw.p[0] == ' ';
    if (rc == MV_OK && (mv_utf8_lossy((const uint8_t *)raw.p + skip, raw.n - skip, 1, &out, NULL) != 0 ||
                        mv_tbuf_append(&out, "", 0) != 0))
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    mv_tbuf_free(&raw);
    if (rc != MV_OK) { mv_tbuf_free(&out); return rc; }
    *text = out.p;
    if (len) *len = out.n;
    return MV_OK;
}

struct mv_tok_stream {
    const mv_tokenizer *tok;
    mv_tbuf pending; /* bytes of a character not finished yet (at most 3) */
    mv_tbuf out;
    int started;     /* some bytes have been seen (for strip_first_space) */
};

mv_status mv_tok_stream_new(const mv_tokenizer *tok, mv_tok_stream **out, mv_error *err) {
    if (!tok || !out) return mv_set_error(err, MV_ERR_ARG, "stream decoder: NULL argument");
    *out = calloc(1, sizeof **out);
    if (!*out) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    (*out)->tok = tok;
    return MV_OK;
}

static mv_status stream_emit(mv_tok_stream *s, int final, const char **text, size_t *len, mv_error *err) {
    size_t used = 0;
    s->out.n = 0;
    if (mv_utf8_lossy((const uint8_t *)s->pending.p, s->pending.n, final, &s->out, &used) != 0 ||
        mv_tbuf_append(&s->out, "", 0) != 0)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (s->pending.n > used) memmove(s->pending.p, s->pending.p + used, s->pending.n - used);
    s->pending.n -= used;
    *text = s->out.p;
    *len = s->out.n;
    return MV_OK;
}

mv_status mv_tok_stream_push(mv_tok_stream *s, int32_t id, const char **text, size_t *len, mv_error *err) {
    if (!s || !text || !len) return mv_set_error(err, MV_ERR_ARG, "stream decoder: NULL argument");
    *text = "";
    *len = 0;
    size_t n;
    const char *b = mv_tok_token_bytes(s->tok, id, &n);
    if (!b) return unknown_id(err, id, s->tok->n_vocab);
    if (!s->started && n > 0) {
        s->started = 1;
        if (s->tok->strip_first_space && b[0] == ' ') b++, n--;
    }
    if (mv_tbuf_append(&s->pending, b, n) != 0) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    return stream_emit(s, 0, text, len, err);
}

mv_status mv_tok_stream_flush(mv_tok_stream *s, const char **text, size_t *len, mv_error *err) {
    if (!s || !text || !len) return mv_set_error(err, MV_ERR_ARG, "stream decoder: NULL argument");
    return stream_emit(s, 1, text, len, err);
}

void mv_tok_stream_free(mv_tok_stream *s) {
    if (!s) return;
    mv_tbuf_free(&s->pending);
    mv_tbuf_free(&s->out);
    free(s);
}

/* ------------------------------------------------------------------ lookups */

int32_t mv_tok_token_id(const mv_tokenizer *tok, const char *s, size_t n) {
    return (tok && s) ? mv_strmap_get(&tok->by_str, s, n) : -1;
}

int32_t mv_tok_vocab_size(const mv_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

int32_t mv_tok_bos_id(const mv_tokenizer *tok) { return tok ? tok->bos_id : -1; }

int mv_tok_is_special(const mv_tokenizer *tok, int32_t id) {
    return tok && id >= 0 && id < tok->n_vocab && tok->is_added[id] == 2;
}

/* ------------------------------------------------------------------ loading */

static mv_status parse_normalizer(mv_tokenizer *tok, const cJSON *norm, const char *path, mv_error *err) {
    if (!norm || cJSON_IsNull(norm)) return MV_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(norm, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "(none)";
    if (strcmp(t, "NFC") == 0) {
        tok->nfc = 1;
        return MV_OK;
    }
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(norm, "normalizers")) {
            mv_status rc = parse_normalizer(tok, item, path, err);
            if (rc != MV_OK) return rc;
        }
        return MV_OK;
    }
    return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported", path, t);
}

static mv_status parse_added_list(mv_tokenizer *tok, const cJSON *list, const char *path, mv_error *err) {
    if (!list || cJSON_IsNull(list)) return MV_OK;
    if (!cJSON_IsArray(list)) return mv_set_error(err, MV_ERR_FORMAT, "%s: \"added_tokens\" is not an array", path);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        char where[600];
        snprintf(where, sizeof where, "%s: added_tokens[%d]", path, i++);
        mv_status rc = mv_tok_parse_added(tok, item, -1, where, err);
        if (rc != MV_OK) return rc;
    }
    return MV_OK;
}

static cJSON *parse_json_text(const char *path, const char *text, size_t len, mv_error *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        mv_set_error(err, MV_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", path, at);
    } else if (!cJSON_IsObject(root)) {
        mv_set_error(err, MV_ERR_FORMAT, "%s: top level is not a JSON object", path);
        cJSON_Delete(root);
        root = NULL;
    }
    return root;
}

static cJSON *parse_json_file(const char *path, mv_error *err) {
    size_t len;
    char *text = mv_read_file(path, MAX_TOKENIZER_FILE, &len, err);
    if (!text) return NULL;
    cJSON *root = parse_json_text(path, text, len, err);
    free(text);
    return root;
}

/* Locate model.vocab and model.merges in the text (json_scan.h) and cut them out of a copy for cJSON,
 * which then parses only the small rest. Anything unexpected leaves the spans unset and the copy whole:
 * cJSON's DOM then reports what is wrong. */
static char *split_big_values(const char *text, size_t len, mv_bpe_json_text *big, size_t *rest_len) {
    const char *end = text + len;
    static const char *const keys[2] = {"vocab", "merges"};
    mv_json_span parts[2] = {{0}}, cut[2] = {{0}};
    const char *model = mv_json_find(text, end, "model");
    if (model && mv_json_members(model, end, keys, parts, 2)) memcpy(cut, parts, sizeof cut);
    big->text = text;
    big->vocab = cut[0];
    big->merges = cut[1];
    if (cut[0].p && cut[1].p && cut[1].p < cut[0].p) {
        mv_json_span t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
    }
    char *rest = malloc(len + 8), *w = rest; /* each cut value is >= 1 byte, replaced by 4 */
    if (!rest) return NULL;
    const char *from = text;
    for (int k = 0; k < 2; k++) {
        if (!cut[k].p) continue;
        memcpy(w, from, (size_t)(cut[k].p - from));
        w += cut[k].p - from;
        memcpy(w, "null", 4); /* the DOM is never asked for these two */
        w += 4;
        from = cut[k].end;
    }
    memcpy(w, from, (size_t)(end - from));
    w += end - from;
    *rest_len = (size_t)(w - rest);
    return rest;
}

static mv_status load_tokenizer_json(mv_tokenizer *tok, const char *path, mv_error *err) {
    size_t len, rest_len = 0;
    char *text = mv_read_file(path, MAX_TOKENIZER_FILE, &len, err);
    if (!text) return err ? err->code : MV_ERR_IO;
    mv_bpe_json_text big;
    char *rest = split_big_values(text, len, &big, &rest_len);
    cJSON *root = rest ? parse_json_text(path, rest, rest_len, err) : NULL;
    mv_status rc = MV_OK;
    if (!rest) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    else if (!root) rc = err ? err->code : MV_ERR_FORMAT;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (rc != MV_OK) {
    } else if (!cJSON_IsObject(model)) {
        rc = mv_set_error(err, MV_ERR_FORMAT, "%s: \"model\" missing or not an object", path);
    } else if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "BPE") == 0)) {
        rc = mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: model.type \"%s\" is not supported (only BPE)", path,
                          cJSON_IsString(type) ? type->valuestring : "?");
    } else {
        rc = mv_bpe_load_json(tok, root, &big, path, err);
    }
    if (rc == MV_OK) rc = parse_added_list(tok, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path, err);
    if (rc == MV_OK) rc = parse_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err);
    cJSON_Delete(root);
    free(rest);
    free(text);
    return rc;
}

mv_status mv_tok_parse_added_decoder(mv_tokenizer *tok, const cJSON *cfg, const char *path, mv_error *err) {
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder"), *item;
    if (dec && !cJSON_IsObject(dec))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: \"added_tokens_decoder\" is not an object", path);
    cJSON_ArrayForEach(item, dec) {
        char where[600];
        snprintf(where, sizeof where, "%s: added_tokens_decoder[\"%.40s\"]", path, item->string);
        char *end;
        long id = strtol(item->string, &end, 10);
        mv_status rc = (!item->string[0] || *end || id < 0 || id > INT32_MAX - 2)
                           ? mv_set_error(err, MV_ERR_FORMAT, "%s: key is not a token id", where)
                           : mv_tok_parse_added(tok, item, (int32_t)id, where, err);
        if (rc != MV_OK) return rc;
    }
    return MV_OK;
}

/* dir/name parsed when the file exists (*out NULL when not); *path gets the joined path. */
static mv_status optional_json(const char *dir, const char *name, cJSON **out, char **path, mv_error *err) {
    *out = NULL;
    *path = mv_path_join(dir, name);
    if (!*path) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    struct stat st;
    if (stat(*path, &st) != 0) return MV_OK;
    *out = parse_json_file(*path, err);
    return *out ? MV_OK : err ? err->code : MV_ERR_FORMAT;
}

/* tokenizer_config.json: the tokenizer class and "added_tokens_decoder" ({"id": {...}}). Optional. */
static mv_status load_tokenizer_config(mv_tokenizer *tok, const char *dir, const char *vocab_path,
                                       const char *merges_path, mv_error *err) {
    char *path = NULL;
    cJSON *cfg = NULL;
    mv_status rc = optional_json(dir, "tokenizer_config.json", &cfg, &path, err);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class");
    if (rc == MV_OK)
        rc = mv_bpe_load_files(tok, vocab_path, merges_path, cJSON_IsString(cls) ? cls->valuestring : NULL, err);
    if (rc == MV_OK) rc = mv_tok_parse_added_decoder(tok, cfg, path, err);
    cJSON_Delete(cfg);
    free(path);
    return rc;
}

/* Decoded bytes of every token, computed once so decoding is a table lookup. */
static mv_status finalize(mv_tokenizer *tok, mv_error *err) {
    /* decoded bytes are about as long as the spellings: one allocation rather than ~20 doublings */
    if (mv_tbuf_reserve(&tok->bytes, tok->strs.n + (size_t)tok->n_vocab) != 0)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        if (tok->str_len[id] == MV_TOK_NONE) continue;
        size_t before = tok->bytes.n;
        if (tok->ops->token_bytes(tok, tok->strs.p + tok->str_off[id], tok->str_len[id], &tok->bytes) != 0 ||
            mv_tbuf_append(&tok->bytes, "", 0) != 0 || tok->bytes.n > UINT32_MAX)
            return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        tok->byte_off[id] = (uint32_t)before;
        tok->byte_len[id] = (uint32_t)(tok->bytes.n - before);
    }
    if (tok->n_vocab == 0) return mv_set_error(err, MV_ERR_FORMAT, "tokenizer: empty vocabulary");
    return index_added(tok, err);
}

static int file_exists(const char *dir, const char *name, char **path) {
    *path = mv_path_join(dir, name);
    struct stat st;
    return *path && stat(*path, &st) == 0 && S_ISREG(st.st_mode);
}

/* SentencePiece (tokenizer.model) is the slow tokenizer InternVL loads for InternLM2 / Phi-3; the slow
 * tokenizer's settings come from tokenizer_config.json and special_tokens_map.json. */
static mv_status load_sentencepiece(mv_tokenizer *tok, const char *dir, const char *path, mv_error *err) {
    char *cfg_path = NULL, *map_path = NULL;
    cJSON *cfg = NULL, *map = NULL;
    mv_status rc = optional_json(dir, "tokenizer_config.json", &cfg, &cfg_path, err);
    if (rc == MV_OK) rc = optional_json(dir, "special_tokens_map.json", &map, &map_path, err);
    if (rc == MV_OK) rc = mv_spm_load(tok, path, cfg, cfg_path, map, err);
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    free(cfg_path);
    free(map_path);
    return rc;
}

static mv_status load_dir(mv_tokenizer *tok, const char *dir, mv_error *err) {
    char *spm = NULL, *json = NULL, *vocab = NULL, *merges = NULL;
    mv_status rc;
    /* Order mirrors what InternVL loads (use_fast=False): a SentencePiece model when there is one,
     * else the fast tokenizer.json, else the slow byte-level BPE files. */
    if (file_exists(dir, "tokenizer.model", &spm))
        rc = load_sentencepiece(tok, dir, spm, err);
    else if (file_exists(dir, "tokenizer.json", &json))
        rc = load_tokenizer_json(tok, json, err);
    else if (file_exists(dir, "vocab.json", &vocab) && file_exists(dir, "merges.txt", &merges))
        rc = load_tokenizer_config(tok, dir, vocab, merges, err);
    else
        rc = mv_set_error(err, MV_ERR_IO,
                          "%s: no tokenizer files (tokenizer.json, vocab.json + merges.txt, or tokenizer.model)",
                          dir);
    free(spm);
    free(json);
    free(vocab);
    free(merges);
    return rc == MV_OK ? finalize(tok, err) : rc;
}

/* ------------------------------------------------------------------ public API */

void mv_tokenizer_free(mv_tokenizer *tok) {
    if (!tok) return;
    if (tok->ops && tok->ops->destroy) tok->ops->destroy(tok->impl);
    for (size_t i = 0; i < tok->n_added; i++) free(tok->added[i].content);
    free(tok->added);
    free(tok->str_off);
    free(tok->str_len);
    free(tok->byte_off);
    free(tok->byte_len);
    free(tok->is_added);
    free(tok->by_first);
    free(tok->llama_specials);
    mv_tbuf_free(&tok->strs);
    mv_tbuf_free(&tok->bytes);
    mv_strmap_free(&tok->by_str);
    free(tok);
}

mv_status mv_tokenizer_load_dir(const char *dir, mv_tokenizer **out, mv_error *err) {
    if (!dir || !out) return mv_set_error(err, MV_ERR_ARG, "mv_tokenizer_load_dir: NULL argument");
    *out = NULL;
    mv_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    tok->bos_id = tok->llama_lone_id = -1;
    mv_status rc = load_dir(tok, dir, err);
    if (rc != MV_OK) {
        mv_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return MV_OK;
}

mv_status mv_tokenizer_encode_text(const mv_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                                   size_t *n_ids, mv_error *err) {
    if (!ids || !n_ids) return mv_set_error(err, MV_ERR_ARG, "tokenize: NULL argument");
    mv_tok_ids a = {0};
    mv_status rc = mv_tok_encode(tok, text, len, &a, err);
    if (rc == MV_OK && !a.v && mv_tok_ids_push(&a, 0) == 0) a.n = 0; /* always hand back a buffer */
    if (rc == MV_OK && !a.v) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (rc != MV_OK) {
        mv_tok_ids_free(&a);
        return rc;
    }
    *ids = a.v;
    *n_ids = a.n;
    return MV_OK;
}

mv_status mv_tokenizer_decode_ids(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                  mv_error *err) {
    return mv_tok_decode(tok, ids, n_ids, text, NULL, err);
}

mv_status mv_tokenizer_decode_ids_len(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                                      size_t *len, mv_error *err) {
    return mv_tok_decode(tok, ids, n_ids, text, len, err);
}
