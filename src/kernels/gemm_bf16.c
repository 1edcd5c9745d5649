/* gemm_bf16.c — the BF16-activation GEMM of precision bf16: panel packing (per product, from the
 * weights as stored: no copy of the model is kept), the portable C kernel, the choice between AMX /
 * AVX512-BF16 / C, and the driver that rounds the activations to BF16 once per product and splits the
 * work into (row block × column block) items. */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"
#include "kernels/quant.h"

enum {
    PANELS_PER_ITEM = 2,  /* weight panels (of MV_BF16_NR columns) per work item */
    ROW_QUANTUM = 96,     /* rows per item are a multiple of this: 12-row AVX-512 tiles, 32-row AMX blocks */
    MIN_ROWS = 192,       /* fewer rows per item would not repay packing the item's panels */
    MAX_ROWS = 1056,     /* one 448 tile (1025 rows) in one item, so its panels are packed once */
    ITEMS_PER_THREAD = 4, /* when rows are split to balance the threads */
    STEP_ROWS = 32,       /* rows run between two steps of packing the next panel slice (AMX: 32-row blocks) */
    SLICE_WORDS = MV_BF16_KC / 2 * MV_BF16_NR, /* one packed panel slice */
    CONVERT_ROWS = 64,    /* activation rows per conversion work item */
};

static int round_up(int v, int m) { return (v + m - 1) / m * m; }
static int imin(int a, int b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ packing */

/* W[n, k] of a plain-dtype matrix as BF16: exact for BF16 weights, round to nearest even otherwise;
 * 0 past K (quantized matrices reach here only past K). */
static uint32_t weight_bf16(const mv_matrix *w, int n, int k) {
    if (k >= w->cols) return 0;
    const size_t i = (size_t)n * (size_t)w->cols + (size_t)k;
    uint16_t h;
    float f;
    switch (w->dtype) { /* memcpy: the mmap may leave the data unaligned */
    case MV_BF16: memcpy(&h, (const uint16_t *)w->data + i, 2); return h;
    case MV_F16: memcpy(&h, (const uint16_t *)w->data + i, 2); return mv_f32_to_bf16(mv_f16_to_f32(h));
    default: memcpy(&f, (const float *)w->data + i, 4); return mv_f32_to_bf16(f);
    }
}

/* Packs the panel slice of columns [n0, n0 + MV_BF16_NR) × K [k0, k0 + kc) (layout in gemm_bf16.h)
 * in steps, so that its weight reads (cold: a short run of each of 32 rows) can overlap the previous
 * slice's products: with `simd`, BF16 weights go 16 K pairs at a time through a transpose, and Q8/Q4
 * weights one quantization block (also 16 K pairs) at a time through a dequantization to BF16 and the
 * same transpose (the steps); the rest (other dtypes, an odd last k, padding, rows past N) goes value
 * by value when it finishes. */
typedef struct slice_packer {
    const mv_matrix *w;
    uint32_t *panel;
    int n0, k0, kc;
    int whole;              /* K pairs inside K of BF16 or quantized weights: copied or dequantized */
    int groups, next_group; /* groups of 16 K pairs done by the steps: total, and the first not yet packed */
} slice_packer;

static void packer_start(slice_packer *sp, const mv_matrix *w, int n0, int k0, int kc, uint32_t *panel, int simd) {
    const int K = w->cols, by_pairs = w->dtype == MV_BF16 || w->qtype != MV_Q_NONE;
    const int whole = !by_pairs ? 0 : K - k0 >= kc ? kc / 2 : K > k0 ? (K - k0) / 2 : 0;
    *sp = (slice_packer){ w, panel, n0, k0, kc, whole, simd ? whole / 16 : 0, 0 };
}

/* Row n0 + j of a BF16 matrix from k0 on. */
static const uint16_t *slice_row(const slice_packer *sp, int j) {
    return (const uint16_t *)sp->w->data + (size_t)(sp->n0 + j) * (size_t)sp->w->cols + (size_t)sp->k0;
}

/* The bytes of row n0 + j that group g reads (BF16: 64, Q8: 32, Q4: 16 bytes of codes). */
static const char *group_bytes(const slice_packer *sp, int j, int g, size_t *len) {
    const mv_matrix *w = sp->w;
    if (w->qtype == MV_Q_NONE) {
        *len = 64;
        return (const char *)(slice_row(sp, j) + 32 * (size_t)g);
    }
    *len = mv_q_row_bytes(w->qtype, MV_QBLOCK);
    return (const char *)mv_q_block_codes(w, sp->n0 + j, (sp->k0 + 32 * g) / MV_QBLOCK);
}

static int packer_step_end(const slice_packer *sp, int groups) {
    return sp->next_group + groups < sp->groups ? sp->next_group + groups : sp->groups;
}

static void packer_step(slice_packer *sp, int groups) {
    const int g1 = packer_step_end(sp, groups);
    if (g1 <= sp->next_group) return;
    if (sp->w->qtype != MV_Q_NONE)
        for (int g = sp->next_group; g < g1; g++)
            mv_bf16_pack_q_avx512(sp->w, sp->n0, sp->k0 + 32 * g, sp->panel + (size_t)16 * g * MV_BF16_NR);
    else
        mv_bf16_pack_avx512(slice_row(sp, 0) + 32 * (size_t)sp->next_group, (size_t)sp->w->cols,
                            sp->w->rows - sp->n0, 16 * (g1 - sp->next_group),
                            sp->panel + (size_t)16 * sp->next_group * MV_BF16_NR);
    sp->next_group = g1;
}

/* Asks for the weights the next `groups` groups will read (each row's bytes of a group, maybe split
 * over two cache lines), so that they arrive while other work runs. */
static void packer_prefetch(const slice_packer *sp, int groups) {
    const int g1 = packer_step_end(sp, groups);
    const int rows = sp->w->rows - sp->n0 < MV_BF16_NR ? sp->w->rows - sp->n0 : MV_BF16_NR;
    for (int j = 0; j < rows && g1 > sp->next_group; j++) {
        size_t len;
        const uintptr_t a = (uintptr_t)group_bytes(sp, j, sp->next_group, &len);
        const uintptr_t end = a + len * (size_t)(g1 - sp->next_group);
        for (uintptr_t line = a & ~(uintptr_t)63; line < end; line += 64) __builtin_prefetch((const void *)line, 0, 3);
    }
}

/* K pairs [kp, whole) of row n of a quantized matrix, one block (16 pairs) at a time; kp is a
 * multiple of 16, and so is whole (K is a multiple of the block). Returns the next pair: whole. */
static int finish_quantized(const slice_packer *sp, int n, int kp, uint32_t *dst) {
    for (; kp < sp->whole; kp += MV_QBLOCK / 2) {
        float v[MV_QBLOCK];
        mv_q_dequant(sp->w, n, sp->k0 + 2 * kp, MV_QBLOCK, v);
        for (int i = 0; i < MV_QBLOCK / 2; i++)
            dst[(size_t)(kp + i) * MV_BF16_NR] = mv_f32_to_bf16(v[2 * i]) | (uint32_t)mv_f32_to_bf16(v[2 * i + 1]) << 16;
    }
    return kp;
}

static void packer_finish(slice_packer *sp) {
    packer_step(sp, sp->groups);
    const mv_matrix *w = sp->w;
    const int kpairs = sp->kc / 2, done = 16 * sp->groups;
    for (int j = 0; j < MV_BF16_NR; j++) {
        const int n = sp->n0 + j;
        uint32_t *dst = sp->panel + j;
        int kp = done;
        if (n >= w->rows) {
            for (; kp < kpairs; kp++) dst[(size_t)kp * MV_BF16_NR] = 0;
            continue;
        }
        if (w->qtype != MV_Q_NONE) kp = finish_quantized(sp, n, kp, dst);
        for (; kp < sp->whole; kp++) /* BF16, little endian: even k low */
            memcpy(&dst[(size_t)kp * MV_BF16_NR], slice_row(sp, j) + 2 * (size_t)kp, 4);
        for (; kp < kpairs; kp++) /* other dtypes, and zeros past K */
            dst[(size_t)kp * MV_BF16_NR] = weight_bf16(w, n, sp->k0 + 2 * kp) | weight_bf16(w, n, sp->k0 + 2 * kp + 1) << 16;
    }
}

/* ------------------------------------------------------------------ portable kernel */

static float lo_f32(uint32_t pair) { return mv_bf16_to_f32((uint16_t)(pair & 0xFFFF)); }
static float hi_f32(uint32_t pair) { return mv_bf16_to_f32((uint16_t)(pair >> 16)); }

/* Same arithmetic as vdpbf16ps: exact BF16 products, FP32 sums, pair by pair, onto bias or y. */
static int block_ref(const mv_bf16_job *j, int m0, int m1, const uint32_t *panel, int n0, int k0, int kc) {
    for (int c = 0; c < MV_BF16_NR && n0 + c < j->N; c++) {
        const int n = n0 + c;
        for (int m = m0; m < m1; m++) {
            const uint16_t *xr = mv_bf16_x_at(j, m, k0);
            float *dst = j->y + (size_t)m * j->N + n;
            float acc = k0 > 0 ? *dst : j->bias ? j->bias[n] : 0.f;
            for (int kp = 0; kp < kc / 2; kp++) {
                const uint32_t wp = panel[(size_t)kp * MV_BF16_NR + c];
                acc += mv_bf16_to_f32(xr[2 * kp]) * lo_f32(wp);
                acc += mv_bf16_to_f32(xr[2 * kp + 1]) * hi_f32(wp);
            }
            *dst = acc;
        }
    }
    return 1;
}

static void convert_ref(uint16_t *xb, size_t ldxb, const float *x, size_t ldx, int K, int Kp, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        uint16_t *d = xb + (size_t)r * ldxb;
        for (int k = 0; k < K; k++) d[k] = mv_f32_to_bf16(x[(size_t)r * ldx + k]);
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
    const mv_matrix *w;
    const float *x;
    mv_bf16_block_fn block;
    int use_simd_convert; /* AVX-512 activation conversion and panel packing */
    int blocks_p;  /* column blocks (of PANELS_PER_ITEM panels) */
    int rows;      /* rows per work item */
    int Mp, Kp;    /* rows and K padded (with zeros) in xb */
    uint32_t *panels; /* two panel slices per pool thread: in use, and being packed */
} bf16_run;

/* Rows [r0, r0 + CONVERT_ROWS) of the padded block, K slice by K slice: rows below M converted, the
 * rest zeroed (AMX reads whole 16-row tiles). */
static void convert_item(void *ctx, int item, int thread) {
    (void)thread;
    bf16_run *r = ctx;
    const int K = r->w->cols;
    const size_t ldxb = (size_t)r->job.ldx;
    int r0 = item * CONVERT_ROWS, rend = r0 + CONVERT_ROWS < r->Mp ? r0 + CONVERT_ROWS : r->Mp;
    int r1 = rend < r->job.M ? rend : r->job.M, z0 = r1 > r0 ? r1 : r0;
    for (int k0 = 0; k0 < r->Kp; k0 += MV_BF16_KC) {
        uint16_t *xb = (uint16_t *)mv_bf16_x_at(&r->job, 0, k0);
        const int ks = imin(K - k0, MV_BF16_KC), kps = imin(r->Kp - k0, MV_BF16_KC);
        if (r0 < r1) {
            if (r->use_simd_convert) mv_bf16_convert_avx512(xb, ldxb, r->x + k0, (size_t)K, ks, kps, r0, r1);
            else convert_ref(xb, ldxb, r->x + k0, (size_t)K, ks, kps, r0, r1);
        }
        if (z0 < rend) memset(xb + (size_t)z0 * ldxb, 0, (size_t)(rend - z0) * ldxb * sizeof *xb);
    }
}

static void run_block(const bf16_run *r, int m0, int m1, const slice_packer *sp) {
    if (!r->block(&r->job, m0, m1, sp->panel, sp->n0, sp->k0, sp->kc))
        block_ref(&r->job, m0, m1, sp->panel, sp->n0, sp->k0, sp->kc);
}

/* Starts packing slice s of an item whose panels are [p0, p1) (K chunks outer, panels inner) into
 * panel; 0 when the item has no slice s. */
static int start_slice(const bf16_run *r, int p0, int p1, int s, uint32_t *panel, slice_packer *sp) {
    const int k0 = s / (p1 - p0) * MV_BF16_KC, Kp = r->Kp;
    if (k0 >= Kp) return 0;
    packer_start(sp, r->w, (p0 + s % (p1 - p0)) * MV_BF16_NR, k0, Kp - k0 < MV_BF16_KC ? Kp - k0 : MV_BF16_KC, panel,
                 r->use_simd_convert);
    return 1;
}

/* Each panel slice is packed once per item and used by all the item's rows; the next slice is packed
 * a few groups after each STEP_ROWS rows of the current one, its weights requested before those rows
 * run, so that the cold reads overlap the products. */
static void gemm_item(void *ctx, int item, int thread) {
    const bf16_run *r = ctx;
    const int np = (r->job.N + MV_BF16_NR - 1) / MV_BF16_NR;
    const int m0 = (item / r->blocks_p) * r->rows, m1 = m0 + r->rows < r->job.M ? m0 + r->rows : r->job.M;
    const int p0 = (item % r->blocks_p) * PANELS_PER_ITEM, p1 = p0 + PANELS_PER_ITEM < np ? p0 + PANELS_PER_ITEM : np;
    const int steps = (m1 - m0 + STEP_ROWS - 1) / STEP_ROWS;
    uint32_t *buf[2] = { r->panels + (size_t)thread * 2 * SLICE_WORDS, r->panels + ((size_t)thread * 2 + 1) * SLICE_WORDS };
    slice_packer cur, next;
    start_slice(r, p0, p1, 0, buf[0], &cur);
    packer_finish(&cur);
    for (int s = 1;; s++) {
        const int more = start_slice(r, p0, p1, s, buf[s % 2], &next);
        const int per_step = more ? (next.groups + steps - 1) / steps : 0;
        for (int m = m0; m < m1; m += STEP_ROWS) {
            if (more) packer_prefetch(&next, per_step);
            run_block(r, m, m + STEP_ROWS < m1 ? m + STEP_ROWS : m1, &cur);
            if (more) packer_step(&next, per_step);
        }
        if (!more) break;
        packer_finish(&next);
        cur = next;
    }
}

/* All rows in one item when there are enough column blocks to keep the threads busy (each panel is
 * then packed once per product); otherwise rows split into blocks of at least MIN_ROWS. */
static int rows_per_item(int M, int blocks_p, int threads) {
    const int want_row_blocks = (ITEMS_PER_THREAD * threads + blocks_p - 1) / blocks_p;
    int rows = round_up((M + want_row_blocks - 1) / want_row_blocks, ROW_QUANTUM);
    if (rows < MIN_ROWS) rows = MIN_ROWS;
    return rows < MAX_ROWS ? rows : MAX_ROWS;
}

int mv_linear_bf16_with(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias,
                        mv_bf16_block_fn block) {
    if (M <= 0 || w->rows <= 0) return 1;
    if (w->cols <= 0 || (w->qtype != MV_Q_NONE && w->cols % MV_QBLOCK)) return 0;
    const int threads = mv_pool_threads(pool);
    const int Kp = round_up(w->cols, MV_BF16_KA), Mp = round_up(M, MV_BF16_MA);
    const int slices = (Kp + MV_BF16_KC - 1) / MV_BF16_KC, ldx = mv_bf16_row_stride(imin(Kp, MV_BF16_KC));
    bf16_run r = { { NULL, bias, y, M, w->rows, ldx, (size_t)Mp * (size_t)ldx }, w, x, block ? block : block_ref,
                   block != NULL, 0, 0, Mp, Kp, NULL };
    uint16_t *xb = aligned_alloc(64, (size_t)slices * r.job.slice * 2); /* ldx·2 bytes is a multiple of 64 */
    r.panels = aligned_alloc(64, (size_t)threads * 2 * SLICE_WORDS * sizeof *r.panels);
    if (!xb || !r.panels) {
        free(xb);
        free(r.panels);
        return 0;
    }
    r.job.xb = xb;
    /* One conversion item per CONVERT_ROWS rows of the padded block, so padding rows get zeroed too. */
    mv_pool_for(pool, r.Mp / CONVERT_ROWS + (r.Mp % CONVERT_ROWS != 0), convert_item, &r);
    r.blocks_p = ((w->rows + MV_BF16_NR - 1) / MV_BF16_NR + PANELS_PER_ITEM - 1) / PANELS_PER_ITEM;
    r.rows = rows_per_item(M, r.blocks_p, threads);
    mv_pool_for(pool, r.blocks_p * ((M + r.rows - 1) / r.rows), gemm_item, &r);
    free(xb);
    free(r.panels);
    return 1;
}

mv_bf16_block_fn mv_bf16_block_kernel(void) {
    static const mv_bf16_block_fn blocks[] = { [BF16_NONE] = NULL, [BF16_AVX512] = mv_bf16_block_avx512,
                                               [BF16_AMX] = mv_bf16_block_amx };
    return blocks[bf16_kind_get()];
}

int mv_linear_bf16(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    return mv_linear_bf16_with(pool, y, x, M, w, bias, mv_bf16_block_kernel());
}

int mv_linear_bf16_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    return mv_linear_bf16_with(pool, y, x, M, w, bias, NULL);
}
