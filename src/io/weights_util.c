#include "io/weights_util.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "kernels/quant.h"

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

/* The '<name>.qweight' / '<name>.qscale' pair of a quantized [rows, cols] matrix, fully checked:
 * codes I8 [rows, cols] (Q8) or U8 [rows, cols/2] (Q4), scales F16 [rows, cols/32]. *qw is the codes
 * tensor, NULL when the matrix is not stored quantized at all (then MV_OK and out untouched). */
static mv_status find_quantized(const mv_weights *w, const char *name, int64_t rows, int64_t cols, mv_matrix *out,
                                const mv_tensor **qw, mv_error *err) {
    char qname[320], sname[320], got[160], want[160];
    snprintf(qname, sizeof qname, "%s.qweight", name);
    snprintf(sname, sizeof sname, "%s.qscale", name);
    const mv_tensor *q = mv_weights_find(w, qname), *s = mv_weights_find(w, sname);
    *qw = NULL;
    if (!q && !s) return MV_OK;
    if (!q || !s)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' is missing (a quantized matrix needs both '%s' and '%s')",
                            (q ? q : s)->file, q ? sname : qname, qname, sname);
    if (mv_weights_find(w, name))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' is stored both plain and quantized ('%s')", q->file,
                            name, qname);
    const mv_qtype t = q->dtype == MV_I8 ? MV_Q8 : q->dtype == MV_U8 ? MV_Q4 : MV_Q_NONE;
    if (t == MV_Q_NONE)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected I8 (q8) or U8 (q4)", q->file,
                            qname, mv_dtype_name(q->dtype));
    if (cols < MV_QBLOCK || cols % MV_QBLOCK)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' is quantized but its %lld columns are not a multiple of "
                            "the %d-weight block", q->file, name, (long long)cols, MV_QBLOCK);
    const int64_t qshape[2] = { rows, t == MV_Q8 ? cols : cols / 2 }, sshape[2] = { rows, cols / MV_QBLOCK };
    if (q->ndim != 2 || q->shape[0] != qshape[0] || q->shape[1] != qshape[1]) {
        shape_str(q->shape, q->ndim, got, sizeof got);
        shape_str(qshape, 2, want, sizeof want);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' (%s codes) has shape %s but the config implies %s",
                            q->file, qname, mv_qtype_name(t), got, want);
    }
    if (s->dtype != MV_F16)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F16", s->file, sname,
                            mv_dtype_name(s->dtype));
    if (s->ndim != 2 || s->shape[0] != sshape[0] || s->shape[1] != sshape[1]) {
        shape_str(s->shape, s->ndim, got, sizeof got);
        shape_str(sshape, 2, want, sizeof want);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has shape %s but %s needs one scale per %d weights: %s",
                            s->file, sname, got, name, MV_QBLOCK, want);
    }
    *out = (mv_matrix){ .dtype = q->dtype, .data = q->data, .rows = (int)rows, .cols = (int)cols, .qtype = t, .scales = s->data };
    *qw = q;
    return MV_OK;
}

int mv_weight_present(const mv_weights *w, const char *name) {
    char qname[320];
    snprintf(qname, sizeof qname, "%s.qweight", name);
    return mv_weights_find(w, name) || mv_weights_find(w, qname);
}

mv_status mv_weight_shape(const mv_weights *w, const char *name, int ndim, const int64_t *shape,
                          const mv_tensor **out, mv_error *err) {
    const mv_tensor *t = NULL;
    if (ndim == 2) {
        mv_matrix m;
        mv_status rc = find_quantized(w, name, shape[0], shape[1], &m, &t, err);
        if (rc != MV_OK || t) {
            if (out) *out = t;
            return rc;
        }
    }
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
    mv_status rc = find_quantized(w, name, rows, cols, out, &t, err);
    if (rc != MV_OK || t) return rc;
    if ((rc = mv_weight_shape(w, name, 2, shape, &t, err)) != MV_OK) return rc;
    *out = (mv_matrix){ .dtype = t->dtype, .data = t->data, .rows = rows, .cols = cols };
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

static int quantizable(const mv_matrix *w) {
    return w->data && w->qtype == MV_Q_NONE && w->rows > 0 && w->cols >= MV_QBLOCK && w->cols % MV_QBLOCK == 0;
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Bytes of w's codes and of its scales, each padded to 64 so every matrix starts aligned. */
static size_t codes_bytes(const mv_matrix *w, mv_qtype t) { return round64((size_t)w->rows * mv_q_row_bytes(t, w->cols)); }
static size_t scale_bytes(const mv_matrix *w) { return round64((size_t)w->rows * (size_t)(w->cols / MV_QBLOCK) * 2); }

/* Index of an earlier matrix with the same storage as mats[i] (originals[] holds the data pointers
 * as loaded), or -1. */
static int shares_with(const void *const *originals, int i) {
    for (int j = 0; j < i; j++)
        if (originals[j] == originals[i]) return j;
    return -1;
}

mv_status mv_weights_quantize(const mv_weights *src, mv_matrix *const *mats, int n, mv_qtype t, mv_pool *pool,
                              const char *what, void **buf, mv_error *err) {
    *buf = NULL;
    if (n <= 0) return MV_OK;
    const void **originals = malloc((size_t)n * sizeof *originals);
    if (!originals) return mv_set_error(err, MV_ERR_NOMEM, "out of memory quantizing %s", what);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        originals[i] = quantizable(mats[i]) ? mats[i]->data : NULL;
        if (originals[i] && shares_with(originals, i) < 0) bytes += codes_bytes(mats[i], t) + scale_bytes(mats[i]);
    }
    char *mem = bytes ? aligned_alloc(64, bytes) : NULL;
    if (bytes && !mem) {
        free(originals);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory quantizing %s to %s (%zu MB)", what, mv_qtype_name(t), bytes >> 20);
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (!originals[i]) continue;
        const int first = shares_with(originals, i);
        if (first >= 0) {
            *mats[i] = *mats[first];
            continue;
        }
        const mv_matrix original = *mats[i];
        const size_t cb = codes_bytes(&original, t);
        mv_q_quantize_matrix(pool, &original, t, mem + at, (uint16_t *)(void *)(mem + at + cb), mats[i]);
        if (src) mv_weights_release(src, original.data, (size_t)original.rows * (size_t)original.cols * mv_dtype_size(original.dtype));
        at += cb + scale_bytes(&original);
    }
    free(originals);
    *buf = mem;
    return MV_OK;
}
