/* weights_util.h — typed, shape-checked access to checkpoint tensors for the model loaders.
 * Every getter fails with MV_ERR_FORMAT naming the tensor when it is missing or has the wrong
 * shape or dtype, so the model code can trust what it gets. */
#ifndef MV_IO_WEIGHTS_UTIL_H
#define MV_IO_WEIGHTS_UTIL_H

#include "base/threadpool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

/* A [rows, cols] matrix in BF16/F16/F32, or quantized (Q8/Q4: tensors '<name>.qweight' and
 * '<name>.qscale', docs/QUANT.md) with every shape and dtype checked; viewed in place (no copy). */
mv_status mv_weight_matrix(const mv_weights *w, const char *name, int rows, int cols, mv_matrix *out, mv_error *err);
/* A float tensor of exactly `numel` elements (any shape with that many, e.g. [1,1,C] or [C]),
 * converted to a malloc'd float32 array (free with free()). Used for norms, biases, embeddings. */
mv_status mv_weight_f32(const mv_weights *w, const char *name, int64_t numel, float **out, mv_error *err);
/* Check a tensor's exact shape (ndim entries) and float dtype; returns the tensor via *out. */
mv_status mv_weight_shape(const mv_weights *w, const char *name, int ndim, const int64_t *shape,
                          const mv_tensor **out, mv_error *err);

/* `--quantize` at load: the float matrices among mats[0..n) whose width is a whole number of blocks
 * (docs/QUANT.md; the others stay as they are) quantized to t into one 64-byte aligned buffer,
 * *buf (free with free(); NULL when none qualified), each *mats[i] then viewing its copy. Matrices
 * sharing storage (a tied lm_head) share one copy. With src non-NULL, the checkpoint's pages of each
 * original are released once it is quantized, so the process never holds both. `what` names the
 * matrices in the out-of-memory message. */
mv_status mv_weights_quantize(const mv_weights *src, mv_matrix *const *mats, int n, mv_qtype t, mv_pool *pool,
                              const char *what, void **buf, mv_error *err);

/* Whether the checkpoint holds `name`, plain or quantized. */
int mv_weight_present(const mv_weights *w, const char *name);

#endif
