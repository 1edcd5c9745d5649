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
    free(scratch);
    return mvt_done("test_sampler");
}
