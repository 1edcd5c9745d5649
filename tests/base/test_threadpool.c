/* test_threadpool.c — every index of every loop runs exactly once, on a valid thread id, whether the
 * workers are polling (back-to-back loops) or asleep (loops after a pause longer than the polling
 * window); pools of 1..4 threads; create/free cycles. Run under TSan locally (see tests/README). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/threadpool.h"
#include "testutil.h"

#define MAX_N 257

typedef struct loop_ctx {
    atomic_int hits[MAX_N];
    atomic_int bad_thread;
    int n_threads;
} loop_ctx;

static void count_hit(void *ctx, int index, int thread) {
    loop_ctx *c = ctx;
    atomic_fetch_add(&c->hits[index], 1);
    if (thread < 0 || thread >= c->n_threads) atomic_fetch_add(&c->bad_thread, 1);
}

static void pause_ms(int ms) {
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs `loops` loops of varying size; returns the number of loops with a wrong hit count. */
static int run_loops(mv_pool *pool, int n_threads, int loops, int pause_every) {
    int wrong = 0;
    loop_ctx *c = malloc(sizeof *c);
    for (int l = 0; l < loops; l++) {
        const int n = 1 + (l * 37) % MAX_N;
        for (int i = 0; i < MAX_N; i++) atomic_init(&c->hits[i], 0);
        atomic_init(&c->bad_thread, 0);
        c->n_threads = n_threads;
        mv_pool_for(pool, n, count_hit, c);
        for (int i = 0; i < MAX_N; i++)
            if (atomic_load(&c->hits[i]) != (i < n)) { wrong++; break; }
        if (atomic_load(&c->bad_thread)) wrong++;
        if (pause_every && l % pause_every == 0) pause_ms(2); /* outlast the polling window: workers sleep */
    }
    free(c);
    return wrong;
}

int main(void) {
    for (int t = 1; t <= 4; t++) {
        mv_pool *pool = mv_pool_create(t);
        CHECK(pool && mv_pool_threads(pool) == t, "pool of %d threads", t);
        if (!pool) continue;
        int wrong = run_loops(pool, t, 20000, 0);
        CHECK(wrong == 0, "%d threads, back-to-back loops: %d wrong", t, wrong);
        wrong = run_loops(pool, t, 60, 3);
        CHECK(wrong == 0, "%d threads, loops after pauses: %d wrong", t, wrong);
        mv_pool_free(pool);
    }
    for (int i = 0; i < 50; i++) { /* free right after create, and right after a loop */
        mv_pool *pool = mv_pool_create(3);
        if (i % 2) CHECK(run_loops(pool, 3, 1, 0) == 0, "one loop");
        mv_pool_free(pool);
    }
    loop_ctx *c = calloc(1, sizeof *c);
    c->n_threads = 1;
    mv_pool_for(NULL, 5, count_hit, c); /* NULL pool: serial on the caller */
    CHECK(atomic_load(&c->hits[4]) == 1 && atomic_load(&c->hits[5]) == 0, "NULL pool");
    free(c);
    return mvt_done("test_threadpool");
}
