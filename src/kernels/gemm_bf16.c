/* gemm_bf16.c — the BF16-activation GEMM of precision bf16: weight packing (once, at load), the
 * portable C kernel, the choice between AMX / AVX512-BF16 / C, and the driver that rounds the
 * activations to BF16 once per product and splits the work into (row block × column block) items. */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"

enum {
    BLOCK_M = 192,        /* activation rows per work item (multiple of MV_BF16_MA and of 12) */
    PANELS_PER_ITEM = 2,  /* weight panels (of MV_BF16_NR columns) per work item */
    CONVERT_ROWS = 64,    /* activation rows per conversion work item */
};

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* ------------------------------------------------------------------ packing */

/* Row n of w as BF16 (exact for BF16 weights, round to nearest even otherwise), zero padded to Kp. */
static void weight_row_bf16(const mv_matrix *w, int n, int Kp, uint16_t *row) {
    const size_t K = (size_t)w->cols, base = (size_t)n * K;
    if (w->dtype == MV_BF16) {
        memcpy(row, (const uint16_t *)w->data + base, K * 2); /* memcpy: the mmap may be unaligned */
    } else {
        for (size_t k = 0; k < K; k++) {
            uint16_t h;
            float f;
            if (w->dtype == MV_F16) memcpy(&h, (const uint16_t *)w->data + base + k, 2), f = mv_f16_to_f32(h);
            else memcpy(&f, (const float *)w->data + base + k, 4);
            row[k] = mv_f32_to_bf16(f);
        }
    }
    memset(row + K, 0, (size_t)(Kp - (int)K) * 2);
}

mv_bf16_pack *mv_bf16_pack_create(const mv_matrix *w) {
    if (!w || w->rows <= 0 || w->cols <= 0 || !w->data) return NULL;
    mv_bf16_pack *p = calloc(1, sizeof *p);
    uint16_t *row = p ? calloc((size_t)round_up(w->cols, MV_BF16_KA), 2) : NULL;
    if (!row) {
        free(p);
        return NULL;
    }
    p->N = w->rows;
    p->K = w->cols;
    p->Np = round_up(p->N, MV_BF16_NR);
    p->Kp = round_up(p->K, MV_BF16_KA);
    p->data = aligned_alloc(64, mv_bf16_pack_bytes(p)); /* a multiple of 64 bytes: NR pairs per K pair */
    if (!p->data) {
        free(row);
        free(p);
        return NULL;
    }
    const int kpairs = p->Kp / 2;
    for (int n = 0; n < p->Np; n++) {
        if (n < p->N) weight_row_bf16(w, n, p->Kp, row);
        else memset(row, 0, (size_t)p->Kp * 2);
        uint32_t *dst = p->data + (size_t)(n / MV_BF16_NR) * kpairs * MV_BF16_NR + n % MV_BF16_NR;
        for (int kp = 0; kp < kpairs; kp++) { /* little endian: even k in the low half */
            uint32_t pair;
            memcpy(&pair, row + 2 * kp, 4);
            dst[(size_t)kp * MV_BF16_NR] = pair;
        }
    }
    free(row);
    return p;
}

void mv_bf16_pack_free(mv_bf16_pack *p) {
    if (!p) return;
    free(p->data);
    free(p);
}

size_t mv_bf16_pack_bytes(const mv_bf16_pack *p) { return p ? (size_t)p->Np * (size_t)p->Kp * 2 : 0; }

/* ------------------------------------------------------------------ portable kernel */

static float lo_f32(uint32_t pair) { return mv_bf16_to_f32((uint16_t)(pair & 0xFFFF)); }
static float hi_f32(uint32_t pair) { return mv_bf16_to_f32((uint16_t)(pair >> 16)); }

/* Same arithmetic as vdpbf16ps: exact BF16 products, FP32 sums, pair by pair. */
static int block_ref(const mv_bf16_job *j, int m0, int m1, int p0, int p1) {
    const int Kp = j->w->Kp, kpairs = Kp / 2;
    for (int p = p0; p < p1; p++) {
        const uint32_t *panel = j->w->data + (size_t)p * kpairs * MV_BF16_NR;
        for (int c = 0; c < MV_BF16_NR && p * MV_BF16_NR + c < j->N; c++) {
            const int n = p * MV_BF16_NR + c;
            for (int m = m0; m < m1; m++) {
                const uint16_t *xr = j->xb + (size_t)m * Kp;
                float acc = 0.f;
                for (int kp = 0; kp < kpairs; kp++) {
                    uint32_t wp = panel[(size_t)kp * MV_BF16_NR + c];
                    acc += mv_bf16_to_f32(xr[2 * kp]) * lo_f32(wp);
                    acc += mv_bf16_to_f32(xr[2 * kp + 1]) * hi_f32(wp);
                }
                j->y[(size_t)m * j->N + n] = acc + (j->bias ? j->bias[n] : 0.f);
            }
        }
    }
    return 1;
}

static void convert_ref(uint16_t *xb, const float *x, int K, int Kp, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        uint16_t *d = xb + (size_t)r * Kp;
        for (int k = 0; k < K; k++) d[k] = mv_f32_to_bf16(x[(size_t)r * K + k]);
        memset(d + K, 0, (size_t)(Kp - K) * sizeof *d);
    }
}

/* ------------------------------------------------------------------ kernel choice */

typedef enum { BF16_NONE, BF16_AVX512, BF16_AMX } bf16_kind;
static pthread_once_t kind_once = PTHREAD_ONCE_INIT;
static bf16_kind kind_choice = BF16_NONE;

static int cpu_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1; /* CPUID.(EAX=7,ECX=1):EAX[5] = AVX512_BF16 */
}

static void choose_kind(void) {
    if (mv_kernels_isa_id() != MV_ISA_AVX512 || !cpu_avx512_bf16()) return; /* honours MINIVL_ISA=avx2|scalar */
    const char *cap = getenv("MINIVL_BF16");
    if (cap && !strcmp(cap, "none")) return;
    kind_choice = BF16_AVX512;
    if (!(cap && !strcmp(cap, "avx512bf16")) && mv_amx_usable()) kind_choice = BF16_AMX;
}

static bf16_kind bf16_kind_get(void) {
    pthread_once(&kind_once, choose_kind);
    return kind_choice;
}

const char *mv_bf16_kernel(void) {
    static const char *const names[] = { "none", "avx512bf16", "amx" };
    return names[bf16_kind_get()];
}

/* ------------------------------------------------------------------ driver */

typedef struct bf16_run {
    mv_bf16_job job;
    const float *x;
    mv_bf16_block_fn block;
    int use_simd_convert;
    int blocks_p;  /* column blocks (of PANELS_PER_ITEM panels) */
    int Mp;
} bf16_run;

/* Rows [r0, r0 + CONVERT_ROWS) of the padded block: rows below M converted, the rest zeroed (AMX
 * reads whole 16-row tiles). */
static void convert_item(void *ctx, int item, int thread) {
    (void)thread;
    bf16_run *r = ctx;
    const int K = r->job.w->K, Kp = r->job.w->Kp;
    uint16_t *xb = (uint16_t *)r->job.xb;
    int r0 = item * CONVERT_ROWS, rend = r0 + CONVERT_ROWS < r->Mp ? r0 + CONVERT_ROWS : r->Mp;
    int r1 = rend < r->job.M ? rend : r->job.M;
    if (r0 < r1) {
        if (r->use_simd_convert) mv_bf16_convert_avx512(xb, r->x, K, Kp, r0, r1);
        else convert_ref(xb, r->x, K, Kp, r0, r1);
    }
    int z0 = r1 > r0 ? r1 : r0;
    if (z0 < rend) memset(xb + (size_t)z0 * Kp, 0, (size_t)(rend - z0) * Kp * sizeof *xb);
}

static void gemm_item(void *ctx, int item, int thread) {
    (void)thread;
    const bf16_run *r = ctx;
    const int np = r->job.w->Np / MV_BF16_NR;
    int m0 = (item / r->blocks_p) * BLOCK_M, m1 = m0 + BLOCK_M < r->job.M ? m0 + BLOCK_M : r->job.M;
    int p0 = (item % r->blocks_p) * PANELS_PER_ITEM, p1 = p0 + PANELS_PER_ITEM < np ? p0 + PANELS_PER_ITEM : np;
    if (!r->block(&r->job, m0, m1, p0, p1)) block_ref(&r->job, m0, m1, p0, p1);
}

static int linear_bf16(mv_pool *pool, float *y, const float *x, int M, const mv_bf16_pack *w, const float *bias,
                       bf16_kind kind) {
    if (M <= 0) return 1;
    bf16_run r = { { NULL, w, bias, y, M, w->N }, x, block_ref, kind != BF16_NONE, 0, round_up(M, MV_BF16_MA) };
    if (kind == BF16_AVX512) r.block = mv_bf16_block_avx512;
    if (kind == BF16_AMX) r.block = mv_bf16_block_amx;
    uint16_t *xb = aligned_alloc(64, (size_t)r.Mp * (size_t)w->Kp * 2); /* Kp·2 bytes is a multiple of 64 */
    if (!xb) return 0;
    r.job.xb = xb;
    /* One conversion item per CONVERT_ROWS rows of the padded block, so padding rows get zeroed too. */
    mv_pool_for(pool, r.Mp / CONVERT_ROWS + (r.Mp % CONVERT_ROWS != 0), convert_item, &r);
    r.blocks_p = (w->Np / MV_BF16_NR + PANELS_PER_ITEM - 1) / PANELS_PER_ITEM;
    mv_pool_for(pool, r.blocks_p * ((M + BLOCK_M - 1) / BLOCK_M), gemm_item, &r);
    free(xb);
    return 1;
}

int mv_linear_bf16(mv_pool *pool, float *y, const float *x, int M, const mv_bf16_pack *w, const float *bias) {
    return linear_bf16(pool, y, x, M, w, bias, bf16_kind_get());
}

int mv_linear_bf16_ref(mv_pool *pool, float *y, const float *x, int M, const mv_bf16_pack *w, const float *bias) {
    return linear_bf16(pool, y, x, M, w, bias, BF16_NONE);
}
