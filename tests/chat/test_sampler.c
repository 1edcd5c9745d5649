/* Sampler: greedy = argmax with HF tie rule, repetition penalty arithmetic, top-k / top-p support
 * sets, seeded determinism, and sampling frequencies close to the softmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/sampler.h"

static mv_sampling_params params(float temp, int top_k, float top_p, float rep) {
    mv_sampling_params p = { temp, top_k, top_p, rep, 1234 };
    return p;
}

typedef struct ref_cand { double logit; int id; } ref_cand;

static int ref_cmp(const void *a, const void *b) {
    const ref_cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* The definition the sampler must follow: every candidate sorted (logit descending, id ascending),
 * top_k, top_p's smallest prefix reaching the mass, then the draw u over the survivors' softmax. */
static int ref_sample(const float *logits, int V, float temp, int top_k, float top_p, double u, ref_cand *c) {
    for (int i = 0; i < V; i++) c[i] = (ref_cand){ (double)(logits[i] / temp), i };
    qsort(c, (size_t)V, sizeof *c, ref_cmp);
    int n = top_k > 0 && top_k < V ? top_k : V;
    double sum = 0, acc = 0;
    for (int i = 0; i < n; i++) sum += exp(c[i].logit - c[0].logit);
    if (top_p > 0 && top_p < 1)
        for (int i = 0; i < n; i++) {
            acc += exp(c[i].logit - c[0].logit) / sum;
            if (acc >= top_p) { n = i + 1; break; }
        }
    sum = 0;
    for (int i = 0; i < n; i++) sum += exp(c[i].logit - c[0].logit);
    acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp(c[i].logit - c[0].logit);
        if (u * sum < acc) return c[i].id;
    }
    return c[n - 1].id;
}

/* A large vocabulary whose head (within e^-30 of the best) is a few tokens: the sampler sorts only
 * the head unless top_k / top_p / the draw reach past it; either way it must pick what the full sort
 * picks. Ties included (ids break them). */
static void test_against_full_sort(void) {
    enum { BIG = 5000 };
    float *logits = malloc(BIG * sizeof *logits), *work = malloc(BIG * sizeof *work);
    ref_cand *c = malloc(BIG * sizeof *c);
    void *scratch = malloc(mv_sample_scratch_bytes(BIG));
    const struct { float temp; int top_k; float top_p; } cases[] = {
        { 1.0f, 0, 1.0f }, { 0.7f, 0, 0.9f }, { 1.0f, 40, 1.0f }, { 1.0f, 3, 0.95f }, { 2.0f, 0, 0.999999f },
        { 50.0f, 0, 1.0f },  /* a flat distribution: the head is everything */
        { 0.5f, 40, 1.0f },  /* the head is the 4 best: top_k reaches past it (full sort) */
    };
    unsigned st = 7;
    int mismatches = 0, draws = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int rep = 0; rep < 40; rep++) {
            for (int i = 0; i < BIG; i++) {
                st = st * 1664525u + 1013904223u;
                logits[i] = i < 4 ? 20.0f - (float)(i / 2) : (float)(st >> 8) / 16777216.f * 30.f - 25.f;
            }
            mv_sampling_params p = params(cases[k].temp, cases[k].top_k, cases[k].top_p, 1);
            mv_rng r1, r2;
            mv_rng_seed(&r1, (uint64_t)rep);
            mv_rng_seed(&r2, (uint64_t)rep);
            memcpy(work, logits, BIG * sizeof *work);
            const int got = mv_sample(&p, work, BIG, NULL, 0, &r1, scratch);
            const int want = ref_sample(logits, BIG, p.temperature, p.top_k, p.top_p, mv_rng_uniform(&r2), c);
            mismatches += got != want;
            draws++;
        }
    CHECK(mismatches == 0, "%d of %d draws differ from the full-sort definition", mismatches, draws);
    free(logits);
    free(work);
    free(c);
    free(scratch);
}

int main(void) {
    enum { V = 6 };
    void *scratch = malloc(mv_sample_scratch_bytes(V));
    mv_rng rng;
    mv_rng_seed(&rng, 1);
    float base[V] = { 1.0f, 3.0f, 3.0f, -2.0f, 0.5f, 2.9f };
    float l[V];

    memcpy(l, base, sizeof l);
    mv_sampling_params g = params(0, 0, 1, 1);
    CHECK(mv_sample(&g, l, V, NULL, 0, &rng, scratch) == 1, "greedy picks the first of tied maxima");

    /* penalty 2: positive logits halve, negative double; token 1 seen twice is penalised once */
    memcpy(l, base, sizeof l);
    const int32_t hist[] = { 1, 1, 3 };
    mv_sampling_params rp = params(0, 0, 1, 2.0f);
    int32_t t = mv_sample(&rp, l, V, hist, 3, &rng, scratch);
    CHECK(fabsf(l[1] - 1.5f) < 1e-6f && fabsf(l[3] + 4.0f) < 1e-6f && l[2] == 3.0f, "repetition penalty values");
    CHECK(t == 2, "after the penalty token 2 leads, got %d", t);

    /* top-k 2 only ever returns the two best; top-p tiny returns the best */
    mv_sampling_params k2 = params(1.0f, 2, 1, 1);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        memcpy(l, base, sizeof l);
        t = mv_sample(&k2, l, V, NULL, 0, &rng, scratch);
        ok &= t == 1 || t == 2;
    }
    CHECK(ok, "top-k 2 stayed within {1,2}");
    mv_sampling_params p0 = params(1.0f, 0, 0.01f, 1);
    memcpy(l, base, sizeof l);
    CHECK(mv_sample(&p0, l, V, NULL, 0, &rng, scratch) == 1, "top-p 0.01 keeps only the best");

    /* frequencies follow softmax(base) at temperature 1 */
    int counts[V] = { 0 };
    mv_sampling_params full = params(1.0f, 0, 1, 1);
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        memcpy(l, base, sizeof l);
        counts[mv_sample(&full, l, V, NULL, 0, &rng, scratch)]++;
    }
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(base[i]);
    for (int i = 0; i < V; i++) {
        double want = exp(base[i]) / z, got = (double)counts[i] / N;
        CHECK(fabs(got - want) < 0.015, "token %d frequency %.4f vs %.4f", i, got, want);
    }

    /* same seed, same draws */
    mv_rng a, b;
    mv_rng_seed(&a, 42);
    mv_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 50; i++) {
        float la[V], lb[V];
        memcpy(la, base, sizeof la);
        memcpy(lb, base, sizeof lb);
        same &= mv_sample(&full, la, V, NULL, 0, &a, scratch) == mv_sample(&full, lb, V, NULL, 0, &b, scratch);
    }
    CHECK(same, "seeded sampling is reproducible");
    test_against_full_sort();
    free(scratch);
    return mvt_done("test_sampler");
}
