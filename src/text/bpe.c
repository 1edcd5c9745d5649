/* bpe.c — byte-level BPE model (GPT-2 / Qwen2 style): pre-tokenizer regexes (PCRE2, UTF + UCP), the
 * GPT-2 byte↔unicode map, and the merge loop: a min-heap of candidate pairs keyed by (merge rank,
 * position) over a linked list of symbols, so a piece of n bytes costs O(n log n) with no cache.
 * Loads from tokenizer.json or from vocab.json + merges.txt. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "text/tokenizer.h"

#define MAX_STAGES 8
#define MAX_VOCAB_FILE ((size_t)256 << 20)

/* Oniguruma's (HF tokenizers') \s is [\t\n\v\f\r\x85\p{Z}]; PCRE2's UCP \s also takes U+180E, so the
 * patterns are rewritten with this explicit set. */
#define WS_SET "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}"

/* Letters and numbers Unicode 15.0-16.0 added, which HF tokenizers' regex engine (Oniguruma, Unicode
 * 16.0) classes as \p{L} / \p{N} and Debian's PCRE2 10.42 (Unicode 14 tables) as unassigned: the
 * patterns' \p{L} and \p{N} are widened with them. Found by a differential sweep of every code point
 * below U+34000 against HF tokenizers 0.23.2 (Qwen2 and GPT-2 patterns): these are exactly the code
 * points that disagreed, all letters or numbers in Unicode 16 (CJK Ext H and I, Egyptian Hieroglyphs
 * Ext-A, Garay, Kirat Rai, Sunuwar, Tulu-Tigalari...). */
#define NEW_LETTERS                                                                                           \
    "\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CD}\\x{A7DA}-\\x{A7DC}\\x{105C0}-\\x{105F3}\\x{10D4A}-\\x{10D65}"        \
    "\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC4}\\x{1123F}-\\x{11240}\\x{11380}-\\x{11389}\\x{1138B}\\x{1138E}"  \
    "\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11F02}\\x{11F04}-\\x{11F10}"    \
    "\\x{11F12}-\\x{11F33}\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}\\x{16100}-\\x{1611D}"              \
    "\\x{16D40}-\\x{16D6C}\\x{18CFF}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}"                \
    "\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{2B739}\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}"
#define NEW_NUMBERS                                                                                           \
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11F50}-\\x{11F59}\\x{16130}-\\x{16139}"  \
    "\\x{16D70}-\\x{16D79}\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}"

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* One pre-tokenizer step: split by a regex (matches and the gaps between them become pieces), or the
 * ByteLevel step (optional prefix space) that precedes BPE. */
typedef struct stage {
    pcre2_code *re;        /* NULL for the prefix-space step */
    int add_prefix_space;
} stage;

typedef struct bpe {
    /* merges: key ((left << 32) | right) + 1 (0 = empty slot) -> rank and merged id */
    uint64_t *mkey;
    uint32_t *mrank;
    int32_t *mnew;
    size_t mcap;
    int mshift;             /* 64 - log2(mcap): the slot is the top bits of a multiplicative hash */
    int32_t byte_id[256];   /* id of the one-byte token for each byte, -1 if absent */
    uint16_t byte_cp[256];  /* GPT-2 bytes_to_unicode */
    int16_t cp_byte[324];   /* inverse, -1 for code points that stand for no byte */
    int32_t unk_id;
    int ignore_merges;
    stage stages[MAX_STAGES];
    int n_stages;
} bpe;

/* ------------------------------------------------------------------ byte <-> unicode */

/* Printable Latin-1 bytes stand for themselves; the rest (controls, space, DEL, NBSP, soft hyphen...)
 * are moved to U+0100 upward in byte order, so every byte is a visible character. */
static void init_byte_map(bpe *b) {
    int next = 256;
    for (int i = 0; i < 324; i++) b->cp_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        int keep = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
        b->byte_cp[c] = (uint16_t)(keep ? c : next++);
        b->cp_byte[b->byte_cp[c]] = (int16_t)c;
    }
}

/* Byte-level spelling of raw bytes ("Ġhello" for " hello"). */
static int spell_bytes(const bpe *b, const uint8_t *s, size_t n, mv_tbuf *out) {
    for (size_t i = 0; i < n; i++) {
        char u[4];
        if (mv_tbuf_append(out, u, mv_utf8_encode(b->byte_cp[s[i]], u)) != 0) return -1;
    }
    return 0;
}

/* HF ByteLevel decoder: a token whose characters all map to bytes gives those bytes; any other token
 * (an added token such as "  " or "é") gives its own UTF-8 text. */
static int bpe_token_bytes(const mv_tokenizer *tok, const char *s, size_t n, mv_tbuf *out) {
    const bpe *b = tok->impl;
    /* at most n bytes (one per code point), written in place: appended one at a time they were a
     * tenth of loading a tokenizer */
    if (mv_tbuf_reserve(out, n) != 0) return -1;
    size_t i = 0, len, o = out->n;
    while (i < n) {
        uint32_t cp;
        if (mv_utf8_next((const uint8_t *)s + i, n - i, &len, &cp) != MV_UTF8_OK || cp >= 324 || b->cp_byte[cp] < 0)
            break;
        out->p[o++] = (char)(uint8_t)b->cp_byte[cp];
        i += len;
    }
    if (i < n) return mv_tbuf_append(out, s, n); /* not a byte-level spelling: the text itself */
    out->n = o;
    out->p[o] = 0;
    return 0;
}

/* ------------------------------------------------------------------ merges table */

static size_t pair_slot(const bpe *b, uint64_t key) {
    size_t mask = b->mcap - 1, i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> b->mshift);
    while (b->mkey[i] && b->mkey[i] != key) i = (i + 1) & mask;
    return i;
}

static uint64_t pair_key(int32_t l, int32_t r) { return (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1; }

/* Rank of merging (l, r) and the merged id, or 0 when there is no such merge (ranks stored + 1). */
static uint32_t pair_rank(const bpe *b, int32_t l, int32_t r, int32_t *merged) {
    *merged = -1;
    size_t i = pair_slot(b, pair_key(l, r));
    if (!b->mkey[i]) return 0;
    *merged = b->mnew[i];
    return b->mrank[i];
}

static mv_status alloc_merges(bpe *b, size_t n_merges, mv_error *err) {
    b->mcap = 1024;
    b->mshift = 64 - 10;
    while (b->mcap < n_merges * 2) {
        b->mcap *= 2;
        b->mshift--;
    }
    free(b->mkey);
    free(b->mrank);
    free(b->mnew);
    b->mkey = malloc(b->mcap * sizeof *b->mkey);
    b->mrank = malloc(b->mcap * sizeof *b->mrank);
    b->mnew = malloc(b->mcap * sizeof *b->mnew);
    if (!b->mkey || !b->mrank || !b->mnew) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    /* zeroed by writing: calloc's pages, read first by a probe, faulted twice (zero page, then copy) */
    memset(b->mkey, 0, b->mcap * sizeof *b->mkey);
    return MV_OK;
}

/* Merges resolved to ids, in rank order (index = rank), before they go into the pair table. Inserting
 * each merge as it is resolved, without this list, loaded ~20% slower: the table's probes then sit
 * between the vocabulary lookups instead of running as one pass of independent misses. */
typedef struct merge_list {
    int32_t (*v)[3]; /* left id, right id, merged id */
    size_t n;
} merge_list;

/* The pair table over the list; a repeated pair takes the later rank, as HF does. */
static mv_status index_merges(bpe *b, const merge_list *ml, mv_error *err) {
    mv_status rc = alloc_merges(b, ml->n, err);
    for (size_t rank = 0; rank < ml->n && rc == MV_OK; rank++) {
        const uint64_t key = pair_key(ml->v[rank][0], ml->v[rank][1]);
        size_t i = pair_slot(b, key);
        b->mkey[i] = key;
        b->mrank[i] = (uint32_t)rank + 1;
        b->mnew[i] = ml->v[rank][2];
    }
    return rc;
}

/* Merges as read, before their tokens are looked up: both sides' bytes in text, and where each came
 * from (formatted only for an error message: loading runs over ~150k merges). */
typedef struct merge_text {
    uint32_t left, n_left, right, n_right; /* offsets and lengths in text */
    size_t where;                          /* merge index or line number, for `what` */
} merge_text;

typedef struct pending_merges {
    const char *path, *what; /* what: "model.merges[%zu]" or "line %zu" */
    merge_text *v;
    size_t n, cap;
    mv_tbuf text;
} pending_merges;

static void pending_free(pending_merges *pm) {
    free(pm->v);
    mv_tbuf_free(&pm->text);
}

static mv_status merge_error(mv_error *err, const pending_merges *pm, size_t where, const char *fmt, ...) {
    char at[600], msg[400];
    snprintf(at, sizeof at, "%s: ", pm->path);
    size_t n = strlen(at);
    snprintf(at + n, sizeof at - n, pm->what, where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mv_set_error(err, MV_ERR_FORMAT, "%s: %s", at, msg);
}

/* Queue the merge "left right" (next rank). */
static mv_status queue_merge(pending_merges *pm, const char *l, size_t nl, const char *r, size_t nr, size_t where,
                             mv_error *err) {
    if (pm->n >= UINT32_MAX - 1 || pm->text.n + nl + nr >= UINT32_MAX)
        return merge_error(err, pm, where, "too many merges");
    if (pm->n == pm->cap) {
        size_t cap = pm->cap ? pm->cap * 2 : 4096;
        merge_text *g = realloc(pm->v, cap * sizeof *g);
        if (!g) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        pm->v = g;
        pm->cap = cap;
    }
    const uint32_t at = (uint32_t)pm->text.n;
    if (mv_tbuf_append(&pm->text, l, nl) != 0 || mv_tbuf_append(&pm->text, r, nr) != 0)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    pm->v[pm->n++] = (merge_text){ at, (uint32_t)nl, at + (uint32_t)nl, (uint32_t)nr, where };
    return MV_OK;
}

/* "left right" (exactly one space, as HF requires). */
static mv_status queue_merge_line(pending_merges *pm, const char *s, size_t n, size_t where, mv_error *err) {
    const char *sp = memchr(s, ' ', n);
    if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1)) return merge_error(err, pm, where, "expected \"left right\"");
    return queue_merge(pm, s, (size_t)(sp - s), sp + 1, n - (size_t)(sp - s) - 1, where, err);
}

/* Each merge's left, right and concatenated strings looked up in the vocabulary. One at a time these
 * lookups waited on a cache miss each (~35% of loading a Qwen2 tokenizer): the keys of the merge
 * MERGE_LOOKAHEAD ahead are hashed and their first slots prefetched. */
enum { MERGE_LOOKAHEAD = 8 };

static void hash_merge(const pending_merges *pm, size_t i, uint64_t h[3]) {
    const merge_text *m = &pm->v[i];
    const char *t = pm->text.p;
    h[0] = mv_strmap_hash(t + m->left, m->n_left, NULL, 0);
    h[1] = mv_strmap_hash(t + m->right, m->n_right, NULL, 0);
    h[2] = mv_strmap_hash(t + m->left, m->n_left, t + m->right, m->n_right);
}

static mv_status resolve_merges(const mv_tokenizer *tok, const pending_merges *pm, merge_list *ml, mv_error *err) {
    const mv_strmap *map = &tok->by_str;
    ml->v = malloc((pm->n ? pm->n : 1) * sizeof *ml->v);
    ml->n = 0;
    if (!ml->v) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    uint64_t h[MERGE_LOOKAHEAD][3]; /* a ring: merge i's hashes at i % MERGE_LOOKAHEAD */
    for (size_t i = 0; i < pm->n && i < MERGE_LOOKAHEAD; i++) hash_merge(pm, i, h[i]);
    for (size_t i = 0; i < pm->n; i++) {
        uint64_t hi[3];
        memcpy(hi, h[i % MERGE_LOOKAHEAD], sizeof hi);
        if (i + MERGE_LOOKAHEAD < pm->n) {
            hash_merge(pm, i + MERGE_LOOKAHEAD, h[i % MERGE_LOOKAHEAD]);
            for (int k = 0; k < 3; k++) mv_strmap_prefetch(map, h[i % MERGE_LOOKAHEAD][k]);
        }
        const merge_text *m = &pm->v[i];
        const char *l = pm->text.p + m->left, *r = pm->text.p + m->right;
        const size_t nl = m->n_left, nr = m->n_right;
        const int32_t li = mv_strmap_get_h(map, hi[0], l, nl, NULL, 0), ri = mv_strmap_get_h(map, hi[1], r, nr, NULL, 0);
        if (li < 0 || ri < 0)
            return merge_error(err, pm, m->where, "token \"%.*s\" not in the vocabulary",
                               (int)(li < 0 ? (nl > 64 ? 64 : nl) : (nr > 64 ? 64 : nr)), li < 0 ? l : r);
        const int32_t merged = mv_strmap_get_h(map, hi[2], l, nl, r, nr);
        if (merged < 0)
            return merge_error(err, pm, m->where, "merged token \"%.*s%.*s\" not in the vocabulary",
                               (int)(nl > 64 ? 64 : nl), l, (int)(nr > 64 ? 64 : nr), r);
        ml->v[ml->n][0] = li;
        ml->v[ml->n][1] = ri;
        ml->v[ml->n][2] = merged;
        ml->n++;
    }
    return MV_OK;
}

/* The queued merges looked up and indexed. */
static mv_status finish_merges(mv_tokenizer *tok, const pending_merges *pm, mv_error *err) {
    merge_list ml = {0};
    mv_status rc = resolve_merges(tok, pm, &ml, err);
    if (rc == MV_OK) rc = index_merges(tok->impl, &ml, err);
    free(ml.v);
    return rc;
}

/* ------------------------------------------------------------------ pre-tokenizer */

/* The class escapes rewritten for Oniguruma's meaning: set members, as written inside [...]. */
static const struct class_escape {
    const char *escape, *members;
} CLASS_ESCAPES[] = {
    { "\\s", WS_SET },
    { "\\p{L}", "\\p{L}" NEW_LETTERS },
    { "\\p{N}", "\\p{N}" NEW_NUMBERS },
};

/* Copy pattern, replacing \s, \p{L} and \p{N} (outside and inside [...]) and \S (outside) by the sets
 * Oniguruma means by them. */
static int translate_pattern(const char *p, size_t n, mv_tbuf *out) {
    int in_class = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            const struct class_escape *ce = NULL;
            for (size_t e = 0; e < sizeof CLASS_ESCAPES / sizeof *CLASS_ESCAPES; e++) {
                const size_t len = strlen(CLASS_ESCAPES[e].escape);
                if (len <= n - i && memcmp(p + i, CLASS_ESCAPES[e].escape, len) == 0) ce = &CLASS_ESCAPES[e];
            }
            if (ce) {
                if (!in_class) rc = mv_tbuf_append(out, "[", 1);
                if (rc == 0) rc = mv_tbuf_append(out, ce->members, strlen(ce->members));
                if (rc == 0 && !in_class) rc = mv_tbuf_append(out, "]", 1);
                i += strlen(ce->escape) - 1;
                continue;
            }
            char d = p[++i];
            rc = d == 'S' && !in_class ? mv_tbuf_append(out, "[^" WS_SET "]", strlen("[^" WS_SET "]"))
                                       : mv_tbuf_append(out, p + i - 1, 2);
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            rc = mv_tbuf_append(out, "[", 1);
            if (rc == 0 && i + 1 < n && p[i + 1] == '^') rc = mv_tbuf_append(out, p + ++i, 1);
            if (rc == 0 && i + 1 < n && p[i + 1] == ']') rc = mv_tbuf_append(out, p + ++i, 1); /* literal ] */
            continue;
        }
        if (c == ']' && in_class) in_class = 0;
        rc = mv_tbuf_append(out, &c, 1);
    }
    return rc;
}

static mv_status add_regex_stage(bpe *b, const char *pat, size_t n, int literal, const char *where, mv_error *err) {
    if (b->n_stages >= MAX_STAGES) return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: too many pre-tokenizers", where);
    mv_tbuf t = {0};
    if ((literal ? mv_tbuf_append(&t, pat, n) : translate_pattern(pat, n, &t)) != 0 || mv_tbuf_append(&t, "", 0) != 0) {
        mv_tbuf_free(&t);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    }
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)t.p, t.n, PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0), &code,
                                   &off, NULL);
    mv_tbuf_free(&t);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: regex does not compile (%s at offset %zu)", where,
                            (const char *)msg, (size_t)off);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    b->stages[b->n_stages++] = (stage){.re = re};
    return MV_OK;
}

static mv_status add_byte_level_stage(bpe *b, int add_prefix_space, int use_regex, const char *where, mv_error *err) {
    if (add_prefix_space) {
        if (b->n_stages >= MAX_STAGES) return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: too many pre-tokenizers", where);
        b->stages[b->n_stages++] = (stage){.add_prefix_space = 1};
    }
    return use_regex ? add_regex_stage(b, GPT2_PATTERN, strlen(GPT2_PATTERN), 0, where, err) : MV_OK;
}

static const char *json_type(const cJSON *obj) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? t->valuestring : "(none)";
}

static mv_status parse_split(bpe *b, const cJSON *pt, const char *where, mv_error *err) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex"), *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(pt, "behavior");
    if (!cJSON_IsString(re) && !cJSON_IsString(str))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: Split lacks pattern.Regex / pattern.String", where);
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0 || mv_tok_json_bool(pt, "invert", 0))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: only Split with behavior \"Isolated\" is supported", where);
    const char *p = cJSON_IsString(re) ? re->valuestring : str->valuestring;
    return add_regex_stage(b, p, strlen(p), !cJSON_IsString(re), where, err);
}

/* pre_tokenizer: [Sequence of] Split(Isolated)* then ByteLevel, which must come last. */
static mv_status parse_pre_tokenizer(bpe *b, const cJSON *pt, const char *path, mv_error *err) {
    char where[600];
    snprintf(where, sizeof where, "%s: pre_tokenizer", path);
    const cJSON *items = pt, *one = NULL;
    if (strcmp(json_type(pt), "Sequence") == 0) items = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    else one = pt;
    int seen_byte_level = 0;
    const cJSON *item = one ? one : (cJSON_IsArray(items) ? items->child : NULL);
    for (; item; item = one ? NULL : item->next) {
        const char *t = json_type(item);
        mv_status rc;
        if (seen_byte_level)
            return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: \"%s\" after ByteLevel is not supported", where, t);
        if (strcmp(t, "Split") == 0) {
            rc = parse_split(b, item, where, err);
        } else if (strcmp(t, "ByteLevel") == 0) {
            seen_byte_level = 1;
            rc = add_byte_level_stage(b, mv_tok_json_bool(item, "add_prefix_space", 0),
                                      mv_tok_json_bool(item, "use_regex", 1), where, err);
        } else {
            rc = mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: type \"%s\" is not supported with a BPE model", where, t);
        }
        if (rc != MV_OK) return rc;
    }
    if (!seen_byte_level)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: only byte-level BPE (a ByteLevel pre-tokenizer) is supported",
                            where);
    return MV_OK;
}

/* ------------------------------------------------------------------ encoding */

typedef struct sym {
    int32_t id, prev, next;
    int alive;
} sym;

typedef struct work {
    const mv_tokenizer *tok;
    const bpe *b;
    pcre2_match_data *md[MAX_STAGES];
    sym *syms;
    size_t cap_syms;
    uint64_t *heap; /* (rank << 32) | position, smallest first */
    size_t n_heap, cap_heap;
    mv_tbuf scratch;
    mv_tok_ids *out;
    mv_error *err;
} work;

static int heap_push(work *w, uint64_t v) {
    if (w->n_heap == w->cap_heap) {
        size_t cap = w->cap_heap ? w->cap_heap * 2 : 256;
        uint64_t *g = realloc(w->heap, cap * sizeof *g);
        if (!g) return -1;
        w->heap = g;
        w->cap_heap = cap;
    }
    size_t i = w->n_heap++;
    while (i > 0 && w->heap[(i - 1) / 2] > v) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = v;
    return 0;
}

static uint64_t heap_pop(work *w) {
    uint64_t top = w->heap[0], v = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && w->heap[c + 1] < w->heap[c]) c++;
        if (w->heap[c] >= v) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = v;
    return top;
}

/* Queue the merge of symbol i with its right neighbour, if the pair has a merge. */
static int queue_pair(work *w, int32_t i) {
    int32_t j = w->syms[i].next, merged = -1;
    if (j < 0) return 0;
    uint32_t rank = pair_rank(w->b, w->syms[i].id, w->syms[j].id, &merged);
    return rank ? heap_push(w, ((uint64_t)rank << 32) | (uint32_t)i) : 0;
}

static mv_status nomem(work *w) { return mv_set_error(w->err, MV_ERR_NOMEM, "out of memory"); }

/* BPE over one pre-tokenized piece: apply the lowest-ranked merge, leftmost first, until none is left. */
static mv_status bpe_piece(work *w, const uint8_t *s, size_t n) {
    const bpe *b = w->b;
    if (b->ignore_merges) { /* a piece that is itself a token skips the merges */
        w->scratch.n = 0;
        if (spell_bytes(b, s, n, &w->scratch) != 0) return nomem(w);
        int32_t id = mv_strmap_get(&w->tok->by_str, w->scratch.p, w->scratch.n);
        if (id >= 0) return mv_tok_ids_push(w->out, id) == 0 ? MV_OK : nomem(w);
    }
    if (n > w->cap_syms) {
        sym *g = realloc(w->syms, n * sizeof *g);
        if (!g) return nomem(w);
        w->syms = g;
        w->cap_syms = n;
    }
    if (n >= INT32_MAX) return mv_set_error(w->err, MV_ERR_ARG, "tokenize: piece too long");
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = b->byte_id[s[i]] >= 0 ? b->byte_id[s[i]] : b->unk_id;
        if (id < 0) continue; /* HF drops a character with no token when there is no unk token */
        w->syms[m] = (sym){.id = id, .prev = m - 1, .next = m + 1, .alive = 1};
        m++;
    }
    if (m == 0) return MV_OK;
    w->syms[m - 1].next = -1;
    w->n_heap = 0;
    for (int32_t i = 0; i + 1 < m; i++)
        if (queue_pair(w, i) != 0) return nomem(w);
    while (w->n_heap) {
        uint64_t top = heap_pop(w);
        int32_t i = (int32_t)(uint32_t)top, merged = -1;
        sym *l = &w->syms[i];
        if (!l->alive || l->next < 0) continue;
        sym *r = &w->syms[l->next];
        /* stale entry: one side has changed since it was queued */
        if (pair_rank(b, l->id, r->id, &merged) != (uint32_t)(top >> 32)) continue;
        l->id = merged;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0) w->syms[r->next].prev = i;
        if ((l->prev >= 0 && queue_pair(w, l->prev) != 0) || queue_pair(w, i) != 0) return nomem(w);
    }
    for (int32_t i = 0; i >= 0; i = w->syms[i].next)
        if (mv_tok_ids_push(w->out, w->syms[i].id) != 0) return nomem(w);
    return MV_OK;
}

static mv_status run_stage(work *w, int k, const char *s, size_t n);

/* Regex split, Isolated: every match and every non-empty gap between matches is a piece. */
static mv_status split_regex(work *w, int k, const char *s, size_t n) {
    pcre2_code *re = w->b->stages[k].re;
    pcre2_match_data *md = w->md[k];
    size_t gap = 0, pos = 0;
    mv_status rc = MV_OK;
    while (pos < n && rc == MV_OK) {
        int m = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) break;
        if (m < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            return mv_set_error(w->err, MV_ERR_INTERNAL, "tokenize: pre-tokenizer regex failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], e = ov[1];
        if (e == a) { /* empty match: step over one character */
            pos = a + 1;
            while (pos < n && ((uint8_t)s[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (a > gap) rc = run_stage(w, k + 1, s + gap, a - gap);
        if (rc == MV_OK) rc = run_stage(w, k + 1, s + a, e - a);
        gap = pos = e;
    }
    if (rc == MV_OK && gap < n) rc = run_stage(w, k + 1, s + gap, n - gap);
    return rc;
}

static mv_status run_stage(work *w, int k, const char *s, size_t n) {
    if (k == w->b->n_stages) return bpe_piece(w, (const uint8_t *)s, n);
    if (w->b->stages[k].re) return split_regex(w, k, s, n);
    if (n > 0 && s[0] == ' ') return run_stage(w, k + 1, s, n);
    /* ByteLevel add_prefix_space: the piece gets a leading space */
    char *p = malloc(n + 1);
    if (!p) return nomem(w);
    p[0] = ' ';
    memcpy(p + 1, s, n);
    mv_status rc = run_stage(w, k + 1, p, n + 1);
    free(p);
    return rc;
}

static mv_status bpe_encode(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out, mv_error *err) {
    const bpe *b = tok->impl;
    work w = {.tok = tok, .b = b, .out = out, .err = err};
    mv_status rc = MV_OK;
    for (int k = 0; k < b->n_stages && rc == MV_OK; k++) {
        if (!b->stages[k].re) continue;
        w.md[k] = pcre2_match_data_create_from_pattern(b->stages[k].re, NULL);
        if (!w.md[k]) rc = nomem(&w);
    }
    if (rc == MV_OK) rc = run_stage(&w, 0, text, len);
    for (int k = 0; k < b->n_stages; k++) pcre2_match_data_free(w.md[k]);
    free(w.syms);
    free(w.heap);
    mv_tbuf_free(&w.scratch);
    return rc;
}

/* ------------------------------------------------------------------ loading */

static void bpe_destroy(void *impl) {
    bpe *b = impl;
    if (!b) return;
    for (int k = 0; k < b->n_stages; k++) pcre2_code_free(b->stages[k].re);
    free(b->mkey);
    free(b->mrank);
    free(b->mnew);
    free(b);
}

static const mv_tok_model_ops BPE_OPS = {
    .name = "byte-level BPE", .encode = bpe_encode, .token_bytes = bpe_token_bytes, .destroy = bpe_destroy};

static mv_status bpe_create(mv_tokenizer *tok, mv_error *err) {
    bpe *b = calloc(1, sizeof *b);
    if (!b) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    init_byte_map(b);
    b->unk_id = -1;
    tok->ops = &BPE_OPS;
    tok->impl = b;
    return MV_OK;
}

static mv_status json_syntax_error(mv_error *err, const char *path, const char *text, const char *at) {
    return mv_set_error(err, MV_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", path, (size_t)(at - text));
}

/* The vocabulary object {"token": id, ...} in v of the file text at path (v.p NULL: absent): parsed
 * first, then set in one pass (mv_tok_set_tokens). */
static mv_status load_vocab_text(mv_tokenizer *tok, const char *text, mv_json_span v, const char *path,
                                 const char *where, mv_error *err) {
    mv_json_iter it;
    if (!v.p || mv_json_iter_begin(&it, v.p, v.end, '{') != 0)
        return mv_set_error(err, MV_ERR_FORMAT, "%s missing or not an object", where);
    const size_t span = (size_t)(v.end - v.p);
    if (mv_tok_reserve(tok, span / 16, span / 2) != 0) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    mv_tbuf scratch = {0}, spellings = {0};
    mv_tok_entry *entries = NULL;
    size_t n = 0, cap = 0;
    mv_status rc = mv_tbuf_reserve(&spellings, span) == 0 ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    int r = 0;
    while (rc == MV_OK && (r = mv_json_iter_next(&it)) == 1) {
        const char *s;
        size_t len;
        const char *after = mv_json_string(it.p, it.end, &scratch, &s, &len);
        if (after) it.p = after;
        if (!after || mv_json_iter_colon(&it) != 0) {
            rc = json_syntax_error(err, path, text, it.p);
            break;
        }
        double id = -1;
        after = mv_json_number(it.p, it.end, &id);
        if (!after || id < 0 || id > INT32_MAX - 2 || id != (double)(int32_t)id) {
            rc = mv_set_error(err, MV_ERR_FORMAT, "%s[\"%.*s\"]: not a valid token id", where, (int)(len > 64 ? 64 : len), s);
            break;
        }
        it.p = after;
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            mv_tok_entry *g = realloc(entries, cap * sizeof *g);
            if (!g) {
                rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
                break;
            }
            entries = g;
        }
        if (len >= UINT32_MAX || mv_tbuf_append(&spellings, s, len) != 0) {
            rc = mv_set_error(err, MV_ERR_NOMEM, "%s: out of memory", where);
            break;
        }
        entries[n++] = (mv_tok_entry){ (int32_t)id, (uint32_t)len, spellings.n - len };
    }
    if (rc == MV_OK) rc = mv_tok_set_tokens(tok, entries, n, spellings.p, where, err);
    free(entries);
    mv_tbuf_free(&spellings);
    mv_tbuf_free(&scratch);
    if (rc != MV_OK) return rc;
    if (r != 0 || it.p != v.end) return json_syntax_error(err, path, text, it.p);
    if (tok->n_vocab == 0) return mv_set_error(err, MV_ERR_FORMAT, "%s is empty", where);
    return MV_OK;
}
/* Ids of the 256 one-byte tokens (vocabulary spelling of each byte). */
static void find_byte_ids(mv_tokenizer *tok) {
    bpe *b = tok->impl;
    for (int c = 0; c < 256; c++) {
        char u[4];
        b->byte_id[c] = mv_strmap_get(&tok->by_str, u, mv_utf8_encode(b->byte_cp[c], u));
    }
}

/* A merge written as a pair ["left", "right"] at p: the position after it, or NULL when it is not one. */
static const char *read_merge_pair(const char *p, const char *end, mv_tbuf scratch[2], const char *side[2],
                                   size_t len[2]) {
    mv_json_iter pair;
    if (mv_json_iter_begin(&pair, p, end, '[') != 0) return NULL;
    for (int k = 0; k < 2; k++) {
        if (mv_json_iter_next(&pair) != 1) return NULL;
        if (!(pair.p = mv_json_string(pair.p, end, &scratch[k], &side[k], &len[k]))) return NULL;
    }
    return mv_json_iter_next(&pair) == 0 ? pair.p : NULL;
}

/* The merges array ["left right", ...] or [["left", "right"], ...] in v (v.p NULL: absent). */
static mv_status load_merges_text(mv_tokenizer *tok, const char *text, mv_json_span v, const char *path,
                                  mv_error *err) {
    mv_json_iter it;
    if (!v.p || mv_json_iter_begin(&it, v.p, v.end, '[') != 0)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: model.merges missing or not an array", path);
    pending_merges pm = { path, "model.merges[%zu]", NULL, 0, 0, {0} };
    mv_tbuf scratch[2] = {{0}, {0}};
    mv_status rc = mv_tbuf_reserve(&pm.text, (size_t)(v.end - v.p)) == 0 ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    int r = 0;
    for (size_t index = 0; rc == MV_OK && (r = mv_json_iter_next(&it)) == 1; index++) {
        const char *side[2], *after;
        size_t len[2];
        if (*it.p == '"' && (after = mv_json_string(it.p, it.end, &scratch[0], &side[0], &len[0])))
            rc = queue_merge_line(&pm, side[0], len[0], index, err);
        else if (*it.p == '[' && (after = read_merge_pair(it.p, it.end, scratch, side, len)))
            rc = queue_merge(&pm, side[0], len[0], side[1], len[1], index, err);
        else if ((after = mv_json_skip(it.p, it.end, NULL)))
            rc = merge_error(err, &pm, index, "expected \"left right\" or [left, right]");
        else
            rc = json_syntax_error(err, path, text, it.p);
        it.p = after;
    }
    if (rc == MV_OK && (r != 0 || it.p != v.end)) rc = json_syntax_error(err, path, text, it.p);
    if (rc == MV_OK) rc = finish_merges(tok, &pm, err);
    pending_free(&pm);
    mv_tbuf_free(&scratch[0]);
    mv_tbuf_free(&scratch[1]);
    return rc;
}

static int nonempty_string(const cJSON *v) { return cJSON_IsString(v) && v->valuestring[0]; }

/* Options of model (BPE) this implementation does not do. */
static mv_status check_bpe_options(const cJSON *model, const char *path, mv_error *err) {
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: model.dropout is not supported", path);
    if (nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
        nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: BPE subword prefix/suffix is not supported", path);
    if (mv_tok_json_bool(model, "byte_fallback", 0))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: BPE byte_fallback (SentencePiece-style) is not supported",
                            path);
    return MV_OK;
}

static mv_status check_decoder(const cJSON *dec, const char *path, mv_error *err) {
    if (dec && !cJSON_IsNull(dec) && strcmp(json_type(dec), "ByteLevel") != 0)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: decoder \"%s\" is not supported with byte-level BPE", path,
                            json_type(dec));
    return MV_OK;
}

mv_status mv_bpe_load_json(mv_tokenizer *tok, const cJSON *root, const mv_bpe_json_text *big, const char *path,
                           mv_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    char where[600];
    snprintf(where, sizeof where, "%s: model.vocab", path);
    mv_status rc = check_bpe_options(model, path, err);
    if (rc == MV_OK) rc = check_decoder(cJSON_GetObjectItemCaseSensitive(root, "decoder"), path, err);
    if (rc == MV_OK) rc = bpe_create(tok, err);
    if (rc != MV_OK) return rc;
    bpe *b = tok->impl;
    b->ignore_merges = mv_tok_json_bool(model, "ignore_merges", 0);
    rc = parse_pre_tokenizer(b, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path, err);
    if (rc == MV_OK) rc = load_vocab_text(tok, big->text, big->vocab, path, where, err);
    if (rc == MV_OK) rc = load_merges_text(tok, big->text, big->merges, path, err);
    if (rc != MV_OK) return rc;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) b->unk_id = mv_strmap_get(&tok->by_str, unk->valuestring, strlen(unk->valuestring));
    find_byte_ids(tok);
    return MV_OK;
}

static mv_status load_merges_txt(mv_tokenizer *tok, const char *path, mv_error *err) {
    size_t len;
    char *text = mv_read_file(path, MAX_VOCAB_FILE, &len, err);
    if (!text) return err ? err->code : MV_ERR_IO;
    pending_merges pm = { path, "line %zu", NULL, 0, 0, {0} };
    mv_status rc = mv_tbuf_reserve(&pm.text, len) == 0 ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    size_t line_no = 0;
    for (char *p = text, *end = text + len; p < end && rc == MV_OK; line_no++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && p[n - 1] == '\r') n--;
        if (n && !(line_no == 0 && n >= 8 && memcmp(p, "#version", 8) == 0)) rc = queue_merge_line(&pm, p, n, line_no + 1, err);
        p = nl ? nl + 1 : end;
    }
    free(text);
    if (rc == MV_OK) rc = finish_merges(tok, &pm, err);
    pending_free(&pm);
    return rc;
}

mv_status mv_bpe_load_files(mv_tokenizer *tok, const char *vocab_path, const char *merges_path,
                            const char *class_name, mv_error *err) {
    /* the slow tokenizers hard-code their pre-tokenizer: pick it from the class */
    const char *pattern;
    int nfc = 0;
    if (!class_name || strncmp(class_name, "GPT2Tokenizer", 13) == 0 || strncmp(class_name, "CodeGenTokenizer", 16) == 0) {
        pattern = GPT2_PATTERN;
    } else if (strncmp(class_name, "Qwen2Tokenizer", 14) == 0) {
        pattern = QWEN2_PATTERN;
        nfc = 1;
    } else {
        return mv_set_error(err, MV_ERR_UNSUPPORTED,
                            "%s: tokenizer_class \"%s\" is not supported without tokenizer.json", vocab_path, class_name);
    }
    mv_status rc = bpe_create(tok, err);
    if (rc != MV_OK) return rc;
    tok->nfc = nfc;
    size_t len;
    char *text = mv_read_file(vocab_path, MAX_VOCAB_FILE, &len, err);
    if (!text) return err ? err->code : MV_ERR_IO;
    const mv_json_span whole = { mv_json_ws(text, text + len), mv_json_skip(text, text + len, NULL) };
    if (!whole.end || mv_json_ws(whole.end, text + len) != text + len)
        rc = json_syntax_error(err, vocab_path, text, whole.end ? whole.end : text);
    if (rc == MV_OK) rc = add_regex_stage(tok->impl, pattern, strlen(pattern), 0, vocab_path, err);
    if (rc == MV_OK) rc = load_vocab_text(tok, text, whole, vocab_path, vocab_path, err);
    free(text);
    if (rc == MV_OK) rc = load_merges_txt(tok, merges_path, err);
    if (rc == MV_OK) find_byte_ids(tok);
    return rc;
}
