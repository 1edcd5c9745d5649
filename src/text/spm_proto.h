/* spm_proto.h — reader for SentencePiece's ModelProto (tokenizer.model): the pieces with their scores and
 * types, and the few trainer_spec / normalizer_spec fields that encoding needs. A minimal protobuf
 * wire-format walker of our own; unknown fields are skipped, malformed input is an MV_ERR_FORMAT. */
#ifndef MV_TEXT_SPM_PROTO_H
#define MV_TEXT_SPM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "minivl.h"

/* SentencePiece.Type */
enum {
    MV_SPM_NORMAL = 1,
    MV_SPM_UNKNOWN = 2,
    MV_SPM_CONTROL = 3,
    MV_SPM_USER_DEFINED = 4,
    MV_SPM_UNUSED = 5,
    MV_SPM_BYTE = 6
};

/* TrainerSpec.ModelType */
enum { MV_SPM_UNIGRAM = 1, MV_SPM_BPE = 2, MV_SPM_WORD = 3, MV_SPM_CHAR = 4 };

typedef struct mv_spm_piece {
    const char *text; /* points into the parsed buffer; not NUL-terminated */
    size_t len;
    float score;
    int type;
} mv_spm_piece;

typedef struct mv_spm_proto {
    mv_spm_piece *pieces;
    size_t n_pieces;
    /* trainer_spec (proto defaults when a field is absent) */
    int has_trainer_spec;
    int model_type;
    int byte_fallback;
    int treat_whitespace_as_suffix;
    int64_t unk_id, bos_id, eos_id, pad_id;
    /* normalizer_spec */
    int has_normalizer_spec;
    const char *norm_name; /* points into the buffer, norm_name_len bytes */
    size_t norm_name_len;
    size_t charsmap_len;   /* precompiled_charsmap size; 0 = no character mapping */
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} mv_spm_proto;

/* Parse buf[0..n) (which must outlive *out). path names the file in error messages. */
mv_status mv_spm_proto_parse(const uint8_t *buf, size_t n, const char *path, mv_spm_proto *out, mv_error *err);
void mv_spm_proto_free(mv_spm_proto *p);

#endif
