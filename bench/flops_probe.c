/* flops_probe.c — the machine's compute peak per instruction set, on n threads at once: FP32 FMA
 * with AVX2 (ymm) and AVX-512 (zmm), the AVX512-BF16 dot product vdpbf16ps and the AVX512-VNNI int8
 * dot product vpdpbusd (the quantized GEMMs' instruction), each where the CPU has it. Every kernel
 * keeps 12 independent accumulators so the pipes never wait on latency. Prints GFLOP/s (an FMA
 * counts 2, a vdpbf16ps lane pair 4) and, for int8, GOP/s (a vpdpbusd lane's 4 multiply-adds count
 * 8): median of --reps timed runs of ~0.2 s.
 * Usage: flops_probe [-t THREADS (2)] [--reps N (5)] [--json] */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>

#include "probe_common.h"

enum { N_ACC = 12 };

typedef struct flops_ctx {
    long iters;
    double (*kernel)(long iters);
    double sink[256];
} flops_ctx;

/* acc = acc*a + b stays finite and away from denormals for any iteration count. */
__attribute__((target("avx2,fma"))) static double fma_avx2(long iters) {
    __m256 acc[N_ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    for (int k = 0; k < N_ACC; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < N_ACC; k++) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
    float out[8], s = 0;
    for (int k = 1; k < N_ACC; k++) acc[0] = _mm256_add_ps(acc[0], acc[k]);
    _mm256_storeu_ps(out, acc[0]);
    for (int k = 0; k < 8; k++) s += out[k];
    return s;
}

__attribute__((target("avx512f"))) static double fma_avx512(long iters) {
    __m512 acc[N_ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    for (int k = 1; k < N_ACC; k++) acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* vdpbf16ps: acc[j] += a[2j]*b[2j] + a[2j+1]*b[2j+1]; small bf16 inputs keep the sums tame. */
__attribute__((target("avx512f,avx512bf16"))) static double dp_bf16(long iters) {
    __m512 acc[N_ACC];
    __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(-1e-3f), _mm512_set1_ps(1e-3f));
    for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
    for (int k = 1; k < N_ACC; k++) acc[0] = _mm512_add_ps(acc[0], acc[k]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* vpdpbusd: acc[j] += Σ of 4 u8·s8 products (the lanes wrap in hardware on long runs; the result is
 * only a sink, summed as unsigned so the C side never overflows). */
__attribute__((target("avx512f,avx512vnni"))) static double dp_int8(long iters) {
    __m512i acc[N_ACC];
    const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
    for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_set1_epi32(k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < N_ACC; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
    uint32_t lanes[16];
    double s = 0;
    for (int k = 0; k < N_ACC; k++) {
        _mm512_storeu_si512(lanes, acc[k]);
        for (int j = 0; j < 16; j++) s += lanes[j];
    }
    return s;
}

static int has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!__builtin_cpu_supports("avx512f") || !__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;
}

/* AMX is reported, not probed: it needs tile configuration and the kernel's permission. */
static int has_amx_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ((d >> 22) & 1) && ((d >> 24) & 1);
}

static void run_kernel(void *arg, int t) {
    flops_ctx *c = arg;
    c->sink[t] = c->kernel(c->iters);
}

typedef struct probe_isa {
    const char *name;
    double flops_per_iter; /* per thread and loop iteration */
    double (*kernel)(long);
    int present;
    int integer; /* GOP/s (JSON key NAME_gop_s) rather than GFLOP/s (NAME_gflop_s) */
} probe_isa;

/* GFLOP/s on o->threads threads: median of reps runs, iterations sized to ~0.2 s. */
static double measure(const probe_isa *isa, const probe_opts *o) {
    flops_ctx c = { .iters = 100000, .kernel = isa->kernel };
    double dt = probe_run_threads(o->threads, run_kernel, &c);
    /* ~0.2 s per run; the clamp keeps a mismeasured calibration from running for minutes */
    c.iters = (long)((double)c.iters * (0.2 / (dt > 1e-4 ? dt : 1e-4)));
    if (c.iters < 1000) c.iters = 1000;
    if (c.iters > 200000000L) c.iters = 200000000L;
    double g[64];
    int reps = o->reps < 64 ? o->reps : 64;
    for (int r = 0; r < reps; r++)
        g[r] = isa->flops_per_iter * (double)c.iters * o->threads / probe_run_threads(o->threads, run_kernel, &c) * 1e-9;
    return probe_median(g, reps);
}

int main(int argc, char **argv) {
    probe_opts o = { .threads = 2, .reps = 5 };
    if (!probe_parse(argc, argv, &o, "usage: flops_probe [-t THREADS] [--reps N] [--json]\n")) return 2;
    __builtin_cpu_init();
    probe_isa isas[] = {
        { "fp32_fma_avx2", N_ACC * 8 * 2, fma_avx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), 0 },
        { "fp32_fma_avx512", N_ACC * 16 * 2, fma_avx512, __builtin_cpu_supports("avx512f"), 0 },
        { "bf16_dp_avx512", N_ACC * 16 * 4, dp_bf16, has_avx512_bf16(), 0 },
        { "int8_dp_avx512vnni", N_ACC * 16 * 8, dp_int8, __builtin_cpu_supports("avx512vnni"), 1 },
    };
    int n = (int)(sizeof isas / sizeof *isas);
    if (o.json) printf("{\"threads\":%d,\"reps\":%d,\"amx_bf16\":%s", o.threads, o.reps, has_amx_bf16() ? "true" : "false");
    else printf("compute peak, %d threads (median of %d):\n", o.threads, o.reps);
    for (int i = 0; i < n; i++) {
        double g = isas[i].present ? measure(&isas[i], &o) : 0;
        if (o.json) printf(",\"%s_%s\":%.2f", isas[i].name, isas[i].integer ? "gop_s" : "gflop_s", g);
        else if (isas[i].present) printf("  %-18s %9.1f %s\n", isas[i].name, g, isas[i].integer ? "GOP/s" : "GFLOP/s");
        else printf("  %-18s %9s\n", isas[i].name, "absent");
    }
    if (o.json) printf("}\n");
    else printf("  %-18s %9s\n", "amx_bf16", has_amx_bf16() ? "present (not probed)" : "absent");
    return 0;
}
