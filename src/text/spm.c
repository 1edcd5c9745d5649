/* spm.c — SentencePiece BPE model (tokenizer.model), as Google's sentencepiece encodes and as
 * transformers' slow LlamaTokenizer / InternLM2Tokenizer wrap it:
 *  - normalizer "identity" (no character map): optional dummy prefix, spaces escaped as "▁";
 *  - BPE by piece score: user-defined pieces are matched whole first, then the adjacent pair whose
 *    concatenation is the best-scoring piece is merged (ties: leftmost), until no pair is a piece;
 *  - UNUSED pieces split back into their parts; characters left without a piece become <0xNN> byte
 *    pieces (byte_fallback) or one <unk> per run;
 *  - the slow tokenizers' settings from tokenizer_config.json: added / special tokens, add_bos_token and
 *    Llama's legacy=False handling of the prefix space (see encode_llama in tokenizer.c).
 * Decoding: "▁" → space, byte pieces → their byte, added tokens → their content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"
#include "text/spm_proto.h"
#include "text/tokenizer.h"

#define MAX_MODEL_FILE ((size_t)256 << 20) /* real tokenizer.model files are a few MB */
#define SPACE_SYMBOL "\xE2\x96\x81"         /* U+2581 ▁ */

typedef struct spm {
    int32_t n_pieces;
    float *score;
    uint8_t *type;
    mv_tbuf text;            /* piece spellings, text_off[id] .. + text_len[id] */
    uint32_t *text_off, *text_len;
    mv_strmap pieces;        /* NORMAL, USER_DEFINED, UNUSED pieces: what a merge may produce */
    mv_strmap reserved;      /* CONTROL, UNKNOWN, BYTE pieces: looked up only for the final symbols */
    int32_t unk_id, bos_id; /* trainer_spec ids */
    int byte_fallback;
    int32_t byte_id[256];
    /* user-defined pieces by first byte, longest first: user[user_idx[b] .. user_idx[b + 1]) */
    int32_t *user;
    uint32_t user_idx[257];
    /* normalizer */
    int add_dummy_prefix, remove_extra_ws, escape_ws, ws_suffix;
    /* Llama legacy=False: a segment that begins with a space is encoded behind the unk token's text,
     * whose unk_n_ids ids are then dropped (transformers' LlamaTokenizer._tokenize) */
    int unk_prefix;
    char *unk_text;
    size_t unk_text_len, unk_n_ids;
} spm;

static const char *piece_text(const spm *m, int32_t id) { return m->text.p + m->text_off[id]; }

/* ------------------------------------------------------------------ normalization */

/* identity normalizer: dummy prefix, optional whitespace squeezing, ' ' → "▁". */
static int normalize(const spm *m, const char *s, size_t n, mv_tbuf *out) {
    const char *ws = m->escape_ws ? SPACE_SYMBOL : " ";
    size_t ws_len = m->escape_ws ? 3 : 1;
    if (m->remove_extra_ws) {
        while (n > 0 && s[0] == ' ') s++, n--;
        while (n > 0 && s[n - 1] == ' ') n--;
    }
    out->n = 0;
    if (n == 0) return mv_tbuf_append(out, "", 0);
    if (m->add_dummy_prefix && !m->ws_suffix && mv_tbuf_append(out, ws, ws_len) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        int space = s[i] == ' ';
        if (space && m->remove_extra_ws && i > 0 && s[i - 1] == ' ') continue;
        if (space ? mv_tbuf_append(out, ws, ws_len) : mv_tbuf_append(out, s + i, 1)) return -1;
    }
    if (m->add_dummy_prefix && m->ws_suffix && mv_tbuf_append(out, ws, ws_len) != 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------ BPE by score */

typedef struct symbol {
    uint32_t start, len;
    int32_t prev, next;
    int frozen; /* a user-defined piece: never merged */
} symbol;

typedef struct pair {
    float score;
    int32_t left, right;
    uint32_t len; /* length of the merged piece, to spot pairs made stale by other merges */
} pair;

typedef struct heap {
    pair *v;
    size_t n, cap;
} heap;

/* a comes out before b: higher score, then leftmost */
static int before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(heap *h, pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        pair *g = realloc(h->v, cap * sizeof *g);
        if (!g) return -1;
        h->v = g;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && before(&p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = p;
    return 0;
}

static pair heap_pop(heap *h) {
    pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) h->v[i] = last;
    return top;
}

typedef struct bpe_run {
    const spm *m;
    const char *s;
    symbol *sym;
    heap agenda;
    mv_strmap rev; /* merged UNUSED piece -> length of its left part, to split it back */
} bpe_run;

/* Queue the merge of symbols l and r when their concatenation is a piece. 0, or -1 out of memory. */
static int add_pair(bpe_run *b, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || b->sym[l].frozen || b->sym[r].frozen) return 0;
    const char *p = b->s + b->sym[l].start;
    uint32_t len = b->sym[l].len + b->sym[r].len;
    int32_t id = mv_strmap_get(&b->m->pieces, p, len);
    if (id < 0) return 0;
    if (b->m->type[id] == MV_SPM_UNUSED && mv_strmap_put(&b->rev, p, len, (int32_t)b->sym[l].len) != 0) return -1;
    return heap_push(&b->agenda, (pair){b->m->score[id], l, r, len});
}

/* Initial symbols: a user-defined piece where one starts (longest), else one UTF-8 character. */
static size_t split_symbols(const spm *m, const char *s, size_t n, symbol *sym) {
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        int frozen = 0;
        for (uint32_t k = m->user_idx[c]; k < m->user_idx[c + 1]; k++) {
            int32_t id = m->user[k];
            if (m->text_len[id] <= n - i && memcmp(s + i, piece_text(m, id), m->text_len[id]) == 0) {
                len = m->text_len[id];
                frozen = 1;
                break;
            }
        }
        if (len > n - i) len = n - i; /* cannot happen on valid UTF-8; keeps a bad byte in range */
        sym[count] = (symbol){(uint32_t)i, (uint32_t)len, (int32_t)count - 1, (int32_t)count + 1, frozen};
        count++;
        i += len;
    }
    if (count > 0) sym[count - 1].next = -1;
    return count;
}

static int32_t lookup(const spm *m, const char *p, size_t n) {
    int32_t id = mv_strmap_get(&m->reserved, p, n);
    if (id < 0) id = mv_strmap_get(&m->pieces, p, n);
    return id < 0 ? m->unk_id : id;
}

/* Emit the ids of one final symbol: UNUSED pieces split back into their parts, unknown text as bytes
 * (byte_fallback) or a single unk for a run of unknowns. */
static int emit(bpe_run *b, const char *p, size_t n, int *prev_unk, mv_tok_ids *out) {
    const spm *m = b->m;
    int32_t id = lookup(m, p, n);
    int32_t left = m->type[id] == MV_SPM_UNUSED ? mv_strmap_get(&b->rev, p, n) : -1;
    if (left > 0 && (size_t)left < n) return emit(b, p, (size_t)left, prev_unk, out) ||
                                             emit(b, p + left, n - (size_t)left, prev_unk, out);
    int unk = m->type[id] == MV_SPM_UNKNOWN;
    if (unk && m->byte_fallback) {
        for (size_t i = 0; i < n; i++)
            if (mv_tok_ids_push(out, m->byte_id[(uint8_t)p[i]]) != 0) return -1;
        *prev_unk = 0;
        return 0;
    }
    int skip = unk && *prev_unk;
    *prev_unk = unk;
    return skip ? 0 : mv_tok_ids_push(out, id);
}

/* Encode normalized text s[0..n). */
static mv_status bpe_encode_normalized(const spm *m, const char *s, size_t n, mv_tok_ids *out, mv_error *err) {
    if (n == 0) return MV_OK;
    if (n > INT32_MAX / 2) return mv_set_error(err, MV_ERR_ARG, "tokenize: text segment too long (%zu bytes)", n);
    bpe_run b = {.m = m, .s = s};
    b.sym = malloc(n * sizeof *b.sym);
    int fail = !b.sym;
    size_t count = fail ? 0 : split_symbols(m, s, n, b.sym);
    for (size_t i = 0; i + 1 < count && !fail; i++) fail = add_pair(&b, (int32_t)i, (int32_t)i + 1) != 0;
    while (!fail && b.agenda.n > 0) {
        pair top = heap_pop(&b.agenda);
        symbol *l = &b.sym[top.left], *r = &b.sym[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.len) continue; /* stale */
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) b.sym[r->next].prev = top.left;
        r->len = 0;
        fail = add_pair(&b, l->prev, top.left) != 0 || add_pair(&b, top.left, l->next) != 0;
    }
    int prev_unk = 0;
    for (int32_t i = 0; count > 0 && i >= 0 && !fail; i = b.sym[i].next)
        fail = emit(&b, s + b.sym[i].start, b.sym[i].len, &prev_unk, out) != 0;
    free(b.sym);
    free(b.agenda.v);
    mv_strmap_free(&b.rev);
    return fail ? mv_set_error(err, MV_ERR_NOMEM, "out of memory") : MV_OK;
}

static mv_status encode_plain(const spm *m, const char *text, size_t len, mv_tok_ids *out, mv_error *err) {
    mv_tbuf norm = {0};
    mv_status rc = normalize(m, text, len, &norm) != 0 ? mv_set_error(err, MV_ERR_NOMEM, "out of memory")
                                                       : bpe_encode_normalized(m, norm.p, norm.n, out, err);
    mv_tbuf_free(&norm);
    return rc;
}

static mv_status spm_encode(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out,
                            mv_error *err) {
    const spm *m = tok->impl;
    int spaced = len > 0 && (text[0] == ' ' || (len >= 3 && memcmp(text, SPACE_SYMBOL, 3) == 0));
    if (!m->unk_prefix || !spaced) return encode_plain(m, text, len, out, err);
    mv_tbuf t = {0};
    mv_tok_ids ids = {0};
    mv_status rc = MV_OK;
    if (mv_tbuf_append(&t, m->unk_text, m->unk_text_len) != 0 || mv_tbuf_append(&t, text, len) != 0)
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (rc == MV_OK) rc = encode_plain(m, t.p, t.n, &ids, err);
    size_t skip = ids.n >= m->unk_n_ids ? m->unk_n_ids : 0;
    for (size_t i = skip; rc == MV_OK && i < ids.n; i++)
        if (mv_tok_ids_push(out, ids.v[i]) != 0) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    mv_tbuf_free(&t);
    mv_tok_ids_free(&ids);
    return rc;
}

/* ------------------------------------------------------------------ decoding */

static int is_byte_piece(const mv_spm_piece *pc, unsigned *value) {
    static const char hex[] = "0123456789ABCDEF";
    if (pc->len != 6 || memcmp(pc->text, "<0x", 3) != 0 || pc->text[5] != '>') return 0;
    const char *hi = memchr(hex, pc->text[3], 16), *lo = memchr(hex, pc->text[4], 16);
    if (!hi || !lo) return 0;
    *value = (unsigned)((hi - hex) * 16 + (lo - hex));
    return 1;
}

static int spm_token_bytes(const mv_tokenizer *tok, const char *s, size_t n, mv_tbuf *out) {
    const spm *m = tok->impl;
    int32_t id = mv_tok_token_id(tok, s, n);
    if (id >= 0 && tok->is_added[id]) return mv_tbuf_append(out, s, n); /* added: content as written */
    int32_t r = mv_strmap_get(&m->reserved, s, n);
    mv_spm_piece pc = {s, n, 0, MV_SPM_BYTE};
    unsigned byte;
    if (r >= 0 && m->type[r] == MV_SPM_BYTE && is_byte_piece(&pc, &byte)) {
        uint8_t b = (uint8_t)byte;
        return mv_tbuf_append(out, &b, 1);
    }
    return mv_tok_unescape_spaces(s, n, out);
}

static void spm_destroy(void *impl) {
    spm *m = impl;
    if (!m) return;
    free(m->score);
    free(m->type);
    free(m->text_off);
    free(m->text_len);
    mv_tbuf_free(&m->text);
    mv_strmap_free(&m->pieces);
    mv_strmap_free(&m->reserved);
    free(m->user);
    free(m->unk_text);
    free(m);
}

static const mv_tok_model_ops SPM_OPS = {
    .name = "SentencePiece BPE", .encode = spm_encode, .token_bytes = spm_token_bytes, .destroy = spm_destroy};

/* ------------------------------------------------------------------ loading the model */

static mv_status check_spec(const mv_spm_proto *p, const char *path, mv_error *err) {
    static const char *const kinds[] = {"?", "unigram", "BPE", "word", "char"};
    if (p->model_type != MV_SPM_BPE)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "%s: SentencePiece model_type %s is not supported (only BPE)",
                            path, p->model_type >= 1 && p->model_type <= 4 ? kinds[p->model_type] : "?");
    if (p->charsmap_len > 0)
        return mv_set_error(err, MV_ERR_UNSUPPORTED,
                            "%s: normalizer \"%.*s\" with a precompiled character map is not supported", path,
                            (int)(p->norm_name_len > 64 ? 64 : p->norm_name_len), p->norm_name ? p->norm_name : "");
    if (p->n_pieces > INT32_MAX - 1024)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: too many pieces (%zu)", path, p->n_pieces);
    if (p->unk_id < 0 || (size_t)p->unk_id >= p->n_pieces || p->pieces[p->unk_id].type != MV_SPM_UNKNOWN)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: unk_id %lld is not an UNKNOWN piece", path,
                            (long long)p->unk_id);
    return MV_OK;
}

static int cmp_user(const void *pa, const void *pb, void *ctx) {
    const spm *m = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    uint8_t fa = (uint8_t)piece_text(m, a)[0], fb = (uint8_t)piece_text(m, b)[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    return m->text_len[a] > m->text_len[b] ? -1 : m->text_len[a] < m->text_len[b] ? 1 : a < b ? -1 : 1;
}

static mv_status index_user_defined(spm *m, mv_error *err) {
    size_t n = 0;
    m->user = malloc(((size_t)m->n_pieces + 1) * sizeof *m->user);
    if (!m->user) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int32_t id = 0; id < m->n_pieces; id++)
        if (m->type[id] == MV_SPM_USER_DEFINED) m->user[n++] = id;
    qsort_r(m->user, n, sizeof *m->user, cmp_user, m);
    size_t j = 0;
    for (int b = 0; b < 256; b++) {
        m->user_idx[b] = (uint32_t)j;
        while (j < n && (uint8_t)piece_text(m, m->user[j])[0] == b) j++;
    }
    m->user_idx[256] = (uint32_t)j;
    return MV_OK;
}

/* One piece into the model's tables and the tokenizer's vocabulary. */
static mv_status add_model_piece(mv_tokenizer *tok, spm *m, const mv_spm_piece *pc, int32_t id, const char *path,
                                 mv_error *err) {
    char where[600];
    snprintf(where, sizeof where, "%s: piece %ld", path, (long)id);
    unsigned byte;
    if (pc->len == 0 || !mv_utf8_valid(pc->text, pc->len))
        return mv_set_error(err, MV_ERR_FORMAT, "%s is empty or not valid UTF-8", where);
    if (pc->type == MV_SPM_BYTE && !is_byte_piece(pc, &byte))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: BYTE piece \"%.*s\" is not <0xNN>", where,
                            (int)(pc->len > 32 ? 32 : pc->len), pc->text);
    int normal = pc->type == MV_SPM_NORMAL || pc->type == MV_SPM_USER_DEFINED || pc->type == MV_SPM_UNUSED;
    mv_strmap *map = normal ? &m->pieces : &m->reserved;
    if (mv_strmap_get(map, pc->text, pc->len) >= 0)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: \"%.*s\" is already defined", where,
                            (int)(pc->len > 32 ? 32 : pc->len), pc->text);
    if (mv_strmap_put(map, pc->text, pc->len, id) != 0 || m->text.n > UINT32_MAX - pc->len ||
        mv_tbuf_append(&m->text, pc->text, pc->len) != 0)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    m->score[id] = pc->score;
    m->type[id] = (uint8_t)pc->type;
    m->text_off[id] = (uint32_t)(m->text.n - pc->len);
    m->text_len[id] = (uint32_t)pc->len;
    if (pc->type == MV_SPM_BYTE) m->byte_id[byte] = id;
    return mv_tok_set_token(tok, id, pc->text, pc->len, where, err);
}

static mv_status load_model(mv_tokenizer *tok, const mv_spm_proto *p, const char *path, mv_error *err) {
    spm *m = calloc(1, sizeof *m);
    if (!m) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    tok->ops = &SPM_OPS;
    tok->impl = m;
    m->n_pieces = (int32_t)p->n_pieces;
    m->score = malloc(p->n_pieces * sizeof *m->score);
    m->type = malloc(p->n_pieces);
    m->text_off = malloc(p->n_pieces * sizeof *m->text_off);
    m->text_len = malloc(p->n_pieces * sizeof *m->text_len);
    if (!m->score || !m->type || !m->text_off || !m->text_len) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (int b = 0; b < 256; b++) m->byte_id[b] = -1;
    for (size_t i = 0; i < p->n_pieces; i++) {
        mv_status rc = add_model_piece(tok, m, &p->pieces[i], (int32_t)i, path, err);
        if (rc != MV_OK) return rc;
    }
    m->unk_id = (int32_t)p->unk_id;
    m->bos_id = p->bos_id >= 0 && (size_t)p->bos_id < p->n_pieces ? (int32_t)p->bos_id : -1;
    m->byte_fallback = p->byte_fallback;
    for (int b = 0; b < 256 && m->byte_fallback; b++)
        if (m->byte_id[b] < 0)
            return mv_set_error(err, MV_ERR_FORMAT, "%s: byte_fallback is on but piece <0x%02X> is missing", path, b);
    m->add_dummy_prefix = p->add_dummy_prefix;
    m->remove_extra_ws = p->remove_extra_whitespaces;
    m->escape_ws = p->escape_whitespaces;
    m->ws_suffix = p->treat_whitespace_as_suffix;
    tok->strip_first_space = p->add_dummy_prefix;
    return index_user_defined(m, err);
}

/* ------------------------------------------------------------------ slow-tokenizer settings */

/* Content of a special-token entry: "text" or {"content": "text", ...}; NULL when absent / null. */
static const char *special_content(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsObject(v) && cJSON_IsString(c) ? c->valuestring : NULL;
}

static const mv_tok_added *find_added_content(const mv_tokenizer *tok, const char *s) {
    for (size_t i = 0; i < tok->n_added; i++)
        if (strcmp(tok->added[i].content, s) == 0) return &tok->added[i];
    return NULL;
}

/* transformers adds every special token to the added tokens (a piece's id when it is one, else a new
 * id), and remembers it among all_special_tokens. */
static mv_status add_special(mv_tokenizer *tok, const cJSON *v, const char *where, mv_error *err) {
    const char *content = special_content(v);
    if (!content || !content[0]) return MV_OK;
    const mv_tok_added *a = find_added_content(tok, content);
    int32_t id = a ? a->id : mv_tok_token_id(tok, content, strlen(content));
    if (!a) {
        cJSON *obj = cJSON_CreateObject();
        const char *flags[] = {"lstrip", "rstrip", "single_word"};
        int ok = obj && cJSON_AddStringToObject(obj, "content", content) && cJSON_AddTrueToObject(obj, "special");
        for (size_t k = 0; k < 3 && ok; k++) ok = cJSON_AddBoolToObject(obj, flags[k], mv_tok_json_bool(v, flags[k], 0)) != NULL;
        mv_status rc = ok ? mv_tok_parse_added(tok, obj, id >= 0 ? id : tok->n_vocab, where, err)
                          : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        cJSON_Delete(obj);
        if (rc != MV_OK) return rc;
        id = tok->added[tok->n_added - 1].id;
    }
    int32_t *g = realloc(tok->llama_specials, (tok->n_llama_specials + 1) * sizeof *g);
    if (!g) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    tok->llama_specials = g;
    g[tok->n_llama_specials++] = id;
    return MV_OK;
}

/* bos/eos/unk/pad and additional_special_tokens; special_tokens_map.json overrides tokenizer_config.json. */
static mv_status add_special_tokens(mv_tokenizer *tok, const cJSON *cfg, const cJSON *map, const char *cfg_path,
                                    mv_error *err) {
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    char where[600];
    for (size_t k = 0; k < 4; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, keys[k]);
        if (!v) v = cJSON_GetObjectItemCaseSensitive(cfg, keys[k]);
        snprintf(where, sizeof where, "%s: %s", cfg_path ? cfg_path : "tokenizer_config.json", keys[k]);
        mv_status rc = add_special(tok, v, where, err);
        if (rc != MV_OK) return rc;
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(map, "additional_special_tokens"), *item;
    if (!extra) extra = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    if (!cJSON_IsArray(extra)) return MV_OK;
    cJSON_ArrayForEach(item, extra) {
        snprintf(where, sizeof where, "%s: additional_special_tokens", cfg_path ? cfg_path : "tokenizer_config.json");
        mv_status rc = add_special(tok, item, where, err);
        if (rc != MV_OK) return rc;
    }
    return MV_OK;
}

static const char *config_string(const cJSON *cfg, const char *key, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    const char *s = special_content(v);
    return s ? s : def;
}

/* Llama legacy=False (transformers >= 4.31 reads "legacy"; absent means legacy): the model runs without
 * its dummy prefix and the front adds "▁" once in front of the whole input. */
static mv_status setup_llama(mv_tokenizer *tok, const cJSON *cfg, mv_error *err) {
    spm *m = tok->impl;
    const char *cls = config_string(cfg, "tokenizer_class", "");
    int llama = strcmp(cls, "LlamaTokenizer") == 0 || strcmp(cls, "LlamaTokenizerFast") == 0;
    if (!llama || mv_tok_json_bool(cfg, "legacy", 1)) return MV_OK;
    m->add_dummy_prefix = 0;
    tok->llama_prefix = 1;
    tok->llama_lone_id = mv_strmap_get(&m->pieces, SPACE_SYMBOL, 3);
    const char *unk = config_string(cfg, "unk_token", "<unk>");
    m->unk_text_len = strlen(unk);
    m->unk_text = malloc(m->unk_text_len + 1);
    if (!m->unk_text) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    memcpy(m->unk_text, unk, m->unk_text_len + 1);
    mv_tok_ids ids = {0};
    mv_status rc = encode_plain(m, m->unk_text, m->unk_text_len, &ids, err);
    m->unk_n_ids = ids.n;
    m->unk_prefix = 1;
    mv_tok_ids_free(&ids);
    return rc;
}

mv_status mv_spm_load(mv_tokenizer *tok, const char *model_path, const cJSON *cfg, const char *cfg_path,
                      const cJSON *special_map, mv_error *err) {
    size_t len = 0;
    char *buf = mv_read_file(model_path, MAX_MODEL_FILE, &len, err);
    if (!buf) return err ? err->code : MV_ERR_IO;
    mv_spm_proto p;
    mv_status rc = mv_spm_proto_parse((const uint8_t *)buf, len, model_path, &p, err);
    if (rc == MV_OK) rc = check_spec(&p, model_path, err);
    if (rc == MV_OK) rc = load_model(tok, &p, model_path, err);
    mv_spm_proto_free(&p);
    free(buf);
    /* the slow tokenizer matches added tokens on the raw text (one trie, no normalization) and strips
     * Python whitespace around them */
    tok->py_space = 1;
    if (rc == MV_OK) rc = mv_tok_parse_added_decoder(tok, cfg, cfg_path, err);
    if (rc == MV_OK) rc = add_special_tokens(tok, cfg, special_map, cfg_path, err);
    for (size_t i = 0; rc == MV_OK && i < tok->n_added; i++) tok->added[i].normalized = 0;
    if (rc == MV_OK) rc = setup_llama(tok, cfg, err);
    if (rc == MV_OK && mv_tok_json_bool(cfg, "add_bos_token", 1)) {
        const char *bos = config_string(special_map, "bos_token", config_string(cfg, "bos_token", NULL));
        tok->bos_id = bos ? mv_tok_token_id(tok, bos, strlen(bos)) : ((const spm *)tok->impl)->bos_id;
    }
    return rc;
}
