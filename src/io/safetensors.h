/* safetensors.h — read-only, validated access to .safetensors files through mmap, plus a writer.
 *
 * The reader checks everything a hostile file could get wrong before handing out a pointer: header
 * length within the file and under 100 MB, header JSON well formed, every dtype known, shape product ×
 * dtype size equal to the byte range, ranges inside the data section, no two ranges overlapping.
 * A "set" groups the shards of one checkpoint (model.safetensors.index.json) behind one lookup.
 */
#ifndef MV_IO_SAFETENSORS_H
#define MV_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "minivl.h"

typedef enum mv_dtype { MV_F32 = 0, MV_F16, MV_BF16, MV_I64, MV_I32, MV_U8, MV_I8, MV_DTYPE_COUNT } mv_dtype;

#define MV_MAX_DIMS 8

size_t mv_dtype_size(mv_dtype t);
const char *mv_dtype_name(mv_dtype t);
/* Parse "F32", "BF16", ... ; returns -1 for unknown. */
int mv_dtype_parse(const char *s);

typedef struct mv_tensor {
    const char *name;
    mv_dtype dtype;
    int ndim;
    int64_t shape[MV_MAX_DIMS];
    int64_t numel;
    const void *data;   /* points into the read-only mmap */
    size_t nbytes;
    const char *file;   /* which file it came from, for messages */
} mv_tensor;

typedef struct mv_safetensors mv_safetensors;

/* Open and validate one file. */
mv_status mv_st_open(const char *path, mv_safetensors **out, mv_error *err);
void mv_st_close(mv_safetensors *st);
size_t mv_st_count(const mv_safetensors *st);
const mv_tensor *mv_st_at(const mv_safetensors *st, size_t i);
/* NULL when absent. */
const mv_tensor *mv_st_find(const mv_safetensors *st, const char *name);
/* The value of __metadata__[key] or NULL. */
const char *mv_st_metadata(const mv_safetensors *st, const char *key);

/* All shards of a checkpoint directory: model.safetensors, or model.safetensors.index.json and the
 * files its weight_map names. Tensor names must be unique across shards. */
typedef struct mv_weights mv_weights;
mv_status mv_weights_open_dir(const char *dir, mv_weights **out, mv_error *err);
void mv_weights_close(mv_weights *w);
const mv_tensor *mv_weights_find(const mv_weights *w, const char *name);
size_t mv_weights_count(const mv_weights *w);
const mv_tensor *mv_weights_at(const mv_weights *w, size_t i);
size_t mv_weights_bytes(const mv_weights *w);
/* Hand back this process's pages of [p, p + n) when that range lies in one of the checkpoint's
 * mappings (whole pages inside it only): for a matrix the model no longer reads (quantized at load).
 * The mapping stays valid: a later read faults the file's bytes back in. Returns the bytes released
 * (0: not in a mapping, or nothing page-sized). */
size_t mv_weights_release(const mv_weights *w, const void *p, size_t n);

/* Convert n elements of a F32/F16/BF16 tensor region to float. */
void mv_to_f32(mv_dtype t, const void *src, float *dst, size_t n);

static inline float mv_bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
float mv_f16_to_f32(uint16_t h);
/* Round to nearest even (NaN kept quiet). */
uint16_t mv_f32_to_bf16(float f);
uint16_t mv_f32_to_f16(float f);

/* Writer: add tensors (data copied by reference until mv_stw_write), then write the file with keys
 * sorted, compact header, "__metadata__" last, header padded with spaces to a multiple of 8. */
typedef struct mv_st_writer mv_st_writer;
mv_st_writer *mv_stw_new(void);
/* data must stay valid until mv_stw_write; shape has ndim entries. */
mv_status mv_stw_add(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, mv_error *err);
/* A tensor whose bytes are produced at write time, in chunks, by gen (for multi-GB outputs).
 * gen(user, name, offset_bytes, dst, nbytes) fills dst with bytes [offset, offset+nbytes) of the
 * tensor; offsets are multiples of the element size. */
typedef void (*mv_stw_gen_fn)(void *user, const char *name, size_t offset, void *dst, size_t nbytes);
mv_status mv_stw_add_generated(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim,
                               const int64_t *shape, mv_stw_gen_fn gen, void *user, mv_error *err);
/* Optional metadata (default {"format":"pt"}). */
mv_status mv_stw_set_metadata(mv_st_writer *w, const char *key, const char *value, mv_error *err);
mv_status mv_stw_write(mv_st_writer *w, const char *path, mv_error *err);
void mv_stw_free(mv_st_writer *w);

#endif
