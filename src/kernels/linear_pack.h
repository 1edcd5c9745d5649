/* linear_pack.h — portable weight-panel packing, included by each ISA file so the compiler
 * specialises it with that file's flags. Converts W rows to f32 exactly and stores them k-major. */
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

#endif
