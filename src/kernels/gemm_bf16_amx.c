/* gemm_bf16_amx.c — the AMX-BF16 kernel of precision bf16 (Sapphire Rapids and later): 32×32 output
 * blocks held in four FP32 tiles, fed by BF16 tiles of activations (A) and packed weight panels (B,
 * already in the VNNI pair layout AMX wants). Used only when CPUID reports AMX-BF16 and the kernel
 * grants the tile state (arch_prctl); otherwise the AVX512-BF16 kernel runs. */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cpuid.h>

#include "kernels/gemm_bf16.h"

enum {
    ARCH_GET_XCOMP_PERM_ = 0x1022,
    ARCH_REQ_XCOMP_PERM_ = 0x1023,
    XFEATURE_XTILEDATA_ = 18,
    TILE_ROWS = 16,   /* rows of every tile used here */
    TILE_BYTES = 64,  /* bytes per tile row: 16 FP32, or 32 BF16 (16 K pairs) */
    BLK = 32,         /* output block side: 2×2 tiles of 16×16 FP32 */
};

static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_ok;

static void probe_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return; /* EDX[22] AMX-BF16, EDX[24] AMX-TILE */
    /* Linux keeps the 8 KB tile state off until the process asks for it; a refusal (old kernel,
     * seccomp, a hypervisor that hides XTILEDATA) leaves amx_ok 0 and the AVX512-BF16 kernel in use. */
    if (syscall(SYS_arch_prctl, (long)ARCH_REQ_XCOMP_PERM_, (long)XFEATURE_XTILEDATA_) != 0) return; /* syscall reads longs */
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, (long)ARCH_GET_XCOMP_PERM_, &perm) != 0) return;
    amx_ok = (int)((perm >> XFEATURE_XTILEDATA_) & 1);
}

int mv_amx_usable(void) {
    pthread_once(&amx_once, probe_amx);
    return amx_ok;
}

/* The LDTILECFG operand. It lives in thread-local storage, not on the stack: GCC 12 drops stores to a
 * stack object whose only reader is _tile_loadconfig, leaving garbage shapes. */
typedef struct tile_config {
    uint8_t palette_id, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;
static _Thread_local tile_config tcfg __attribute__((aligned(64)));
_Static_assert(sizeof(tile_config) == 64, "LDTILECFG reads exactly 64 bytes");

static void load_tile_config(void) {
    tcfg = (tile_config){ .palette_id = 1 };
    for (int t = 0; t < 8; t++) { /* tmm0-3: C, tmm4-5: A, tmm6-7: B — all 16 rows × 64 bytes */
        tcfg.colsb[t] = TILE_BYTES;
        tcfg.rows[t] = TILE_ROWS;
    }
    __asm__ __volatile__("" ::: "memory"); /* the stores above must reach memory before ldtilecfg */
    _tile_loadconfig(&tcfg);
}

/* Rows [m, m1) ∩ [m, m+32) and ncols columns of a 32×32 FP32 block into y: y = blk + bias, or y += blk. */
static void store_block(const float *blk, float *y, int ldy, int rows, int ncols, const float *bias, int accumulate) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ncols; c++) {
            float *dst = y + (size_t)r * ldy + c;
            *dst = blk[r * BLK + c] + (accumulate ? *dst : bias ? bias[c] : 0.f);
        }
}

int mv_bf16_block_amx(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc) {
    if (!mv_amx_usable()) return 0;
    const int ldx = j->ldx, ncols = j->N - n0 < MV_BF16_NR ? j->N - n0 : MV_BF16_NR;
    const size_t lda = (size_t)ldx * 2, ldb = MV_BF16_NR * 4; /* bytes between tile rows */
    float blk[BLK * BLK] __attribute__((aligned(64)));
    load_tile_config();
    /* xb has zero rows up to a multiple of 32 past M, so whole A tiles are always in bounds. */
    for (int m = m0; m < m1; m += BLK) {
        const uint16_t *a = mv_bf16_x_at(j, m, k0);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int k = 0; k < kc; k += 32) {
            const uint32_t *b = panel + (size_t)(k / 2) * MV_BF16_NR;
            _tile_loadd(4, a + k, lda);
            _tile_loadd(5, a + (size_t)16 * ldx + k, lda);
            _tile_loadd(6, b, ldb);
            _tile_loadd(7, b + 16, ldb);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, blk, BLK * 4);
        _tile_stored(1, blk + 16, BLK * 4);
        _tile_stored(2, blk + 16 * BLK, BLK * 4);
        _tile_stored(3, blk + 16 * BLK + 16, BLK * 4);
        store_block(blk, j->y + (size_t)m * j->N + n0, j->N, m1 - m < BLK ? m1 - m : BLK, ncols,
                    j->bias ? j->bias + n0 : NULL, k0 > 0);
    }
    _tile_release();
    return 1;
}
