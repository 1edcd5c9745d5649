/* test_gemm_bf16_amx_emul.c — the AMX kernel's own code (src/kernels/gemm_bf16_amx.c, included
 * below) run through the real BF16 GEMM driver with the tile instructions emulated in C. Neither the
 * development machine nor CI has AMX, so without this the kernel would never execute before it meets
 * a Sapphire Rapids user. What it checks:
 *   - products of odd shapes (M across 16-row tiles and 32-row blocks, K across 32-wide tile rows and
 *     the driver's 1024-wide slices, N across 32-column panels; bias or not; BF16, F32, Q8 and Q4
 *     weights (quantized ones dequantized into the panels, the route quantized prefill takes on AMX);
 *     1 and 2 threads) against the portable C kernel on the same BF16 inputs (|d| <= 1e-5·Σ|x̂ŵ|, as
 *     test_gemm_bf16 allows the hardware kernels; |bias| joins the sum) and against a double-precision
 *     product;
 *   - everything hardware would fault on: a tile used before LDTILECFG or after TILERELEASE, a
 *     configuration with reserved bits set, tile shapes TDPBF16PS cannot combine; and, in the
 *     sanitizer build, that every tile load and store stays inside its buffer (the emulator copies
 *     exactly the bytes the instruction touches);
 *   - the attention of precision bf16 (causal, grouped-query, over an F16 cache) on the emulated
 *     kernel against the same on the CPU's BF16 kernel;
 *   - the permission probe: with the CPU bits and the kernel's grant the kernel runs ("grant"); when
 *     arch_prctl refuses ("refuse") or CPUID lacks AMX ("nocpu") it returns 0 and the driver's C
 *     kernel answers instead, with the same results.
 * Not covered: the compiler's handling of the real intrinsics (the GCC 12 dropped-store issue the
 * kernel works around) and the hardware's rounding of denormals, which the emulator flushes as the
 * SDM describes. */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/gemm_bf16.h"
#include "kernels/kernels_isa.h"
#include "bf16_test.h"
#include "testutil.h"

/* ------------------------------------------------------------------ the emulator */

enum { EMU_TILES = 8, EMU_ROWS = 16, EMU_COLSB = 64 };

typedef struct emu_state {
    int configured;
    int rows[EMU_TILES], colsb[EMU_TILES];
    uint8_t t[EMU_TILES][EMU_ROWS][EMU_COLSB];
} emu_state;

static _Thread_local emu_state emu; /* tile state is per thread, as on hardware */
static atomic_long emu_faults, emu_products;

static void emu_fault(const char *what, int tile) {
    if (atomic_fetch_add(&emu_faults, 1) < 10) fprintf(stderr, "AMX emulator: would fault: %s (tile %d)\n", what, tile);
}

/* LDTILECFG, palette 1: bytes 0 palette, 1 start_row, 2..15 reserved (0), 16..47 colsb of 16 tiles
 * (only 8 exist), 48..63 rows; a tile with rows or colsb 0 is unconfigured. */
static void emu_loadconfig(const void *cfg) {
    const uint8_t *c = cfg;
    memset(&emu, 0, sizeof emu);
    if (c[0] != 1) return emu_fault("palette is not 1", -1);
    if (c[1] != 0) return emu_fault("start_row is not 0", -1);
    for (int i = 2; i < 16; i++)
        if (c[i]) return emu_fault("reserved byte set", -1);
    for (int t = 0; t < 16; t++) {
        const int colsb = c[16 + 2 * t] | c[17 + 2 * t] << 8, rows = c[48 + t];
        if (t >= EMU_TILES && (colsb || rows)) return emu_fault("shape given to a tile palette 1 lacks", t);
        if (t < EMU_TILES && (rows > EMU_ROWS || colsb > EMU_COLSB || colsb % 4 || (!rows != !colsb)))
            return emu_fault("invalid tile shape", t);
        if (t < EMU_TILES) emu.rows[t] = rows, emu.colsb[t] = colsb;
    }
    emu.configured = 1;
}

static int emu_usable(int t) {
    if (!emu.configured) emu_fault("tile instruction without a loaded configuration", t);
    else if (t < 0 || t >= EMU_TILES || !emu.rows[t]) emu_fault("unconfigured tile", t);
    else return 1;
    return 0;
}

static void emu_loadd(int t, const void *base, long stride) {
    if (!emu_usable(t)) return;
    memset(emu.t[t], 0, sizeof emu.t[t]);
    for (int r = 0; r < emu.rows[t]; r++) memcpy(emu.t[t][r], (const char *)base + r * stride, (size_t)emu.colsb[t]);
}

static void emu_stored(int t, void *base, long stride) {
    if (!emu_usable(t)) return;
    for (int r = 0; r < emu.rows[t]; r++) memcpy((char *)base + r * stride, emu.t[t][r], (size_t)emu.colsb[t]);
}

static void emu_zero(int t) {
    if (emu_usable(t)) memset(emu.t[t], 0, sizeof emu.t[t]);
}

static void emu_release(void) { memset(&emu, 0, sizeof emu); }

/* DAZ on inputs, FTZ on results, round to nearest even (the SDM's TDPBF16PS). */
static float emu_ftz(float f) { return fpclassify(f) == FP_SUBNORMAL ? copysignf(0.f, f) : f; }
static float emu_bf16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return emu_ftz(mv_bf16_to_f32(h));
}

/* C[m][n] += Σ_k A[m][2k]·B[k][2n] + A[m][2k+1]·B[k][2n+1], pair by pair, in FP32. */
static void emu_dpbf16ps(int c, int a, int b) {
    if (!emu_usable(c) || !emu_usable(a) || !emu_usable(b)) return;
    if (c == a || c == b || a == b) return emu_fault("TDPBF16PS operands must be three different tiles", c);
    if (emu.rows[c] != emu.rows[a] || emu.colsb[c] != emu.colsb[b] || emu.colsb[a] != 4 * emu.rows[b])
        return emu_fault("TDPBF16PS shapes do not combine", c);
    atomic_fetch_add(&emu_products, 1);
    for (int m = 0; m < emu.rows[c]; m++)
        for (int n = 0; n < emu.colsb[c] / 4; n++) {
            float acc;
            memcpy(&acc, &emu.t[c][m][4 * n], 4);
            for (int k = 0; k < emu.rows[b]; k++) {
                acc = emu_ftz(acc + emu_bf16(&emu.t[a][m][4 * k]) * emu_bf16(&emu.t[b][k][4 * n]));
                acc = emu_ftz(acc + emu_bf16(&emu.t[a][m][4 * k + 2]) * emu_bf16(&emu.t[b][k][4 * n + 2]));
            }
            memcpy(&emu.t[c][m][4 * n], &acc, 4);
        }
}

/* CPUID leaf 7 and arch_prctl as the probe sees them, per the run's mode. */
static int mode_cpu_amx = 1, mode_grant = 1;

static int emu_cpuid_count(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d) {
    *a = *b = *c = *d = 0;
    if (leaf == 7 && sub == 0 && mode_cpu_amx) *d = 1u << 22 | 1u << 24;
    return 1;
}

static long emu_syscall(long nr, ...) {
    va_list ap;
    va_start(ap, nr);
    const long op = va_arg(ap, long);
    long rc = -1;
    if (nr == SYS_arch_prctl && op == 0x1023) rc = mode_grant ? 0 : -1; /* ARCH_REQ_XCOMP_PERM */
    if (nr == SYS_arch_prctl && op == 0x1022) {                         /* ARCH_GET_XCOMP_PERM */
        *va_arg(ap, unsigned long *) = mode_grant ? 1ul << 18 : 0;
        rc = 0;
    }
    va_end(ap);
    return rc;
}

/* The kernel's source against the emulator: the intrinsics, the CPUID query and the system call are
 * renamed, and so are its two functions (the library keeps the real ones). */
#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#define _tile_loadd(t, base, stride) emu_loadd(t, base, (long)(stride))
#define _tile_stored(t, base, stride) emu_stored(t, base, (long)(stride))
#define _tile_zero(t) emu_zero(t)
#define _tile_dpbf16ps(c, a, b) emu_dpbf16ps(c, a, b)
#define _tile_loadconfig emu_loadconfig
#define _tile_release emu_release
#define __get_cpuid_count emu_cpuid_count
#define syscall emu_syscall
#define mv_bf16_block_amx emu_bf16_block_amx
#define mv_amx_usable emu_amx_usable
#include "kernels/gemm_bf16_amx.c"
#undef syscall
#undef __get_cpuid_count

/* ------------------------------------------------------------------ the checks */

static unsigned long long rng = 0x2545F4914F6CDD1DULL;

/* Worst |got - want| / (|bias| + Σ_k |x̂_k ŵ_k|) (hats: BF16-rounded). */
static double rel_err(const float *got, const float *want, const float *x, const float *wf, const float *bias, int M,
                      int K, int N) {
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double mag = bias ? fabs(bias[n]) : 0;
            for (int k = 0; k < K; k++)
                mag += fabs((double)bf16_round(x[(size_t)m * K + k]) * bf16_round(wf[(size_t)n * K + k]));
            const double e = fabs((double)got[(size_t)m * N + n] - want[(size_t)m * N + n]) / (mag + 1e-30);
            if (!(e <= worst) && worst == worst) worst = e; /* NaN sticks */
        }
    return worst;
}

/* y = x̂·ŵᵀ (+ bias) in double, from the BF16-rounded inputs. */
static void product_double(float *y, const float *x, const float *wf, const float *bias, int M, int K, int N) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0;
            for (int k = 0; k < K; k++) s += (double)bf16_round(x[(size_t)m * K + k]) * bf16_round(wf[(size_t)n * K + k]);
            y[(size_t)m * N + n] = (float)s;
        }
}

static double worst_c, worst_d;

/* Prefill attention (mv_attention_bf16_with) with the emulated AMX kernel against the same call on the
 * CPU's BF16 kernel: both round the same inputs to BF16 and sum in FP32 in another order, so outputs
 * differ by rounding only (now and then one probability rounds to the neighbouring BF16 value):
 * |d| <= 1e-3 · max|out|. 14 heads on 2 KV heads, an F16 cache, nk − nq positions already cached. */
static void attention_case(mv_pool *pool, int nq, int nk) {
    enum { HEADS = 14, KV_HEADS = 2, D = 64 };
    const int C = HEADS * D, cap = nk + 3;
    const size_t kv_n = (size_t)KV_HEADS * cap * D;
    float *q = malloc((size_t)nq * C * sizeof *q), *a = malloc((size_t)nq * C * sizeof *a);
    float *b = malloc((size_t)nq * C * sizeof *b);
    uint16_t *k = malloc(kv_n * sizeof *k), *v = malloc(kv_n * sizeof *v);
    for (size_t i = 0; i < (size_t)nq * C; i++) q[i] = bf16_test_uniform(&rng) * 2.f;
    for (size_t i = 0; i < kv_n; i++) k[i] = mv_f32_to_f16(bf16_test_uniform(&rng) * 2.f), v[i] = mv_f32_to_f16(bf16_test_uniform(&rng));
    const float scale = 0.125f;
    const int ok_emu = mv_attention_bf16_with(emu_bf16_block_amx, pool, a, C, q, C, k, v, MV_F16, D, (size_t)cap * D,
                                              HEADS, KV_HEADS, D, nq, nk, scale, 1, nk - nq);
    const int ok_cpu = mv_attention_bf16_kv(pool, b, C, q, C, k, v, MV_F16, D, (size_t)cap * D, HEADS, KV_HEADS, D, nq,
                                            nk, scale, 1, nk - nq);
    CHECK(ok_emu && ok_cpu, "attention ran: emulated %d, CPU kernel %d", ok_emu, ok_cpu);
    double worst = 0, top = 0;
    for (size_t i = 0; i < (size_t)nq * C; i++) {
        top = fmax(top, fabs(b[i]));
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN sticks */
    }
    CHECK(worst <= 1e-3 * top, "attention %d queries over %d keys: emulated AMX vs CPU kernel %.3g > 1e-3 · %.3g", nq,
          nk, worst, top);
    printf("attention %d queries over %d keys: emulated AMX vs the CPU's kernel, worst |d| %.3g (max |out| %.3g)\n",
           nq, nk, worst, top);
    free(q); free(a); free(b); free(k); free(v);
}

static void one_case(mv_pool *pool, wformat f, int M, int K, int N, int with_bias) {
    float *x = malloc((size_t)M * K * sizeof *x), *wf = malloc((size_t)N * K * sizeof *wf);
    float *bias = malloc((size_t)N * sizeof *bias), *y = malloc((size_t)M * N * sizeof *y);
    float *yc = malloc((size_t)M * N * sizeof *yc), *yd = malloc((size_t)M * N * sizeof *yd);
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = bf16_test_uniform(&rng) * 2.f;
    for (size_t i = 0; i < (size_t)N * K; i++) wf[i] = bf16_test_uniform(&rng) * 0.3f;
    for (int i = 0; i < N; i++) bias[i] = bf16_test_uniform(&rng);
    mv_matrix w;
    void *wd = make_weights(f, wf, N, K, &w);
    const float *b = with_bias ? bias : NULL;
    CHECK(mv_linear_bf16_with(pool, y, x, M, &w, b, emu_bf16_block_amx) == 1, "driver ran, M=%d K=%d N=%d", M, K, N);
    CHECK(mv_linear_bf16_ref(pool, yc, x, M, &w, b) == 1, "C kernel ran");
    product_double(yd, x, wf, b, M, K, N);
    const double ec = rel_err(y, yc, x, wf, b, M, K, N), ed = rel_err(y, yd, x, wf, b, M, K, N);
    CHECK(ec <= 1e-5 && ed <= 1e-5, "M=%d K=%d N=%d dtype %d qtype %d bias %d: vs C kernel %.3g, vs double %.3g "
          "(bound 1e-5)", M, K, N, (int)f.dt, (int)f.qt, with_bias, ec, ed);
    if (ec > worst_c || ec != ec) worst_c = ec;
    if (ed > worst_d || ed != ed) worst_d = ed;
    free(x); free(wf); free(bias); free(y); free(yc); free(yd); free(wd);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "grant";
    mode_cpu_amx = strcmp(mode, "nocpu") != 0;
    mode_grant = strcmp(mode, "refuse") != 0;
    if (strcmp(mv_bf16_kernel(), "none") == 0) { /* the driver's AVX-512 conversion needs AVX512-BF16 */
        printf("no AVX512-BF16 here: the driver around the AMX kernel cannot run; skipped\n");
        return 77;
    }
    const int expect_amx = mode_cpu_amx && mode_grant;
    CHECK(emu_amx_usable() == expect_amx, "%s: the probe says AMX is %susable", mode, expect_amx ? "not " : "");

    /* M crosses 16-row tiles, 32-row blocks and 192-row work items; K crosses 32-wide tile rows, odd
     * pairs and the 1024-wide slices; N crosses 32-column panels and 2-panel items. */
    static const int Ms[] = { 1, 16, 17, 45, 230 }, Ks[] = { 1, 32, 63, 1090 }, Ns[] = { 1, 31, 33, 97 };
    static const int Kq[] = { 32, 64, 96, 1088 }; /* quantized: whole blocks */
    static const wformat fmts[] = { { MV_BF16, MV_Q_NONE }, { MV_F32, MV_Q_NONE }, { MV_I8, MV_Q8 }, { MV_U8, MV_Q4 } };
    mv_pool *pools[2] = { NULL, mv_pool_create(2) };
    CHECK(pools[1], "pool");
    int cases = 0;
    for (size_t d = 0; d < sizeof fmts / sizeof fmts[0]; d++)
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ki = 0; ki < 4; ki++)
                for (size_t ni = 0; ni < 4; ni++, cases++)
                    one_case(pools[cases % 2], fmts[d], Ms[mi], fmts[d].qt != MV_Q_NONE ? Kq[ki] : Ks[ki], Ns[ni],
                             cases % 3 != 0);
    attention_case(pools[0], 70, 107);
    attention_case(pools[1], 16, 16);
    attention_case(pools[1], 40, 1100); /* keys across the 1024-wide slices of P·V */
    const long products = atomic_load(&emu_products), faults = atomic_load(&emu_faults);
    printf("%s: %d cases, %ld emulated TDPBF16PS, %ld would-be faults; worst error relative to Σ|x̂·ŵ|: vs the C "
           "kernel %.3g, vs double %.3g\n", mode, cases, products, faults, worst_c, worst_d);
    CHECK(faults == 0, "%ld tile instructions would have faulted", faults);
    CHECK(expect_amx ? products > 0 : products == 0, "%s: %ld tile products ran", mode, products);

    /* The emulator itself on one known tile product: rows of ones against pairs (1, 2) sum to 3·pairs. */
    if (expect_amx) {
        static const tile_config cfg = { .palette_id = 1, .colsb = { 64, 64, 64 }, .rows = { 16, 16, 16 } };
        uint16_t a[16][32], bt[16][32];
        float c[16][16];
        for (int r = 0; r < 16; r++)
            for (int k = 0; k < 32; k++) a[r][k] = mv_f32_to_bf16(1.f), bt[r][k] = mv_f32_to_bf16(k % 2 ? 2.f : 1.f);
        emu_loadconfig(&cfg);
        emu_zero(0);
        emu_loadd(1, a, 64);
        emu_loadd(2, bt, 64);
        emu_dpbf16ps(0, 1, 2);
        emu_stored(0, c, 64);
        emu_release();
        CHECK(c[0][0] == 48.f && c[15][15] == 48.f, "emulated TDPBF16PS of ones by (1, 2) pairs: %g, %g (want 48)",
              c[0][0], c[15][15]);
        emu_zero(0);
        CHECK(atomic_load(&emu_faults) == faults + 1, "a tile instruction after TILERELEASE is reported");
    }
    mv_pool_free(pools[1]);
    return mvt_done("test_gemm_bf16_amx_emul");
}
