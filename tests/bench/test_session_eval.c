/* mv_session_eval / mv_session_truncate / mv_session_length on tiny-qwen2: the text_hello golden's
 * input ids evaluated raw must give its logits_last (in one call, in pieces, and after truncating a
 * shared prefix), one-token steps must follow the golden greedy ids, and misuse must be refused with
 * the context left as it was. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int32_t argmax(const float *v, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

int main(void) {
    mv_error err = { 0 };
    mv_safetensors *g = NULL;
    CHECK_OK(mv_st_open(mvt_shared("golden/tiny-qwen2/text_hello.safetensors"), &g, &err), &err);
    if (!g) return mvt_done("test_session_eval");
    size_t n_ids, n_logits, n_gen, n_margin;
    int64_t *ids64 = mvt_tensor_i64(g, "input_ids", &n_ids), *gen = mvt_tensor_i64(g, "gen_ids", &n_gen);
    float *want = mvt_tensor_f32(g, "logits_last", &n_logits), *margin = mvt_tensor_f32(g, "gen_top2_margin", &n_margin);
    mv_model_params mp = mv_model_default_params();
    mp.n_threads = 2;
    mp.context_length = 64;
    mv_model *m = NULL;
    mv_session *s = NULL;
    CHECK_OK(mv_model_load(mvt_build("models/tiny-qwen2"), &mp, &m, &err), &err);
    if (m) CHECK_OK(mv_session_create(m, &s, &err), &err);
    if (!s || !ids64 || !want || !gen || !margin) { mv_model_free(m); return mvt_done("test_session_eval"); }
    int32_t *ids = malloc(n_ids * sizeof *ids);
    float *logits = malloc(n_logits * sizeof *logits);
    for (size_t i = 0; i < n_ids; i++) ids[i] = (int32_t)ids64[i];

    /* one call */
    CHECK_OK(mv_session_eval(s, ids, n_ids, logits, &err), &err);
    CHECK(mv_session_length(s) == (int)n_ids, "length %d after %zu ids", mv_session_length(s), n_ids);
    mvt_allclose("logits_last, one call", logits, want, n_logits, 1e-4, 1e-4);

    /* truncate to a prefix and evaluate the rest: the cached prefix is reused */
    mv_session_truncate(s, 20);
    CHECK(mv_session_length(s) == 20, "length %d after truncate(20)", mv_session_length(s));
    CHECK_OK(mv_session_eval(s, ids + 20, n_ids - 20, logits, &err), &err);
    mvt_allclose("logits_last, prefix kept", logits, want, n_logits, 1e-4, 1e-4);

    /* from scratch in three pieces, logits wanted only from the last */
    mv_session_truncate(s, 0);
    CHECK(mv_session_length(s) == 0, "length %d after truncate(0)", mv_session_length(s));
    CHECK_OK(mv_session_eval(s, ids, 7, NULL, &err), &err);
    CHECK_OK(mv_session_eval(s, ids + 7, 30, NULL, &err), &err);
    CHECK_OK(mv_session_eval(s, ids + 37, n_ids - 37, logits, &err), &err);
    mvt_allclose("logits_last, three pieces", logits, want, n_logits, 1e-4, 1e-4);

    /* greedy one-token steps follow the golden ids while the golden margin is clear */
    size_t steps = 0;
    for (size_t i = 0; i + 1 < n_gen && margin[i] > 1e-3f && (size_t)mv_session_length(s) < 64; i++) {
        CHECK(argmax(logits, (int)n_logits) == (int32_t)gen[i], "step %zu: argmax %d, golden %lld", i,
              argmax(logits, (int)n_logits), (long long)gen[i]);
        int32_t tok = (int32_t)gen[i];
        CHECK_OK(mv_session_eval(s, &tok, 1, logits, &err), &err);
        steps++;
    }
    CHECK(steps >= 4, "only %zu greedy steps checked", steps);

    /* misuse: overflow and NULL ids are refused and leave the context as it was */
    mv_session_truncate(s, (int)n_ids);
    int len = mv_session_length(s);
    int32_t many[64] = { 0 };
    mv_status rc = mv_session_eval(s, many, 64, logits, &err);
    CHECK(rc == MV_ERR_CONTEXT && strstr(err.message, "context"), "overflow: %s (%s)", mv_status_name(rc), err.message);
    CHECK(mv_session_length(s) == len, "length changed by a refused call");
    rc = mv_session_eval(s, NULL, 3, logits, &err);
    CHECK(rc == MV_ERR_ARG, "NULL ids: %s", mv_status_name(rc));
    int32_t bad = 1 << 30;
    rc = mv_session_eval(s, &bad, 1, logits, &err);
    CHECK(rc == MV_ERR_ARG, "out-of-vocabulary id: %s", mv_status_name(rc));
    CHECK(mv_session_length(s) == len, "length changed by a refused call");
    CHECK_OK(mv_session_eval(s, ids, 0, NULL, &err), &err); /* nothing to do is fine */
    mv_session_truncate(s, len + 5); /* beyond the length: no change */
    CHECK(mv_session_length(s) == len, "truncate beyond the length changed it");

    free(ids);
    free(logits);
    free(ids64);
    free(gen);
    free(want);
    free(margin);
    mv_session_free(s);
    mv_model_free(m);
    mv_st_close(g);
    return mvt_done("test_session_eval");
}
