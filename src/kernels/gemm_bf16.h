/* gemm_bf16.h — private interface of the BF16-activation GEMM (precision=bf16): the packed weight
 * layout, one product's job description, and the per-ISA block kernels (gemm_bf16.c drives them). */
#ifndef MV_KERNELS_GEMM_BF16_H
#define MV_KERNELS_GEMM_BF16_H

#include <stdint.h>

#include "kernels/kernels.h"

enum {
    MV_BF16_NR = 32, /* columns per weight panel: two 16-lane FP32 accumulators, or two AMX B tiles */
    MV_BF16_KA = 32, /* K is padded (with zeros) to a multiple of this: one AMX tile row of BF16 */
    MV_BF16_MA = 32, /* converted activation rows are padded (with zeros) to a multiple of this */
};

/* W [N, K] as BF16, in panels of MV_BF16_NR columns; inside a panel, K pairs are interleaved the way
 * vdpbf16ps and AMX's B operand (VNNI layout) read them:
 *   data[(p * Kp/2 + k/2) * NR + j] = bf16(W[p*NR + j, k]) | bf16(W[p*NR + j, k+1]) << 16
 * with zeros past N and past K. */
struct mv_bf16_pack {
    int N, K;         /* logical shape */
    int Np, Kp;       /* padded: Np multiple of MV_BF16_NR, Kp multiple of MV_BF16_KA */
    uint32_t *data;   /* Np * Kp / 2 pairs, 64-byte aligned */
};

/* One product y[M, N] = bf16(x)·Wᵀ + bias: xb is x rounded to BF16, [Mp, Kp] row-major with zero
 * padding (Mp = M rounded up to MV_BF16_MA). Work items cover rows [m0, m1) × panels [p0, p1). */
typedef struct mv_bf16_job {
    const uint16_t *xb;
    const mv_bf16_pack *w;
    const float *bias;
    float *y;
    int M, N;
} mv_bf16_job;

/* Per-ISA kernel over one work item; returns 0 when it could not run (AMX state refused), so the
 * caller can redo the item with the portable kernel. */
typedef int (*mv_bf16_block_fn)(const mv_bf16_job *j, int m0, int m1, int p0, int p1);

int mv_bf16_block_avx512(const mv_bf16_job *j, int m0, int m1, int p0, int p1);
int mv_bf16_block_amx(const mv_bf16_job *j, int m0, int m1, int p0, int p1);
/* x rows [r0, r1) of [M, K] to BF16 (round to nearest even) into xb rows of Kp, zero padded. */
void mv_bf16_convert_avx512(uint16_t *xb, const float *x, int K, int Kp, int r0, int r1);
/* Whether AMX-BF16 is present and the kernel granted this process the tile state (asked once). */
int mv_amx_usable(void);

#endif
