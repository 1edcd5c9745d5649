/* linear_pack.h — portable drivers included by each ISA file so the compiler specialises them with
 * that file's flags: weight-panel packing (W rows to f32 exactly, stored k-major) and the blocking of
 * attention's P·V over the ISA's register tile. */
#ifndef MV_LINEAR_PACK_H
#define MV_LINEAR_PACK_H

#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant.h"

/* Rows [n0, n0+nrows) × cols [k0, k0+kc) of w into panels of nr columns: dst[p*nr*kc + k*nr + j]. */
static inline void pack_panels_generic(const mv_matrix *w, int n0, int nrows, int k0, int kc, float *dst, int nr) {
    const size_t es = mv_dtype_size(w->dtype);
    const int padded = (nrows + nr - 1) / nr * nr;
    for (int j = 0; j < padded; j++) {
        float *d = dst + (size_t)(j / nr) * nr * kc + (j % nr);
        if (j >= nrows) {
            for (int k = 0; k < kc; k++) d[(size_t)k * nr] = 0.f;
            continue;
        }
        if (w->qtype != MV_Q_NONE) { /* k0 and kc are whole blocks: BLOCK_K is a multiple of MV_QBLOCK */
            float row[256];
            for (int k = 0; k < kc; k += 256) {
                const int n = kc - k < 256 ? kc - k : 256;
                mv_q_dequant(w, n0 + j, k0 + k, n, row);
                for (int i = 0; i < n; i++) d[(size_t)(k + i) * nr] = row[i];
            }
            continue;
        }
        const char *src = (const char *)w->data + ((size_t)(n0 + j) * (size_t)w->cols + (size_t)k0) * es;
        if (w->dtype == MV_BF16) {
            for (int k = 0; k < kc; k++) {
                uint16_t h;
                memcpy(&h, src + 2 * (size_t)k, 2); /* weights may sit unaligned in the mmap */
                d[(size_t)k * nr] = mv_bf16_to_f32(h);
            }
        } else if (w->dtype == MV_F16) {
            for (int k = 0; k < kc; k++) {
                uint16_t h;
                memcpy(&h, src + 2 * (size_t)k, 2);
                d[(size_t)k * nr] = mv_f16_to_f32(h);
            }
        } else {
            for (int k = 0; k < kc; k++) memcpy(&d[(size_t)k * nr], src + 4 * (size_t)k, 4);
        }
    }
}

/* One square of a transposing pack: rows[i] (i < W) hold W values of dtype t from element `at`
 * (plain dtypes widened exactly; dequantized rows come as F32 at 0); they land transposed in
 * dst[i·nr + j] (k row i, panel column j). W is the ISA's vector width in floats. */
typedef void (*pack_square_fn)(const void *const *rows, mv_dtype t, size_t at, float *dst, int nr);

/* The panels of pack_panels_generic (same values) W k × W columns at a time through a register
 * transpose instead of one strided store per value: plain rows are widened in place, quantized rows
 * dequantized a block at a time first. Panels of fewer than nr rows, and a k tail, go the generic way.
 * nr is a multiple of W, and W divides MV_QBLOCK. */
static inline __attribute__((always_inline)) void pack_panels_square(const mv_matrix *w, int n0, int nrows, int k0,
                                                                     int kc, float *dst, const int nr, const int W,
                                                                     pack_square_fn square) {
    /* The pack reads nr weight rows side by side, each from memory once per product, and waited on
     * them (its loads held most of its samples at ~4 GB/s): each row is prefetched this far ahead. */
    enum { MAX_NR = 32, PACK_PREFETCH_BYTES = 512 };
    const int whole = nr <= MAX_NR ? nrows / nr * nr : 0, quantized = w->qtype != MV_Q_NONE;
    const size_t es = mv_dtype_size(w->dtype);
    const int step = quantized ? MV_QBLOCK : W, kv = kc / step * step;
    for (int j0 = 0; j0 < whole; j0 += nr) {
        float *panel = dst + (size_t)j0 * kc;
        float block[MAX_NR][MV_QBLOCK]; /* quantized: nr rows of one block */
        const void *rows[MAX_NR];
        for (int k = 0; k < kv; k += step) {
            if (quantized)
                for (int j = 0; j < nr; j++) {
                    mv_q_dequant(w, n0 + j0 + j, k0 + k, MV_QBLOCK, block[j]);
                    rows[j] = block[j];
                }
            else
                for (int j = 0; j < nr; j++) {
                    rows[j] = (const char *)w->data + (size_t)(n0 + j0 + j) * (size_t)w->cols * es;
                    /* see PACK_PREFETCH_BYTES; once per cache line of each row */
                    const size_t ahead = (size_t)(k0 + k) * es + PACK_PREFETCH_BYTES;
                    if ((size_t)(k0 + k) * es % 64 < (size_t)W * es && ahead < (size_t)w->cols * es)
                        __builtin_prefetch((const char *)rows[j] + ahead);
                }
            for (int kk = 0; kk < step; kk += W)
                for (int h = 0; h < nr; h += W)
                    square(rows + h, quantized ? MV_F32 : w->dtype, quantized ? (size_t)kk : (size_t)(k0 + k + kk),
                           panel + (size_t)(k + kk) * nr + h, nr);
        }
        if (kv < kc) { /* the k tail of these rows: pack it alone, then place it */
            float tail[MAX_NR * MV_QBLOCK];
            pack_panels_generic(w, n0 + j0, nr, k0 + kv, kc - kv, tail, nr);
            memcpy(panel + (size_t)kv * nr, tail, (size_t)(kc - kv) * nr * sizeof *tail);
        }
    }
    if (whole < nrows) pack_panels_generic(w, n0 + whole, nrows - whole, k0, kc, dst + (size_t)whole * kc, nr);
}

/* out[rows, d] = P · V by register tiles of mr rows × nr columns; tile(…, t, …) computes one tile with
 * V rows of dtype t read in place. Each call names t as a constant, so an always-inline tile is
 * specialised per V dtype. */
typedef void (*pv_tile_fn)(const float *p, int ldp, int rows, const void *v, mv_dtype t, size_t ldv, int keys,
                           float *out, int ldo, int ncols);
static inline __attribute__((always_inline)) void pv_blocks(const float *p, int ldp, int rows, const void *v,
                                                             mv_dtype t, size_t ldv, int keys, int d, float *out,
                                                             int ldo, int nr, int mr, pv_tile_fn tile) {
    const size_t es = mv_dtype_size(t);
    for (int j0 = 0; j0 < d; j0 += nr)
        for (int m = 0; m < rows; m += mr) {
            const float *pm = p + (size_t)m * ldp;
            const void *vj = (const char *)v + (size_t)j0 * es;
            float *om = out + (size_t)m * ldo + j0;
            const int r = rows - m < mr ? rows - m : mr, nc = d - j0 < nr ? d - j0 : nr;
            if (t == MV_F16) tile(pm, ldp, r, vj, MV_F16, ldv, keys, om, ldo, nc);
            else if (t == MV_BF16) tile(pm, ldp, r, vj, MV_BF16, ldv, keys, om, ldo, nc);
            else tile(pm, ldp, r, vj, MV_F32, ldv, keys, om, ldo, nc);
        }
}

#endif
