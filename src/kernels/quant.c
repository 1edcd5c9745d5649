/* quant.c — the Q8/Q4 block formats (quantize, dequantize), the plain C reference of the integer
 * decode product, and the choice of integer kernel for mv_linear_q. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_isa.h"
#include "kernels/quant_isa.h"

const char *mv_qtype_name(mv_qtype t) { return t == MV_Q8 ? "q8" : t == MV_Q4 ? "q4" : "none"; }

mv_qtype mv_qtype_parse(const char *s) {
    if (s && !strcmp(s, "q8")) return MV_Q8;
    if (s && !strcmp(s, "q4")) return MV_Q4;
    return MV_Q_NONE;
}

size_t mv_q_row_bytes(mv_qtype t, int cols) { return t == MV_Q4 ? (size_t)cols / 2 : (size_t)cols; }

mv_dtype mv_q_code_dtype(mv_qtype t) { return t == MV_Q8 ? MV_I8 : MV_U8; }

/* round-half-even(v) clamped to [lo, hi], as an int: the clamp comes first (it also maps NaN to lo),
 * then adding and removing 1.5·2^23 rounds in the FPU's default mode — what lrintf and the SIMD
 * conversions do, but inline and vectorizable. */
static inline float round_clamp_f(float v, float lo, float hi) {
    const float magic = 12582912.0f;
    v = v > lo ? v : lo; /* comparisons, not fmaxf/fminf: those are library calls at -O3 */
    v = v < hi ? v : hi;
    return (v + magic) - magic;
}
static inline int round_clamp(float v, float lo, float hi) { return (int)round_clamp_f(v, lo, hi); }

/* The stored F16 scale and the multiplier that maps weights to codes with it. */
static uint16_t block_scale(float d, float *mult) {
    uint16_t h = mv_f32_to_f16(d);
    float df = mv_f16_to_f32(h);
    *mult = df != 0 && isfinite(df) ? 1.0f / df : 0.0f;
    return h;
}

/* Q8: d = max|w| / 127, q = round(w / d). */
static void quantize_block_q8(const float *v, int8_t *q, uint16_t *scale) {
    float amax = 0, mult;
    for (int i = 0; i < MV_QBLOCK; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
    *scale = block_scale(amax / 127.0f, &mult);
    for (int i = 0; i < MV_QBLOCK; i++) q[i] = (int8_t)round_clamp(v[i] * mult, -127, 127);
}

/* Q4 (symmetric, 16 levels, u = q + 8): the weight of largest magnitude goes to the side with the
 * extra level (q = −8). Sixteen levels are coarse, so rather than d = w_max / −8 alone, a few
 * divisors around 8 are tried, each followed by the least-squares scale for its codes
 * (d = Σwq / Σq²), and the pair with the smallest squared error (with d rounded to F16) is kept.
 * The plain pair (d = F16(w_max / −8), its codes) is a candidate too: rounding the least-squares d
 * to F16 can leave every searched pair a hair worse than it, and the search must never lose to it. */
enum { Q4_TRIES = 5 };

/* An AVX2 clone runs the search 8 floats wide (1.6× the SSE2 default: `--quantize q4` at load was
 * ~4.5 s for InternVL2-1B). Same operations in the same order, no FMA (AVX2 alone does not enable
 * it, and -std=c11 keeps GCC from contracting), so both clones give identical codes and scales. */
__attribute__((target_clones("avx2", "default")))
static void quantize_block_q4(const float *v, uint8_t *packed, uint16_t *scale) {
    float vmax = 0, best_err = INFINITY;
    for (int i = 0; i < MV_QBLOCK; i++)
        if (fabsf(v[i]) > fabsf(vmax)) vmax = v[i];
    float q[MV_QBLOCK], best[MV_QBLOCK] = { 0 }; /* codes as floats: the loop stays vectorizable */
    *scale = 0;
    const uint16_t plain = mv_f32_to_f16(vmax / -8.0f);
    for (int c = 0; c <= Q4_TRIES && vmax != 0; c++) {
        const int is_plain = c == Q4_TRIES;
        if (is_plain && mv_f16_to_f32(plain) == 0) break; /* underflowed: the searched pairs stand */
        const float mult = is_plain ? 1.0f / mv_f16_to_f32(plain)
                                    : (-8.5f + 0.25f * (float)c) / vmax; /* divisors −8.5 … −7.5 */
        float sxq = 0, sqq = 0, p1[8] = { 0 }, p2[8] = { 0 }; /* 8 partial sums: vectorizable without -ffast-math */
        for (int i = 0; i < MV_QBLOCK; i++) q[i] = round_clamp_f(v[i] * mult, -8, 7);
        for (int i = 0; i < MV_QBLOCK; i += 8)
            for (int l = 0; l < 8; l++) {
                p1[l] += v[i + l] * q[i + l];
                p2[l] += q[i + l] * q[i + l];
            }
        for (int l = 0; l < 8; l++) {
            sxq += p1[l];
            sqq += p2[l];
        }
        float unused;
        const uint16_t h = is_plain ? plain : block_scale(sqq > 0 ? sxq / sqq : 0, &unused);
        const float d = mv_f16_to_f32(h);
        const float err = d * d * sqq - 2 * d * sxq; /* Σ(w − dq)² minus the constant Σw² */
        if (err < best_err) {
            best_err = err;
            *scale = h;
            memcpy(best, q, sizeof best);
        }
    }
    for (int j = 0; j < MV_QBLOCK / 2; j++)
        packed[j] = (uint8_t)(((int)best[j] + 8) | ((int)best[j + MV_QBLOCK / 2] + 8) << 4);
}

void mv_q_quantize_row(mv_qtype t, mv_dtype dt, const void *src, int cols, void *codes, uint16_t *scales) {
    float v[MV_QBLOCK];
    const size_t es = mv_dtype_size(dt);
    for (int b = 0; b < cols / MV_QBLOCK; b++) {
        mv_to_f32(dt, (const char *)src + (size_t)b * MV_QBLOCK * es, v, MV_QBLOCK);
        if (t == MV_Q8) quantize_block_q8(v, (int8_t *)codes + (size_t)b * MV_QBLOCK, &scales[b]);
        else quantize_block_q4(v, (uint8_t *)codes + (size_t)b * MV_QBLOCK / 2, &scales[b]);
    }
}

static float scale_at(const mv_matrix *w, int row, int block) { return mv_f16_to_f32(mv_q_block_scale(w, row, block)); }

/* Signed codes of block `block` of row `row` (Q4 nibbles minus 8). */
static void block_codes(const mv_matrix *w, int row, int block, int q[MV_QBLOCK]) {
    const uint8_t *p = mv_q_block_codes(w, row, block);
    if (w->qtype == MV_Q8) {
        for (int i = 0; i < MV_QBLOCK; i++) q[i] = (int8_t)p[i];
        return;
    }
    for (int j = 0; j < MV_QBLOCK / 2; j++) {
        q[j] = (p[j] & 15) - 8;
        q[j + MV_QBLOCK / 2] = (p[j] >> 4) - 8;
    }
}

void mv_q_dequant(const mv_matrix *w, int row, int k0, int n, float *dst) {
    int q[MV_QBLOCK];
    for (int k = 0; k < n; k += MV_QBLOCK) {
        const int b = (k0 + k) / MV_QBLOCK;
        const float d = scale_at(w, row, b);
        block_codes(w, row, b, q);
        for (int i = 0; i < MV_QBLOCK; i++) dst[k + i] = (float)q[i] * d;
    }
}

void mv_matrix_part_f32(const mv_matrix *w, int row, int k0, int n, float *dst) {
    if (w->qtype != MV_Q_NONE) {
        mv_q_dequant(w, row, k0, n, dst);
        return;
    }
    const size_t es = mv_dtype_size(w->dtype);
    mv_to_f32(w->dtype, (const char *)w->data + ((size_t)row * (size_t)w->cols + (size_t)k0) * es, dst, (size_t)n);
}

void mv_matrix_row_f32(const mv_matrix *w, int row, float *dst) { mv_matrix_part_f32(w, row, 0, w->cols, dst); }

typedef struct quantize_job {
    const mv_matrix *src;
    mv_qtype t;
    uint8_t *codes;
    uint16_t *scales;
} quantize_job;

enum { QUANT_ROWS_PER_ITEM = 64, QGEMV_BLOCK_N = 32 };

static void quantize_item(void *ctx, int item, int thread) {
    (void)thread;
    const quantize_job *j = ctx;
    const int K = j->src->cols, r1 = (item + 1) * QUANT_ROWS_PER_ITEM < j->src->rows ? (item + 1) * QUANT_ROWS_PER_ITEM
                                                                                     : j->src->rows;
    const size_t es = mv_dtype_size(j->src->dtype), rb = mv_q_row_bytes(j->t, K);
    for (int r = item * QUANT_ROWS_PER_ITEM; r < r1; r++)
        mv_q_quantize_row(j->t, j->src->dtype, (const char *)j->src->data + (size_t)r * K * es, K, j->codes + r * rb,
                          j->scales + (size_t)r * (K / MV_QBLOCK));
}

void mv_q_quantize_matrix(mv_pool *pool, const mv_matrix *src, mv_qtype t, void *codes, uint16_t *scales,
                          mv_matrix *out) {
    quantize_job j = { src, t, codes, scales };
    mv_pool_for(pool, (src->rows + QUANT_ROWS_PER_ITEM - 1) / QUANT_ROWS_PER_ITEM, quantize_item, &j);
    *out = (mv_matrix){ .dtype = mv_q_code_dtype(t), .data = codes, .rows = src->rows, .cols = src->cols, .qtype = t, .scales = scales };
}

/* ------------------------------------------------------------------ integer reference */

void mv_q_act_ref(const float *x, int K, int8_t *q, float *d, int32_t *sum) {
    for (int b = 0; b < K / MV_QBLOCK; b++) {
        const float *v = x + (size_t)b * MV_QBLOCK;
        float amax = 0, mult;
        int32_t s = 0;
        for (int i = 0; i < MV_QBLOCK; i++) amax = fabsf(v[i]) > amax ? fabsf(v[i]) : amax;
        mv_qact_block_scale(amax, &d[b], &mult);
        for (int i = 0; i < MV_QBLOCK; i++) {
            q[b * MV_QBLOCK + i] = (int8_t)round_clamp(v[i] * mult, -127, 127);
            s += q[b * MV_QBLOCK + i];
        }
        if (sum) sum[b] = s;
    }
}

typedef struct qref_job {
    float *y;
    const int8_t *xq;
    const float *xd;
    int M;
    const mv_matrix *w;
    const float *bias;
} qref_job;

static void qref_item(void *ctx, int block, int thread) {
    (void)thread;
    const qref_job *j = ctx;
    const int N = j->w->rows, K = j->w->cols, nb = K / MV_QBLOCK;
    const int n1 = (block + 1) * QGEMV_BLOCK_N < N ? (block + 1) * QGEMV_BLOCK_N : N;
    int q[MV_QBLOCK];
    for (int n = block * QGEMV_BLOCK_N; n < n1; n++)
        for (int m = 0; m < j->M; m++) {
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                block_codes(j->w, n, b, q);
                int32_t s = 0;
                for (int i = 0; i < MV_QBLOCK; i++) s += q[i] * j->xq[(size_t)m * K + (size_t)b * MV_QBLOCK + i];
                acc += scale_at(j->w, n, b) * j->xd[(size_t)m * nb + b] * (float)s;
            }
            j->y[(size_t)m * N + n] = acc + (j->bias ? j->bias[n] : 0.f);
        }
}

void mv_linear_q_ref(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    const int K = w->cols, nb = K / MV_QBLOCK;
    if (M <= 0 || w->rows <= 0) return;
    int8_t *xq = malloc((size_t)M * (size_t)K + 1);
    float *xd = malloc(((size_t)M * (size_t)nb + 1) * sizeof *xd);
    if (!xq || !xd) { /* no scratch: the dequantizing float reference needs none */
        free(xq);
        free(xd);
        mv_linear_ref(pool, y, x, M, w, bias);
        return;
    }
    for (int m = 0; m < M; m++) mv_q_act_ref(x + (size_t)m * K, K, xq + (size_t)m * K, xd + (size_t)m * nb, NULL);
    qref_job j = { y, xq, xd, M, w, bias };
    mv_pool_for(pool, (w->rows + QGEMV_BLOCK_N - 1) / QGEMV_BLOCK_N, qref_item, &j);
    free(xq);
    free(xd);
}

/* ------------------------------------------------------------------ dispatch */

static const mv_qgemv_isa *qgemv_isa(void) {
    switch (mv_kernels_isa_id()) {
    case MV_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512vnni") ? &mv_qgemv_avx512vnni : &mv_qgemv_avx2;
    case MV_ISA_AVX2: return &mv_qgemv_avx2;
    default: return NULL;
    }
}

/* Decode: products sharing one x (mv_linear_many: q/k/v, gate/up) run as one pool loop, each output cut
 * into its own streaming blocks, so the small ones (k, v) add work items rather than a loop and a
 * barrier of their own. */
enum { QGEMV_MAX_OUTS = 4 };

typedef struct qgemv_job {
    const mv_qgemv_isa *isa;
    const mv_linear_out *outs;
    void *acts;
    size_t stride;
    int m0, R;
    int block_n[QGEMV_MAX_OUTS], first_item[QGEMV_MAX_OUTS + 1]; /* per output; items of output g start at first_item[g] */
} qgemv_job;

static void qgemv_item(void *ctx, int item, int thread) {
    (void)thread;
    const qgemv_job *j = ctx;
    int g = 0;
    while (item >= j->first_item[g + 1]) g++;
    const mv_linear_out *o = &j->outs[g];
    const int N = o->w->rows, n0 = (item - j->first_item[g]) * j->block_n[g];
    const int n1 = n0 + j->block_n[g] < N ? n0 + j->block_n[g] : N;
    j->isa->rows(o->w, j->acts, j->stride, j->R, n0, n1, o->bias, o->y + (size_t)j->m0 * N, N);
}

/* outs[0..n) (n ≤ QGEMV_MAX_OUTS, one qtype and K) through the decode kernels, MV_QGEMV_MAX_M rows of x
 * at a time; 0 when scratch memory is short. */
static int qgemv_many(const mv_qgemv_isa *isa, mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n) {
    const int K = outs[0].w->cols, threads = mv_pool_threads(pool);
    const size_t stride = (isa->act_bytes(K) + 63) & ~(size_t)63;
    qgemv_job j = { isa, outs, aligned_alloc(64, stride * MV_QGEMV_MAX_M), stride, 0, 0, { 0 }, { 0 } };
    if (!j.acts) return 0;
    for (int g = 0; g < n; g++) {
        const int N = outs[g].w->rows;
        j.block_n[g] = mv_stream_rows_per_item(N, threads, QGEMV_BLOCK_N);
        j.first_item[g + 1] = j.first_item[g] + (N + j.block_n[g] - 1) / j.block_n[g];
    }
    for (j.m0 = 0; j.m0 < M; j.m0 += MV_QGEMV_MAX_M) {
        j.R = M - j.m0 < MV_QGEMV_MAX_M ? M - j.m0 : MV_QGEMV_MAX_M;
        for (int r = 0; r < j.R; r++)
            isa->act_prep(outs[0].w->qtype, x + (size_t)(j.m0 + r) * K, K, (char *)j.acts + r * stride);
        mv_pool_for(pool, j.first_item[n], qgemv_item, &j);
    }
    free(j.acts);
    return 1;
}

/* ------------------------------------------------------------------ prefill: integer GEMM */

enum {
    /* x rows per work unit: each packed panel is reused this often. A whole 448 tile (1025 rows) in
     * one unit, as the BF16 GEMM does: at 512 the vision encoder's panels were packed three times a
     * tile (pack 5.8% → 2.2% of a q8-vision encode); a unit's 200 KB of outputs sit in L2, its 1 MB
     * of activation codes per k chunk stream past. Prefill passes are 512 rows: unchanged there. */
    QGEMM_BLOCK_M = 1056,
    /* blocks of k per packed panel. Each chunk of k adds into the outputs, so a tile's sums go out and
     * come back once per chunk: at 8 blocks (a panel that stays in L1) that load/add/store of the
     * outputs, from L2, cost ~10% of a Q8 prefill; at 32 (61 KB panels, read from L2) prefill and a
     * q8-vision encode run ~10% faster, and 64 or all of K measured the same as 32. */
    QGEMM_KBLOCKS = 32,
    QGEMM_ACT_ROWS = 16, /* x rows quantized per work item */
};

/* Work is cut into units of one panel (gemm_nr columns of one output) × one block of QGEMM_BLOCK_M
 * rows, all costing the same. Handing out whole units left up to one unit of imbalance per product
 * (19 panels of a 896-wide output on 2 threads: 10 against 9), so the last `units % threads` units
 * are each split by rows into one share per thread: the first `whole` items are whole units, the
 * rest shares. Each share packs its panel again, a few panels per product. */
typedef struct qgemm_job {
    const mv_qgemv_isa *isa;
    const float *x;
    const mv_linear_out *outs;
    mv_qacts acts;
    int M, panels, whole, threads; /* panels: over all outputs, per row block */
    char *panel_buf;               /* one panel per pool thread */
    size_t panel_bytes;
} qgemm_job;

static int panels_of(const mv_matrix *w, int nr) { return (w->rows + nr - 1) / nr; }

/* Output, first column and rows [*m0, *m1) of work item `item`; 0 when its share of rows is empty. */
static int qgemm_span(const qgemm_job *j, int item, int *out, int *c0, int *m0, int *m1) {
    int unit = item, share = 0, shares = 1;
    if (item >= j->whole) {
        unit = j->whole + (item - j->whole) / j->threads;
        share = (item - j->whole) % j->threads;
        shares = j->threads;
    }
    const int nr = j->isa->gemm_nr, mr = j->isa->gemm_mr;
    int p = unit % j->panels, g = 0;
    while (p >= panels_of(j->outs[g].w, nr)) p -= panels_of(j->outs[g++].w, nr);
    const int r0 = (unit / j->panels) * QGEMM_BLOCK_M, r1 = r0 + QGEMM_BLOCK_M < j->M ? r0 + QGEMM_BLOCK_M : j->M;
    const int step = ((r1 - r0 + shares - 1) / shares + mr - 1) / mr * mr;
    *out = g;
    *c0 = p * nr;
    *m0 = r0 + share * step;
    *m1 = *m0 + step < r1 ? *m0 + step : r1;
    return *m0 < *m1;
}

static void qgemm_act_item(void *ctx, int item, int thread) {
    (void)thread;
    const qgemm_job *j = ctx;
    const int m1 = (item + 1) * QGEMM_ACT_ROWS < j->M ? (item + 1) * QGEMM_ACT_ROWS : j->M;
    for (int m = item * QGEMM_ACT_ROWS; m < m1; m++)
        j->isa->gemm_act(j->x + (size_t)m * j->acts.K, &j->acts, m);
}

/* No software prefetch of the next panel: issued in a burst, spread over the tiles, early or late, it
 * left the pack's share of the cycles unchanged (docs/DESIGN-NOTES.md); a few blocks of lookahead
 * inside the packer itself do help (quant_avx512.c). */
static void qgemm_item(void *ctx, int item, int thread) {
    const qgemm_job *j = ctx;
    const mv_qgemv_isa *isa = j->isa;
    int g, c0, m0, m1;
    if (!qgemm_span(j, item, &g, &c0, &m0, &m1)) return;
    const mv_linear_out *o = &j->outs[g];
    const int N = o->w->rows, nb = j->acts.nb, ncols = N - c0 < isa->gemm_nr ? N - c0 : isa->gemm_nr;
    char *panel = j->panel_buf + (size_t)thread * j->panel_bytes;
    for (int b0 = 0; b0 < nb; b0 += QGEMM_KBLOCKS) {
        const int nblk = nb - b0 < QGEMM_KBLOCKS ? nb - b0 : QGEMM_KBLOCKS;
        isa->gemm_pack(o->w, c0, ncols, b0, nblk, panel);
        for (int m = m0; m < m1; m += isa->gemm_mr)
            isa->gemm_tile(&j->acts, m, m1 - m < isa->gemm_mr ? m1 - m : isa->gemm_mr, b0, panel, nblk,
                           o->y + (size_t)m * N + c0, N, ncols, o->bias ? o->bias + c0 : NULL, b0 > 0);
    }
}

int mv_qgemm(const mv_qgemv_isa *isa, mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n) {
    const int K = outs[0].w->cols, nb = K / MV_QBLOCK, threads = mv_pool_threads(pool);
    qgemm_job j = { isa, x, outs, { NULL, NULL, K, nb }, M, 0, 0, threads, NULL,
                    QGEMM_KBLOCKS * isa->gemm_block_bytes };
    for (int i = 0; i < n; i++) j.panels += panels_of(outs[i].w, isa->gemm_nr);
    const int units = j.panels * ((M + QGEMM_BLOCK_M - 1) / QGEMM_BLOCK_M);
    j.whole = units - units % threads;
    j.acts.codes = malloc((size_t)M * (size_t)K + 1);
    j.acts.d = malloc((size_t)M * (size_t)nb * sizeof *j.acts.d + 1);
    j.panel_buf = aligned_alloc(64, j.panel_bytes * (size_t)threads);
    const int ok = j.acts.codes && j.acts.d && j.panel_buf;
    if (ok) {
        mv_pool_for(pool, (M + QGEMM_ACT_ROWS - 1) / QGEMM_ACT_ROWS, qgemm_act_item, &j);
        mv_pool_for(pool, j.whole + (units - j.whole) * threads, qgemm_item, &j);
    }
    free(j.acts.codes);
    free(j.acts.d);
    free(j.panel_buf);
    return ok;
}

int mv_linear_q_handles(int M) {
    const mv_qgemv_isa *isa = qgemv_isa();
    return M <= MV_QGEMV_MAX_M || (isa && isa->gemm_tile);
}

void mv_linear_q(mv_pool *pool, float *y, const float *x, int M, const mv_matrix *w, const float *bias) {
    const mv_qgemv_isa *isa = qgemv_isa();
    if (!isa) {
        mv_linear_q_ref(pool, y, x, M, w, bias);
        return;
    }
    if (M <= 0 || w->rows <= 0) return;
    const mv_linear_out out = { y, w, bias };
    if (M > MV_QGEMV_MAX_M && isa->gemm_tile && mv_qgemm(isa, pool, x, M, &out, 1)) return;
    if (!qgemv_many(isa, pool, x, M, &out, 1)) mv_linear_ref(pool, y, x, M, w, bias);
}

int mv_linear_q_many(mv_pool *pool, const float *x, int M, const mv_linear_out *outs, int n) {
    const mv_qgemv_isa *isa = qgemv_isa();
    if (!isa || M < 1 || n < 1) return 0;
    int same_type = 1;
    for (int i = 0; i < n; i++) {
        if (outs[i].w->qtype == MV_Q_NONE || outs[i].w->cols != outs[0].w->cols || outs[i].w->rows < 1) return 0;
        same_type &= outs[i].w->qtype == outs[0].w->qtype;
    }
    if (M > MV_QGEMV_MAX_M) return isa->gemm_tile && mv_qgemm(isa, pool, x, M, outs, n);
    /* decode: the activation layout follows the weight type */
    return same_type && n <= QGEMV_MAX_OUTS && qgemv_many(isa, pool, x, M, outs, n);
}
