/* bw_probe.c — the machine's memory read bandwidth: threads stream-read disjoint halves (thirds...)
 * of a buffer far larger than the last-level cache, the way decode reads its weights once per token.
 * Prints GB/s (1e9 bytes/s): the median and best of --reps passes after one warm-up pass.
 * Usage: bw_probe [-t THREADS (2)] [--reps N (7)] [--size-mb MB (1024)] [--json] */
#include <stdint.h>

#include "probe_common.h"

typedef uint64_t v8u64 __attribute__((vector_size(64)));

typedef struct bw_ctx {
    const v8u64 *buf;
    size_t n_vec;        /* 64-byte vectors in the buffer */
    int threads;
    uint64_t sink[256];  /* per-thread result, so the reads cannot be optimised away */
} bw_ctx;

/* Four independent accumulators keep enough loads in flight to saturate the memory system. */
static void read_part(void *arg, int t) {
    bw_ctx *c = arg;
    size_t per = c->n_vec / (size_t)c->threads, lo = per * (size_t)t, hi = t + 1 == c->threads ? c->n_vec : lo + per;
    v8u64 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        a0 += c->buf[i];
        a1 += c->buf[i + 1];
        a2 += c->buf[i + 2];
        a3 += c->buf[i + 3];
    }
    for (; i < hi; i++) a0 += c->buf[i];
    v8u64 s = a0 + a1 + a2 + a3;
    uint64_t r = 0;
    for (int k = 0; k < 8; k++) r += s[k];
    c->sink[t] = r;
}

int main(int argc, char **argv) {
    probe_opts o = { .threads = 2, .reps = 7, .size_mb = 1024 };
    if (!probe_parse(argc, argv, &o, "usage: bw_probe [-t THREADS] [--reps N] [--size-mb MB] [--json]\n")) return 2;
    size_t bytes = (size_t)o.size_mb << 20;
    bw_ctx *c = calloc(1, sizeof *c);
    void *mem = NULL;
    if (!c || posix_memalign(&mem, 4096, bytes) != 0) { fprintf(stderr, "bw_probe: cannot allocate %ld MiB\n", o.size_mb); return 1; }
    memset(mem, 1, bytes); /* fault every page in before timing */
    c->buf = mem;
    c->n_vec = bytes / sizeof(v8u64);
    c->threads = o.threads;
    double *gbs = malloc((size_t)o.reps * sizeof *gbs), best = 0;
    if (!gbs) return 1;
    probe_run_threads(o.threads, read_part, c); /* warm-up */
    for (int r = 0; r < o.reps; r++) {
        double dt = probe_run_threads(o.threads, read_part, c);
        gbs[r] = (double)bytes / dt * 1e-9;
        if (gbs[r] > best) best = gbs[r];
    }
    double med = probe_median(gbs, o.reps);
    uint64_t check = 0;
    for (int t = 0; t < o.threads; t++) check += c->sink[t];
    if (o.json)
        printf("{\"threads\":%d,\"size_mb\":%ld,\"reps\":%d,\"read_gb_s\":%.3f,\"read_gb_s_best\":%.3f,\"checksum\":%llu}\n",
               o.threads, o.size_mb, o.reps, med, best, (unsigned long long)check);
    else
        printf("memory read bandwidth: %.2f GB/s median, %.2f GB/s best (%d threads, %ld MiB buffer, %d passes)\n", med,
               best, o.threads, o.size_mb, o.reps);
    free(gbs);
    free(mem);
    free(c);
    return 0;
}
