/* probe_common.h — helpers shared by the machine-limit probes (bw_probe.c, flops_probe.c): a clock,
 * a run-on-n-threads-at-once barrier start, medians and argument parsing. Header-only: each probe
 * is one small program. */
#ifndef MV_BENCH_PROBE_COMMON_H
#define MV_BENCH_PROBE_COMMON_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double probe_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int probe_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts them). */
static inline double probe_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, probe_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef void (*probe_fn)(void *arg, int thread);

typedef struct probe_job {
    probe_fn fn;
    void *arg;
    int thread;
    pthread_barrier_t *start;
    double t0, t1; /* this thread's own start and end */
} probe_job;

static void *probe_thread_main(void *p) {
    probe_job *j = p;
    pthread_barrier_wait(j->start);
    j->t0 = probe_now();
    j->fn(j->arg, j->thread);
    j->t1 = probe_now();
    return NULL;
}

/* Runs fn(arg, t) for t in [0, n) on n threads released together; returns the seconds from the
 * first thread's start to the last one's end, as the threads saw them (the caller may be descheduled
 * on a busy machine, so its own clock would not do). Exits when threads cannot be started. */
static inline double probe_run_threads(int n, probe_fn fn, void *arg) {
    pthread_t tid[256];
    probe_job jobs[256];
    pthread_barrier_t start;
    if (n < 1 || n > 256 || pthread_barrier_init(&start, NULL, (unsigned)n + 1) != 0) {
        fprintf(stderr, "probe: cannot run %d threads\n", n);
        exit(1);
    }
    for (int t = 0; t < n; t++) {
        jobs[t] = (probe_job){ .fn = fn, .arg = arg, .thread = t, .start = &start };
        if (pthread_create(&tid[t], NULL, probe_thread_main, &jobs[t]) != 0) {
            fprintf(stderr, "probe: could not start %d threads\n", n);
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double first = 0, last = 0;
    for (int t = 0; t < n; t++) {
        pthread_join(tid[t], NULL);
        if (t == 0 || jobs[t].t0 < first) first = jobs[t].t0;
        if (t == 0 || jobs[t].t1 > last) last = jobs[t].t1;
    }
    pthread_barrier_destroy(&start);
    return last - first;
}

/* Options shared by the probes: -t THREADS, --reps N, --json. Returns 0 on a usage error. */
typedef struct probe_opts { int threads, reps, json; long size_mb; } probe_opts;

static inline int probe_parse(int argc, char **argv, probe_opts *o, const char *usage) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        long *dst_l = NULL;
        int *dst_i = NULL;
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { printf("%s", usage); exit(0); }
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) dst_i = &o->threads;
        else if (!strcmp(a, "--reps")) dst_i = &o->reps;
        else if (!strcmp(a, "--size-mb")) dst_l = &o->size_mb;
        if ((!dst_i && !dst_l) || !v) { fprintf(stderr, "%s", usage); return 0; }
        long x = strtol(v, &end, 10);
        if (*end || end == v || x < 1 || x > (dst_l ? 1L << 20 : 256L * 1024)) { fprintf(stderr, "bad value for %s: %s\n", a, v); return 0; }
        if (dst_i) *dst_i = (int)x; else *dst_l = x;
        if (dst_i == &o->threads && x > 256) { fprintf(stderr, "at most 256 threads\n"); return 0; }
        i++;
    }
    return 1;
}

#endif
