/* threadpool.h — a persistent pool of worker threads running parallel-for loops.
 *
 * mv_pool_for(pool, n, fn, ctx) calls fn(ctx, i, thread) for every i in [0, n), spread over the
 * workers and the calling thread, and returns when all are done. Indices are handed out through an
 * atomic counter, so uneven work balances itself. One loop at a time per pool (not reentrant). */
#ifndef MV_BASE_THREADPOOL_H
#define MV_BASE_THREADPOOL_H

typedef struct mv_pool mv_pool;
typedef void (*mv_pool_fn)(void *ctx, int index, int thread);

/* CPUs this process may run on (its affinity mask), at least 1. */
int mv_cpu_count(void);

/* n_threads counts the caller: 1 means no worker threads. NULL on failure. */
mv_pool *mv_pool_create(int n_threads);
void mv_pool_free(mv_pool *pool);
int mv_pool_threads(const mv_pool *pool);
/* pool may be NULL: runs serially on the caller. */
void mv_pool_for(mv_pool *pool, int n, mv_pool_fn fn, void *ctx);

#endif
