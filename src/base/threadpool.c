#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle thread polls before it sleeps on a condition variable. Decode runs ~200 short loops
 * a token with a few microseconds of serial work between them, and a futex wake-up of a sleeping
 * worker costs 10-30 us on a VM: polling took decode on 2 vCPUs from 41 to 53 tok/s (Q8) and from 56
 * to 91 (Q4). Only when every thread has a CPU of its own: with more threads than CPUs a poller takes
 * the CPU from the thread it waits for (a loop of short items then ran 3-4x slower). */
#define SPIN_NS 100000

struct mv_pool {
    int n_threads;
    int spin;               /* poll before sleeping: every thread has a CPU */
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong generation; /* bumped per loop; workers poll it, then sleep on `wake` */
    atomic_int active;       /* workers still inside the current loop */
    atomic_int sleepers;     /* workers asleep (or about to be) on `wake` */
    atomic_int caller_waiting; /* the caller is asleep (or about to be) on `done` */
    atomic_int quit;
    mv_pool_fn fn;
    void *ctx;
    int n;
    atomic_int next;
};

typedef struct worker_arg { mv_pool *pool; int id; } worker_arg;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int mv_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Poll until cond(p, arg) holds or SPIN_NS pass (at once when the pool does not poll); 1 when it holds. */
static int spin_until(mv_pool *p, int (*cond)(mv_pool *, unsigned long), unsigned long arg) {
    if (!p->spin) return cond(p, arg);
    long long deadline = 0;
    for (int i = 0;; i++) {
        if (cond(p, arg)) return 1;
        if ((i & 63) == 63) {
            long long t = now_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) return 0;
        }
        CPU_RELAX();
    }
}

static int new_loop(mv_pool *p, unsigned long seen) { return atomic_load(&p->generation) != seen || atomic_load(&p->quit); }
static int loop_done(mv_pool *p, unsigned long unused) { (void)unused; return atomic_load(&p->active) == 0; }

static void drain(mv_pool *p, int thread) {
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n) break;
        p->fn(p->ctx, i, thread);
    }
}

/* The sleeper counts and the polled words are sequentially consistent atomics, so a thread that
 * decides to sleep is always seen by the one that would wake it (no lost wake-ups). */
static void *worker_main(void *arg) {
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    mv_pool *p = a.pool;
    unsigned long seen = 0;
    for (;;) {
        if (!spin_until(p, new_loop, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!new_loop(p, seen)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->generation);
        drain(p, a.id);
        if (atomic_fetch_sub(&p->active, 1) == 1 && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

mv_pool *mv_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    mv_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = 1;
    p->spin = n_threads <= mv_cpu_count(); /* set before any worker reads it */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_waiting, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->next, 0);
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) { mv_pool_free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->pool = p;
        a->id = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, a) != 0) { free(a); break; }
        p->n_threads++;
    }
    return p;
}

static void wake_sleepers(mv_pool *p) {
    if (atomic_load(&p->sleepers) == 0) return;
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
}

void mv_pool_free(mv_pool *p) {
    if (!p) return;
    atomic_store(&p->quit, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

int mv_pool_threads(const mv_pool *p) { return p ? p->n_threads : 1; }

void mv_pool_for(mv_pool *p, int n, mv_pool_fn fn, void *ctx) {
    if (n <= 0) return;
    if (!p || p->n_threads == 1 || n == 1) {
        for (int i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store(&p->next, 0);
    atomic_store(&p->active, p->n_threads - 1);
    atomic_fetch_add(&p->generation, 1); /* publishes fn, ctx, n */
    wake_sleepers(p);
    drain(p, 0);
    if (spin_until(p, loop_done, 0)) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_waiting, 1);
    while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->done, &p->mu);
    atomic_store(&p->caller_waiting, 0);
    pthread_mutex_unlock(&p->mu);
}
