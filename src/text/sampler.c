#include "text/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void mv_rng_seed(mv_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t next_u64(mv_rng *r) {
    uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mv_rng_uniform(mv_rng *rng) { return (double)(next_u64(rng) >> 11) * 0x1.0p-53; }

int32_t mv_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

size_t mv_sample_scratch_bytes(int V) { return (size_t)V * (sizeof(float) + sizeof(int32_t)); }

/* HF RepetitionPenaltyLogitsProcessor: each distinct seen token once, divide positive logits and
 * multiply negative ones. A token may repeat in history; marking avoids applying it twice. */
static void repetition_penalty(float *logits, int V, const int32_t *hist, size_t n, float penalty, uint8_t *seen) {
    memset(seen, 0, (size_t)V);
    for (size_t i = 0; i < n; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= V || seen[t]) continue;
        seen[t] = 1;
        logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
    }
}

typedef struct cand { float logit; int32_t id; } cand;

static int cmp_cand_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Sampling walks the candidates in descending order, but a draw almost never gets past the head of
 * the distribution: sorting all ~150k candidates per token cost ~20 ms. So the candidates within
 * HEAD_LOGITS of the maximum (relative probability above e^-30) are sorted first, and the whole list
 * only when top_k, top_p or the draw reaches past them. Both give the same token. */
enum { HEAD_LOGITS = 30 };

/* Moves the candidates with logit >= cut to the front, sorted; returns how many. */
static int sort_head(cand *c, int n, float cut) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (c[i].logit >= cut) {
            const cand t = c[m];
            c[m++] = c[i];
            c[i] = t;
        }
    qsort(c, (size_t)m, sizeof *c, cmp_cand_desc);
    return m;
}

/* top_k, then top_p (the smallest prefix whose mass reaches it; HF keeps at least one token and
 * includes the one that crosses), then the draw u01 over the survivors' softmax. c[0..m) is sorted
 * and holds the m largest; -1 when the answer depends on the unsorted rest. */
static int32_t draw(const mv_sampling_params *p, const cand *c, int n, int m, float mx, double u01) {
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    if (n > m && (p->top_k > 0 || (p->top_p > 0 && p->top_p < 1))) return -1;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(c[i].logit - mx));
    if (p->top_p > 0 && p->top_p < 1) {
        double acc = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            acc += exp((double)(c[i].logit - mx)) / sum;
            if (acc >= p->top_p) { keep = i + 1; break; }
        }
        n = keep;
        sum = 0;
        for (int i = 0; i < n; i++) sum += exp((double)(c[i].logit - mx));
    }
    double u = u01 * sum, acc = 0;
    for (int i = 0; i < n && i < m; i++) {
        acc += exp((double)(c[i].logit - mx));
        if (u < acc) return c[i].id;
    }
    return n <= m ? c[n - 1].id : -1;
}

int32_t mv_sample(const mv_sampling_params *p, float *logits, int V, const int32_t *history, size_t n_history,
                  mv_rng *rng, void *scratch) {
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f)
        repetition_penalty(logits, V, history, n_history, p->repeat_penalty, scratch);
    if (!(p->temperature > 0)) return mv_argmax(logits, V);
    cand *c = scratch; /* V*(4+4) bytes = V cands */
    int n = 0;
    float mx = -INFINITY;
    for (int i = 0; i < V; i++)
        if (logits[i] > -INFINITY) {
            c[n] = (cand){ logits[i] / p->temperature, i };
            if (c[n].logit > mx) mx = c[n].logit;
            n++;
        }
    if (n == 0) return mv_argmax(logits, V);
    const double u01 = mv_rng_uniform(rng);
    int32_t id = draw(p, c, n, sort_head(c, n, mx - HEAD_LOGITS), mx, u01);
    if (id < 0) {
        qsort(c, (size_t)n, sizeof *c, cmp_cand_desc);
        id = draw(p, c, n, n, mx, u01);
    }
    return id;
}
