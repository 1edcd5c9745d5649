/* tokenizer.h — internal tokenizer interface. The front (tokenizer.c) owns the vocabulary table, the
 * added/special tokens (matched on the raw text before the model runs), the normalizer, decoding and
 * streaming; a model kind (bpe.c: byte-level BPE; spm.c: SentencePiece BPE) plugs in through
 * mv_tok_model_ops and only encodes the text between added tokens. */
#ifndef MV_TEXT_TOKENIZER_H
#define MV_TEXT_TOKENIZER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "io/json_scan.h"
#include "minivl.h"
#include "text/strmap.h"
#include "text/utf8.h"

/* A growable array of token ids. */
typedef struct mv_tok_ids {
    int32_t *v;
    size_t n, cap;
} mv_tok_ids;

int mv_tok_ids_push(mv_tok_ids *a, int32_t id); /* 0, or -1 when out of memory */
void mv_tok_ids_free(mv_tok_ids *a);

/* An added token ("added_tokens" of tokenizer.json / "added_tokens_decoder" of tokenizer_config.json). */
typedef struct mv_tok_added {
    char *content;
    size_t len;
    int32_t id;
    unsigned special : 1, lstrip : 1, rstrip : 1, normalized : 1, single_word : 1;
} mv_tok_added;

/* What a model kind provides. */
typedef struct mv_tok_model_ops {
    const char *name; /* "byte-level BPE", ... */
    /* Append the ids of one text segment that holds no added token (already normalized). */
    mv_status (*encode)(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out,
                        mv_error *err);
    /* Append to out the bytes that token string s stands for when decoding; 0, or -1 out of memory. */
    int (*token_bytes)(const mv_tokenizer *tok, const char *s, size_t n, mv_tbuf *out);
    void (*destroy)(void *impl);
} mv_tok_model_ops;

#define MV_TOK_NONE UINT32_MAX /* str_len / byte_len of an id with no token */

struct mv_tokenizer {
    const mv_tok_model_ops *ops;
    void *impl;               /* the model's state, freed by ops->destroy */
    int nfc;                  /* normalizer: Unicode NFC on each segment between added tokens */
    mv_tok_added *added;
    size_t n_added;
    /* id -> token string (vocab spelling or added content) and its decoded bytes */
    int32_t n_vocab;          /* largest id + 1 */
    size_t cap_vocab;
    uint32_t *str_off, *str_len, *byte_off, *byte_len;
    uint8_t *is_added;        /* per id: 1 added token, 2 added special token */
    mv_tbuf strs, bytes;
    mv_strmap by_str;         /* token string -> id (added contents override the model's) */
    /* added tokens whose content begins with byte b, longest first: first_idx[b]..first_idx[b+1] */
    uint32_t first_idx[257];
    uint32_t *by_first;
    /* Behaviour of transformers' slow (Python) tokenizers, set by the SentencePiece loader: */
    int py_space;             /* lstrip/rstrip strip Python str.isspace() characters (adds U+001C..1F) */
    int llama_prefix;         /* Llama legacy=False: encode "▁" + text with "▁" → " ", then drop a leading
                                 lone "▁" (llama_lone_id) when a token of llama_specials follows it */
    int32_t llama_lone_id;
    int32_t *llama_specials;  /* ids of all_special_tokens (bos, eos, unk, pad, additional) */
    size_t n_llama_specials;
    int strip_first_space;    /* decoding drops one leading space (SentencePiece dummy prefix) */
    int32_t bos_id;           /* BOS the model wants in front of a prompt, -1 for none */
};

/* ---- for model loaders */

/* Room for about n_tokens more tokens spelled with n_bytes bytes (a hint); 0, or -1 when out of memory. */
int mv_tok_reserve(mv_tokenizer *tok, size_t n_tokens, size_t n_bytes);
/* Record token string s as the spelling of id (grows the table). */
mv_status mv_tok_set_token(mv_tokenizer *tok, int32_t id, const char *s, size_t n, const char *where,
                           mv_error *err);
/* A vocabulary entry for mv_tok_set_tokens: the spelling of id at [off, off + len) of a text. */
typedef struct mv_tok_entry {
    int32_t id;
    uint32_t len;
    size_t off;
} mv_tok_entry;
/* mv_tok_set_token for each entry in order, its spelling in text; `where` names the vocabulary in
 * messages. One token at a time, the map insertions waited on a cache miss each: this pass hashes
 * ahead and prefetches. */
mv_status mv_tok_set_tokens(mv_tokenizer *tok, const mv_tok_entry *e, size_t n, const char *text, const char *where,
                            mv_error *err);
/* Parse one added-token object ({"id"?, "content", "special", "lstrip", ...}); id < 0 means read "id". */
mv_status mv_tok_parse_added(mv_tokenizer *tok, const cJSON *obj, int32_t id, const char *where,
                             mv_error *err);

/* Append s[0..n) with every SentencePiece "▁" (U+2581) turned into a space; 0, or -1 out of memory. */
int mv_tok_unescape_spaces(const char *s, size_t n, mv_tbuf *out);

/* obj[key] when it is a JSON boolean, else def. */
int mv_tok_json_bool(const cJSON *obj, const char *key, int def);

/* cfg["added_tokens_decoder"] ({"id": {...}}) of tokenizer_config.json at path; absent is fine. */
mv_status mv_tok_parse_added_decoder(mv_tokenizer *tok, const cJSON *cfg, const char *path, mv_error *err);

/* SentencePiece loader (spm.c): tokenizer.model at model_path plus the slow tokenizer's settings from
 * tokenizer_config.json (cfg, may be NULL) and special_tokens_map.json (special_map, may be NULL). */
mv_status mv_spm_load(mv_tokenizer *tok, const char *model_path, const cJSON *cfg, const char *cfg_path,
                      const cJSON *special_map, mv_error *err);

/* tokenizer.json's two large values, read from the file text (io/json_scan.h) rather than from the DOM:
 * text is the whole file, vocab/merges the spans of model.vocab and model.merges (p NULL when absent). */
typedef struct mv_bpe_json_text {
    const char *text;
    mv_json_span vocab, merges;
} mv_bpe_json_text;

/* Byte-level BPE loaders (bpe.c). root: the parsed tokenizer.json without model.vocab and model.merges,
 * which come from big. */
mv_status mv_bpe_load_json(mv_tokenizer *tok, const cJSON *root, const mv_bpe_json_text *big, const char *path,
                           mv_error *err);
/* vocab.json + merges.txt; class_name: tokenizer_config.json's "tokenizer_class" (may be NULL). */
mv_status mv_bpe_load_files(mv_tokenizer *tok, const char *vocab_path, const char *merges_path,
                            const char *class_name, mv_error *err);

/* ---- for the library */

/* Append the ids of text (no BOS added; added tokens written in the text are matched). Text must be
 * valid UTF-8 (MV_ERR_ARG otherwise). */
mv_status mv_tok_encode(const mv_tokenizer *tok, const char *text, size_t len, mv_tok_ids *out,
                        mv_error *err);
/* Decode keeping special tokens; invalid UTF-8 becomes U+FFFD. *text malloc'd, NUL-terminated; *len
 * its length (the text may hold NUL characters). Unknown ids are an MV_ERR_ARG error. */
mv_status mv_tok_decode(const mv_tokenizer *tok, const int32_t *ids, size_t n_ids, char **text,
                        size_t *len, mv_error *err);
/* Id of an exact token string: an added token's content or a vocabulary spelling (byte-level BPE
 * spells bytes with the GPT-2 byte→unicode map, e.g. "Ġthe"; SentencePiece spells spaces "▁", e.g.
 * "▁the", and bytes "<0xE4>"), or -1. */
int32_t mv_tok_token_id(const mv_tokenizer *tok, const char *s, size_t n);
/* Number of ids (largest id + 1, added tokens included). */
int32_t mv_tok_vocab_size(const mv_tokenizer *tok);
/* Raw bytes id decodes to (not NUL-terminated), or NULL for an unknown id. */
const char *mv_tok_token_bytes(const mv_tokenizer *tok, int32_t id, size_t *len);
/* BOS id the model wants prepended to a prompt (add_bos_token), or -1 when none. */
int32_t mv_tok_bos_id(const mv_tokenizer *tok);
/* 1 when id is an added token flagged special. */
int mv_tok_is_special(const mv_tokenizer *tok, int32_t id);

/* Streaming decoder: push ids one at a time and get back only complete UTF-8 text (a character split
 * across tokens is held back until its last byte arrives; invalid bytes become U+FFFD as soon as they
 * are known to be invalid). The concatenation of all pieces plus the flush equals mv_tok_decode. */
typedef struct mv_tok_stream mv_tok_stream;
mv_status mv_tok_stream_new(const mv_tokenizer *tok, mv_tok_stream **out, mv_error *err);
/* *text (valid until the next call on s) gets the newly completed text, *len its length (may be 0). */
mv_status mv_tok_stream_push(mv_tok_stream *s, int32_t id, const char **text, size_t *len, mv_error *err);
/* End of input: held-back bytes of an unfinished character become one U+FFFD. */
mv_status mv_tok_stream_flush(mv_tok_stream *s, const char **text, size_t *len, mv_error *err);
void mv_tok_stream_free(mv_tok_stream *s);

#endif
