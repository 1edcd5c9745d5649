#include "io/weights_util.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"

static int is_float(mv_dtype t) { return t == MV_F32 || t == MV_F16 || t == MV_BF16; }

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static mv_status find_float(const mv_weights *w, const char *name, const mv_tensor **out, mv_error *err) {
    const mv_tensor *t = mv_weights_find(w, name);
    if (!t) return mv_set_error(err, MV_ERR_FORMAT, "checkpoint: tensor '%s' is missing", name);
    if (!is_float(t->dtype))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected BF16, F16 or F32", t->file, name, mv_dtype_name(t->dtype));
    *out = t;
    return MV_OK;
}

mv_status mv_weight_shape(const mv_weights *w, const char *name, int ndim, const int64_t *shape,
                          const mv_tensor **out, mv_error *err) {
    const mv_tensor *t = NULL;
    mv_status rc = find_float(w, name, &t, err);
    if (rc != MV_OK) return rc;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[160], want[160];
        shape_str(t->shape, t->ndim, got, sizeof got);
        shape_str(shape, ndim, want, sizeof want);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has shape %s but the config implies %s", t->file, name, got, want);
    }
    if (out) *out = t;
    return MV_OK;
}

mv_status mv_weight_matrix(const mv_weights *w, const char *name, int rows, int cols, mv_matrix *out, mv_error *err) {
    const int64_t shape[2] = { rows, cols };
    const mv_tensor *t = NULL;
    mv_status rc = mv_weight_shape(w, name, 2, shape, &t, err);
    if (rc != MV_OK) return rc;
    out->dtype = t->dtype;
    out->data = t->data;
    out->rows = rows;
    out->cols = cols;
    return MV_OK;
}

mv_status mv_weight_f32(const mv_weights *w, const char *name, int64_t numel, float **out, mv_error *err) {
    const mv_tensor *t = NULL;
    mv_status rc = find_float(w, name, &t, err);
    if (rc != MV_OK) return rc;
    if (t->numel != numel) {
        char got[160];
        shape_str(t->shape, t->ndim, got, sizeof got);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has shape %s (%lld elements) but the config implies %lld",
                            t->file, name, got, (long long)t->numel, (long long)numel);
    }
    float *buf = malloc((size_t)(numel ? numel : 1) * sizeof *buf);
    if (!buf) return mv_set_error(err, MV_ERR_NOMEM, "out of memory loading '%s'", name);
    mv_to_f32(t->dtype, t->data, buf, (size_t)numel);
    *out = buf;
    return MV_OK;
}
