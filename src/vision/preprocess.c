/* preprocess.c — InternVL dynamic tiling, a bicubic resize bit-exact with Pillow 9.4's
 * ImagingResample, and the float32 ImageNet normalisation of torchvision. */
#include "vision/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "io/image.h"

/* Bit-exactness with Pillow needs the very same double arithmetic: no fused multiply-add. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

const float mv_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float mv_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

/* ------------------------------------------------------------------ grid choice */

void mv_choose_grid(int width, int height, int image_size, int min_tiles, int max_tiles, int *cols, int *rows) {
    double aspect = (double)width / height;
    double area = (double)width * height;
    double best_diff = INFINITY;
    int best_i = 1, best_j = 1;
    /* Candidates in increasing i*j, as upstream's sorted(set(...), key=i*j). */
    for (int n = min_tiles; n <= max_tiles; n++) {
        for (int i = 1; i <= n; i++) {
            if (n % i) continue;
            int j = n / i;
            double diff = fabs(aspect - (double)i / j);
            if (diff < best_diff) {
                best_diff = diff;
                best_i = i;
                best_j = j;
            } else if (diff == best_diff && area > 0.5 * image_size * image_size * i * j) {
                best_i = i; /* a tie goes to the larger grid only if the image has pixels for it */
                best_j = j;
            }
        }
    }
    *cols = best_i;
    *rows = best_j;
}

/* ------------------------------------------------------------------ Pillow bicubic resize */

#define MV_PREC_BITS 22 /* Pillow: 32 - 8 bits of pixel - 2 bits of headroom */

/* Keys' cubic with a = -0.5, written in Pillow's operation order. */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Fixed-point filter taps of one pass: output o reads n[o] inputs from first[o] with k[o*ksize..]. */
typedef struct taps {
    int ksize;
    int *first, *n;
    int32_t *k;
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->n);
    free(t->k);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for box (0, in_size). */
static int taps_make(taps *t, int in_size, int out_size) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale; /* bicubic support 2, widened when shrinking (antialias) */
    double inv = 1.0 / filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof(int) * (size_t)out_size);
    t->n = malloc(sizeof(int) * (size_t)out_size);
    t->k = calloc((size_t)out_size * (size_t)t->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)t->ksize);
    if (!t->first || !t->n || !t->k || !w) {
        free(w);
        return -1;
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int cnt = hi - lo;
        double sum = 0.0;
        for (int x = 0; x < cnt; x++) {
            w[x] = bicubic(((double)(x + lo) - center + 0.5) * inv);
            sum += w[x];
        }
        int32_t *k = t->k + (size_t)o * t->ksize;
        for (int x = 0; x < cnt; x++) {
            double v = sum != 0.0 ? w[x] / sum : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << MV_PREC_BITS)) : (int32_t)(0.5 + v * (1 << MV_PREC_BITS));
        }
        t->first[o] = lo;
        t->n[o] = cnt;
    }
    free(w);
    return 0;
}

/* Pillow's clip8: round-half-up already folded into the accumulator's start value. */
static inline uint8_t clip8(int32_t acc) {
    if (acc < 0) return 0;
    acc >>= MV_PREC_BITS;
    return (uint8_t)(acc > 255 ? 255 : acc);
}

/* Horizontal pass over rows [y0, y0+nrows) of src (width sw) into dst (width dw). */
static void pass_horizontal(const uint8_t *src, int sw, int y0, int nrows, uint8_t *dst, int dw, const taps *t) {
    for (int y = 0; y < nrows; y++) {
        const uint8_t *in = src + (size_t)(y0 + y) * sw * 3;
        uint8_t *out = dst + (size_t)y * dw * 3;
        for (int o = 0; o < dw; o++) {
            const int32_t *k = t->k + (size_t)o * t->ksize;
            const uint8_t *p = in + (size_t)t->first[o] * 3;
            int32_t r = 1 << (MV_PREC_BITS - 1), g = r, b = r;
            for (int x = 0; x < t->n[o]; x++) {
                r += p[3 * x] * k[x];
                g += p[3 * x + 1] * k[x];
                b += p[3 * x + 2] * k[x];
            }
            out[3 * o] = clip8(r);
            out[3 * o + 1] = clip8(g);
            out[3 * o + 2] = clip8(b);
        }
    }
}

/* Vertical pass: src rows are numbered from y_shift (the first row the horizontal pass kept). */
static void pass_vertical(const uint8_t *src, int w, int y_shift, uint8_t *dst, int dh, const taps *t) {
    size_t stride = (size_t)w * 3;
    for (int o = 0; o < dh; o++) {
        const int32_t *k = t->k + (size_t)o * t->ksize;
        const uint8_t *col0 = src + (size_t)(t->first[o] - y_shift) * stride;
        uint8_t *out = dst + (size_t)o * stride;
        for (size_t c = 0; c < stride; c++) {
            int32_t acc = 1 << (MV_PREC_BITS - 1);
            for (int y = 0; y < t->n[o]; y++) acc += col0[(size_t)y * stride + c] * k[y];
            out[c] = clip8(acc);
        }
    }
}

mv_status mv_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, mv_error *err) {
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return mv_set_error(err, MV_ERR_ARG, "resize: invalid size %dx%d -> %dx%d", sw, sh, dw, dh);
    if (sw == dw && sh == dh) { /* PIL returns a copy */
        memcpy(dst, src, (size_t)sw * sh * 3);
        return MV_OK;
    }
    taps th = {0}, tv = {0};
    uint8_t *tmp = NULL;
    mv_status st = MV_OK;
    if (taps_make(&th, sw, dw) || taps_make(&tv, sh, dh)) {
        st = mv_set_error(err, MV_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    if (sw == dw) { /* Pillow skips a pass whose size does not change */
        pass_vertical(src, sw, 0, dst, dh, &tv);
    } else if (sh == dh) {
        pass_horizontal(src, sw, 0, sh, dst, dw, &th);
    } else {
        /* Only rows the vertical taps read go through the horizontal pass. */
        int y_first = tv.first[0];
        int y_last = tv.first[dh - 1] + tv.n[dh - 1];
        tmp = malloc((size_t)dw * (size_t)(y_last - y_first) * 3);
        if (!tmp) {
            st = mv_set_error(err, MV_ERR_NOMEM, "resize: out of memory for %dx%d", dw, y_last - y_first);
            goto done;
        }
        pass_horizontal(src, sw, y_first, y_last - y_first, tmp, dw, &th);
        pass_vertical(tmp, dw, y_first, dst, dh, &tv);
    }
done:
    free(tmp);
    taps_free(&th);
    taps_free(&tv);
    return st;
}

/* ------------------------------------------------------------------ tiles */

void mv_tiles_free(mv_tiles *t) {
    if (!t) return;
    free(t->rgb);
    memset(t, 0, sizeof *t);
}

/* Copy the S x S block at tile (col, row) of an image `width` pixels wide. */
static void crop_tile(const uint8_t *img, int width, int col, int row, int s, uint8_t *dst) {
    size_t line = (size_t)s * 3;
    for (int y = 0; y < s; y++)
        memcpy(dst + (size_t)y * line, img + ((size_t)(row * s + y) * width + (size_t)col * s) * 3, line);
}

/* Largest grid side we accept: keeps cols*S and the tile buffer far from int/size overflow. */
#define MV_MAX_TILES 256
#define MV_MAX_TILE_SIZE 4096

mv_status mv_preprocess(const mv_image *img, int image_size, int min_tiles, int max_tiles, int use_thumbnail,
                        mv_tiles *out, mv_error *err) {
    if (!img || !out) return mv_set_error(err, MV_ERR_ARG, "preprocess: NULL argument");
    memset(out, 0, sizeof *out);
    if (image_size <= 0 || image_size > MV_MAX_TILE_SIZE)
        return mv_set_error(err, MV_ERR_ARG, "preprocess: image_size %d out of range 1..%d", image_size,
                            MV_MAX_TILE_SIZE);
    if (min_tiles < 1 || max_tiles < min_tiles || max_tiles > MV_MAX_TILES)
        return mv_set_error(err, MV_ERR_ARG, "preprocess: tile range %d..%d invalid (need 1 <= min <= max <= %d)",
                            min_tiles, max_tiles, MV_MAX_TILES);
    int w = mv_image_width(img), h = mv_image_height(img), s = image_size;
    int cols, rows;
    mv_choose_grid(w, h, s, min_tiles, max_tiles, &cols, &rows);
    int blocks = cols * rows;
    int count = blocks + (use_thumbnail && blocks != 1);
    size_t tile_bytes = (size_t)s * s * 3;

    uint8_t *resized = malloc(tile_bytes * (size_t)blocks);
    out->rgb = malloc(tile_bytes * (size_t)count);
    mv_status st = MV_OK;
    if (!resized || !out->rgb) {
        st = mv_set_error(err, MV_ERR_NOMEM, "preprocess: out of memory for %d tiles of %dx%d", count, s, s);
        goto fail;
    }
    st = mv_resize_bicubic(mv_image_rgb(img), w, h, resized, cols * s, rows * s, err);
    if (st != MV_OK) goto fail;
    for (int i = 0; i < blocks; i++) crop_tile(resized, cols * s, i % cols, i / cols, s, out->rgb + tile_bytes * i);
    if (count > blocks) {
        st = mv_resize_bicubic(mv_image_rgb(img), w, h, out->rgb + tile_bytes * blocks, s, s, err);
        if (st != MV_OK) goto fail;
    }
    free(resized);
    out->cols = cols;
    out->rows = rows;
    out->count = count;
    out->size = s;
    return MV_OK;
fail:
    free(resized);
    mv_tiles_free(out);
    return st;
}

/* ------------------------------------------------------------------ normalisation */

void mv_normalize_rgb(const uint8_t *rgb, int width, int height, const float mean[3], const float std[3],
                      float *out) {
    size_t plane = (size_t)width * height;
    for (int c = 0; c < 3; c++) {
        float *o = out + plane * c;
        for (size_t p = 0; p < plane; p++) o[p] = ((float)rgb[p * 3 + c] / 255.0f - mean[c]) / std[c];
    }
}

void mv_tiles_normalize(const mv_tiles *t, float *out) {
    size_t per_tile = (size_t)3 * t->size * t->size;
    for (int i = 0; i < t->count; i++)
        mv_normalize_rgb(t->rgb + per_tile * i, t->size, t->size, mv_imagenet_mean, mv_imagenet_std,
                         out + per_tile * i);
}
