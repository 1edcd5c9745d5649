/* gemm_bf16.h — private interface of the BF16-activation GEMM (precision=bf16): the packed panel
 * layout, one product's job description, and the per-ISA block kernels (gemm_bf16.c drives them). */
#ifndef MV_KERNELS_GEMM_BF16_H
#define MV_KERNELS_GEMM_BF16_H

#include <stdint.h>

#include "kernels/kernels.h"

enum {
    MV_BF16_NR = 32, /* columns per weight panel: two 16-lane FP32 accumulators, or two AMX B tiles */
    MV_BF16_KA = 32, /* K is padded (with zeros) to a multiple of this: one AMX tile row of BF16 */
    MV_BF16_MA = 32, /* converted activation rows are padded (with zeros) to a multiple of this */
    MV_BF16_KC = 1024, /* K per packed panel slice (multiple of MV_BF16_KA): 64 KB, stays in L2 while the rows pass */
};

/* A panel slice, packed per product from the weights as stored (no copy of the model is kept): 32
 * columns n0..n0+31 of W [N, K] as BF16 over K [k0, k0 + kc), K pairs interleaved the way vdpbf16ps
 * and AMX's B operand (VNNI layout) read them:
 *   panel[(k - k0)/2 * NR + j] = bf16(W[n0 + j, k]) | bf16(W[n0 + j, k + 1]) << 16   (k - k0 even)
 * with zeros past N and past K. */

/* One product y[M, N] = bf16(x)·Wᵀ + bias: xb is x rounded to BF16, Mp rows of Kp values with zero
 * padding (Mp = M rounded up to MV_BF16_MA, Kp = K rounded up to MV_BF16_KA), stored as K slices of
 * MV_BF16_KC one after another (`slice` elements apart), each slice's rows ldx apart. A slice's rows
 * are then one contiguous run that the prefetchers follow; rows of the whole K, read a slice at a
 * time, were short runs: with the row stride fixed alone, the vision encoder's fc2 (K = 4096) still
 * ran ~20% below fc1's rate (306 vs ~375 GFLOP/s; 338 with the slices).
 * Row-major xb is the case slice = MV_BF16_KC. */
typedef struct mv_bf16_job {
    const uint16_t *xb;
    const float *bias;
    float *y;
    int M, N, ldx;
    size_t slice;
} mv_bf16_job;

/* Row m of xb from k0 on (k0 a multiple of MV_BF16_KC: the block kernels' slices). */
static inline const uint16_t *mv_bf16_x_at(const mv_bf16_job *j, int m, int k0) {
    return j->xb + (size_t)(k0 / MV_BF16_KC) * j->slice + (size_t)m * (size_t)j->ldx;
}

/* Row stride (elements) for BF16 activation rows of Kp values (a multiple of MV_BF16_KA, whose 32
 * BF16 are one 64-byte line): an odd number of lines, so the rows a register tile reads side by side
 * (12; AMX: 16) sit in different L1 sets. At Kp·2 bytes a multiple of 4 KB all 12 share one 8-way
 * set and evict each other between uses: a hot AVX-512 tile ran 144–160 GFLOP/s a core so, 219 with
 * the rows one line further apart. */
static inline int mv_bf16_row_stride(int Kp) { return Kp / MV_BF16_KA % 2 ? Kp : Kp + MV_BF16_KA; }

/* Per-ISA kernel: rows [m0, m1) × the panel slice's 32 columns (from n0) over K [k0, k0 + kc) (k0 a
 * multiple of MV_BF16_KC, kc at most that): y = the
 * sums + bias when k0 == 0, y += the sums after. Returns 0 when it could not run (AMX state refused),
 * so the caller can redo the slice with the portable kernel. */
typedef int (*mv_bf16_block_fn)(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc);

/* The block kernel mv_linear_bf16 uses on this CPU (AMX or AVX512-BF16), NULL when there is none. */
mv_bf16_block_fn mv_bf16_block_kernel(void);

/* The driver with a given block kernel (NULL: the portable C kernel and conversion, as
 * mv_linear_bf16_ref); an AVX-512 kernel also gets the AVX-512 conversion and packing. mv_linear_bf16
 * passes the kernel the CPU supports; the AMX emulation test passes the AMX kernel built against its
 * emulator. Same returns as mv_linear_bf16. */
int mv_linear_bf16_with(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias,
                        mv_bf16_block_fn block);

/* mv_attention_bf16_kv with a given block kernel (the AMX emulation test passes its emulated one). */
int mv_attention_bf16_with(mv_bf16_block_fn block, mv_pool *pool, float *out, int out_stride, const float *q,
                           int q_stride, const void *k, const void *v, mv_dtype kv_t, int kv_stride,
                           size_t kv_head_stride, int n_heads, int n_kv_heads, int head_dim, int nq, int nk,
                           float scale, int causal, int q_offset);

int mv_bf16_block_avx512(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc);
int mv_bf16_block_amx(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc);
/* x rows [r0, r1) (ldx floats apart, K used) to BF16 (round to nearest even) into xb rows of Kp values
 * (zero padded) ldxb apart. */
void mv_bf16_convert_avx512(uint16_t *xb, size_t ldxb, const float *x, size_t ldx, int K, int Kp, int r0, int r1);
/* K pairs [0, npairs) (a multiple of 16) of the 32 BF16 rows at w (row stride ldw elements; rows past
 * `rows` read as zeros) into a panel slice. */
void mv_bf16_pack_avx512(const uint16_t *w, size_t ldw, int rows, int npairs, uint32_t *panel);
/* Vᵀ of attention as panel slices straight from V's rows: rows [0, nk) of d values (dtype t, F32 or
 * F16, `stride` elements apart) to panels of MV_BF16_NR head dimensions over nkp / 2 key pairs
 * (panel p at panels + p·nkp·MV_BF16_NR / 2, element (pair, j) = bf16(V[2·pair][32p + j]) |
 * bf16(V[2·pair + 1][32p + j]) << 16), zeros past nk and past d: what converting Vᵀ to BF16 and
 * packing it gives, without the transpose. */
void mv_bf16_pack_vt_avx512(const void *v, mv_dtype t, int stride, int nk, int d, int nkp, uint32_t *panels);
/* The 16 K pairs [k, k + 32) (one quantization block; k a multiple of 32, inside K) of the 32 rows
 * from n0 of a Q8/Q4 matrix, dequantized to BF16 (rows past N read as zeros), into a panel slice at
 * its group k's place. */
void mv_bf16_pack_q_avx512(const mv_matrix *w, int n0, int k, uint32_t *panel);
/* Whether AMX-BF16 is present and the kernel granted this process the tile state (asked once). */
int mv_amx_usable(void);

#endif
