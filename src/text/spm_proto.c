/* spm_proto.c — protobuf wire-format reader for SentencePiece's ModelProto. Field numbers follow
 * sentencepiece_model.proto: ModelProto {1 pieces, 2 trainer_spec, 3 normalizer_spec}, SentencePiece
 * {1 piece, 2 score, 3 type}, TrainerSpec {3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback,
 * 40-43 unk/bos/eos/pad ids}, NormalizerSpec {1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 * 4 remove_extra_whitespaces, 5 escape_whitespaces}. */
#include "text/spm_proto.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

typedef struct reader {
    const uint8_t *p;
    size_t n, pos;
    size_t base; /* offset of p in the file, for messages */
} reader;

/* Why a read failed: the data ran out (truncated) or is not protobuf at all. */
typedef enum { RD_OK, RD_SHORT, RD_BAD } rd_status;

static rd_status read_varint(reader *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->n) return RD_SHORT;
        uint8_t b = r->p[r->pos++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return RD_OK;
    }
    return RD_BAD; /* more than 10 bytes */
}

typedef struct field {
    uint32_t num;
    int wire;
    uint64_t v;          /* varint value, or the raw bits of a fixed32/fixed64 */
    const uint8_t *data; /* WIRE_LEN payload */
    size_t len;
    size_t at;           /* file offset of the field's tag */
} field;

static rd_status read_fixed(reader *r, size_t width, uint64_t *v) {
    if (r->n - r->pos < width) return RD_SHORT;
    *v = 0;
    for (size_t i = 0; i < width; i++) *v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += width;
    return RD_OK;
}

/* Next field of the message in r; groups (wire types 3, 4) and field number 0 are rejected. */
static rd_status read_field(reader *r, field *f) {
    uint64_t tag;
    f->at = r->base + r->pos;
    rd_status st = read_varint(r, &tag);
    if (st != RD_OK) return st;
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->num == 0 || tag >> 32) return RD_BAD;
    switch (f->wire) {
    case WIRE_VARINT: return read_varint(r, &f->v);
    case WIRE_I64: return read_fixed(r, 8, &f->v);
    case WIRE_I32: return read_fixed(r, 4, &f->v);
    case WIRE_LEN:
        st = read_varint(r, &f->v);
        if (st != RD_OK) return st;
        if (f->v > r->n - r->pos) return RD_SHORT;
        f->data = r->p + r->pos;
        f->len = (size_t)f->v;
        r->pos += f->len;
        return RD_OK;
    default: return RD_BAD;
    }
}

static reader sub_reader(const reader *parent, const field *f) {
    reader r = {f->data, f->len, 0, parent->base + (size_t)(f->data - parent->p)};
    return r;
}

static mv_status wire_error(rd_status st, const char *path, size_t at, mv_error *err) {
    if (st == RD_SHORT)
        return mv_set_error(err, MV_ERR_FORMAT,
                            "%s: truncated or not a SentencePiece model (field at byte %zu runs past its end)", path,
                            at);
    return mv_set_error(err, MV_ERR_FORMAT, "%s: not a SentencePiece model (malformed protobuf at byte %zu)", path,
                        at);
}

static mv_status type_error(const char *path, const char *what, const field *f, mv_error *err) {
    return mv_set_error(err, MV_ERR_FORMAT, "%s: not a SentencePiece model (%s has wire type %d at byte %zu)", path,
                        what, f->wire, f->at);
}

static float as_float(uint64_t bits) {
    uint32_t b = (uint32_t)bits;
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static mv_status parse_piece(reader *r, const char *path, mv_spm_piece *pc, mv_error *err) {
    field f;
    int has_text = 0;
    pc->type = MV_SPM_NORMAL;
    pc->score = 0;
    size_t start = r->base;
    while (r->pos < r->n) {
        rd_status st = read_field(r, &f);
        if (st != RD_OK) return wire_error(st, path, f.at, err);
        if (f.num == 1) {
            if (f.wire != WIRE_LEN) return type_error(path, "SentencePiece.piece", &f, err);
            pc->text = (const char *)f.data;
            pc->len = f.len;
            has_text = 1;
        } else if (f.num == 2) {
            if (f.wire != WIRE_I32) return type_error(path, "SentencePiece.score", &f, err);
            pc->score = as_float(f.v);
        } else if (f.num == 3) {
            if (f.wire != WIRE_VARINT) return type_error(path, "SentencePiece.type", &f, err);
            if (f.v < MV_SPM_NORMAL || f.v > MV_SPM_BYTE)
                return mv_set_error(err, MV_ERR_FORMAT, "%s: piece at byte %zu has unknown type %llu", path, start,
                                    (unsigned long long)f.v);
            pc->type = (int)f.v;
        }
    }
    if (!has_text) return mv_set_error(err, MV_ERR_FORMAT, "%s: piece at byte %zu has no text", path, start);
    return MV_OK;
}

/* int32 fields are varints; negative values arrive sign-extended to 64 bits. */
static int64_t as_int32(uint64_t v) { return (int64_t)(int32_t)(uint32_t)v; }

static mv_status parse_trainer(reader *r, const char *path, mv_spm_proto *p, mv_error *err) {
    field f;
    while (r->pos < r->n) {
        rd_status st = read_field(r, &f);
        if (st != RD_OK) return wire_error(st, path, f.at, err);
        int is_int = f.num == 3 || f.num == 24 || f.num == 35 || (f.num >= 40 && f.num <= 43);
        if (!is_int) continue;
        if (f.wire != WIRE_VARINT) return type_error(path, "a trainer_spec field", &f, err);
        switch (f.num) {
        case 3: p->model_type = (int)as_int32(f.v); break;
        case 24: p->treat_whitespace_as_suffix = f.v != 0; break;
        case 35: p->byte_fallback = f.v != 0; break;
        case 40: p->unk_id = as_int32(f.v); break;
        case 41: p->bos_id = as_int32(f.v); break;
        case 42: p->eos_id = as_int32(f.v); break;
        default: p->pad_id = as_int32(f.v); break;
        }
    }
    return MV_OK;
}

static mv_status parse_normalizer(reader *r, const char *path, mv_spm_proto *p, mv_error *err) {
    field f;
    while (r->pos < r->n) {
        rd_status st = read_field(r, &f);
        if (st != RD_OK) return wire_error(st, path, f.at, err);
        if (f.num == 1 || f.num == 2) {
            if (f.wire != WIRE_LEN) return type_error(path, "a normalizer_spec field", &f, err);
            if (f.num == 1) {
                p->norm_name = (const char *)f.data;
                p->norm_name_len = f.len;
            } else {
                p->charsmap_len = f.len;
            }
        } else if (f.num >= 3 && f.num <= 5) {
            if (f.wire != WIRE_VARINT) return type_error(path, "a normalizer_spec flag", &f, err);
            int *flag = f.num == 3 ? &p->add_dummy_prefix : f.num == 4 ? &p->remove_extra_whitespaces
                                                                       : &p->escape_whitespaces;
            *flag = f.v != 0;
        }
    }
    return MV_OK;
}

static mv_status add_piece(reader *r, const field *f, const char *path, mv_spm_proto *p, size_t *cap,
                           mv_error *err) {
    if (p->n_pieces == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        mv_spm_piece *g = realloc(p->pieces, c * sizeof *g);
        if (!g) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        p->pieces = g;
        *cap = c;
    }
    reader sub = sub_reader(r, f);
    mv_status rc = parse_piece(&sub, path, &p->pieces[p->n_pieces], err);
    if (rc == MV_OK) p->n_pieces++;
    return rc;
}

mv_status mv_spm_proto_parse(const uint8_t *buf, size_t n, const char *path, mv_spm_proto *p, mv_error *err) {
    memset(p, 0, sizeof *p);
    p->model_type = MV_SPM_UNIGRAM;
    p->unk_id = 0;
    p->bos_id = 1;
    p->eos_id = 2;
    p->pad_id = -1;
    p->add_dummy_prefix = p->remove_extra_whitespaces = p->escape_whitespaces = 1;
    reader r = {buf, n, 0, 0};
    field f;
    size_t cap = 0;
    mv_status rc = MV_OK;
    for (rd_status st; rc == MV_OK && r.pos < r.n;) {
        if ((st = read_field(&r, &f)) != RD_OK) {
            rc = wire_error(st, path, f.at, err);
            break;
        }
        if (f.num > 5) continue; /* self_test_data, denormalizer_spec, extensions: not needed */
        if (f.wire != WIRE_LEN) {
            rc = type_error(path, "a ModelProto field", &f, err);
            break;
        }
        reader sub = sub_reader(&r, &f);
        if (f.num == 1) rc = add_piece(&r, &f, path, p, &cap, err);
        else if (f.num == 2) { p->has_trainer_spec = 1; rc = parse_trainer(&sub, path, p, err); }
        else if (f.num == 3) { p->has_normalizer_spec = 1; rc = parse_normalizer(&sub, path, p, err); }
    }
    if (rc == MV_OK && (p->n_pieces == 0 || !p->has_trainer_spec || !p->has_normalizer_spec))
        rc = mv_set_error(err, MV_ERR_FORMAT, "%s: truncated or not a SentencePiece model (%s missing)", path,
                          p->n_pieces == 0 ? "pieces" : !p->has_trainer_spec ? "trainer_spec" : "normalizer_spec");
    if (rc != MV_OK) mv_spm_proto_free(p);
    return rc;
}

void mv_spm_proto_free(mv_spm_proto *p) {
    free(p->pieces);
    p->pieces = NULL;
    p->n_pieces = 0;
}
