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
