/* test_llm_cache.c — KV-cache behaviour of the decoder on tiny-qwen2 (img_astronaut, 310 positions):
 * one-call vs chunked (by the caller, and by the decoder's own passes) vs token-by-token prefill agree,
 * truncate + re-forward reproduces the logits, for an F32 and for an F16 cache (prefill widens the F16 cache, decode reads it in place: both see
 * the same stored values, so they agree as closely as with F32; the F16 logits differ from the F32
 * ones by the rounding, measurably but little), overflow gives MV_ERR_CONTEXT with the cache
 * untouched, bad token ids / configs / cache dtypes give clear errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm_impl.h"
#include "llm_fixture.h"

/* Prefill emb[0..n) in pieces of the given sizes (the last repeats); logits of the last position. */
static int prefill_in_pieces(llm_fixture *fx, mv_dtype t, const float *emb, int n, const int *sizes, int n_sizes,
                             float *logits) {
    const int H = mv_llm_hidden(fx->llm);
    mv_kv_cache *kv = mv_kv_create(fx->llm, n, t);
    mv_error err = { 0 };
    int ok = kv != NULL;
    for (int s = 0, i = 0; ok && s < n; i++) {
        int c = sizes[i < n_sizes ? i : n_sizes - 1];
        if (c > n - s) c = n - s;
        ok = mv_llm_forward(fx->llm, fx->pool, kv, emb + (size_t)s * H, c, s + c == n ? logits : NULL, &err) == MV_OK;
        s += c;
    }
    CHECK(ok, "chunked prefill failed: %s", err.message);
    CHECK(mv_kv_len(kv) == n, "cache holds %d positions, expected %d", mv_kv_len(kv), n);
    mv_kv_free(kv);
    return ok;
}

static void check_chunking(llm_fixture *fx, mv_dtype t, const float *emb, int n, const float *ref) {
    const int V = mv_llm_vocab(fx->llm);
    float *got = malloc((size_t)V * sizeof *got);
    const int uneven[] = { 1, 100, 37, 173 }, one[] = { 1 }, big[] = { 300, 10 };
    const char *name = t == MV_F16 ? "f16" : "f32";
    char what[64];
    snprintf(what, sizeof what, "%s chunks 1+100+37+172", name);
    if (prefill_in_pieces(fx, t, emb, n, uneven, 4, got)) mvt_allclose(what, got, ref, (size_t)V, 1e-5, 0);
    snprintf(what, sizeof what, "%s chunks 300+10", name);
    if (prefill_in_pieces(fx, t, emb, n, big, 2, got)) mvt_allclose(what, got, ref, (size_t)V, 1e-5, 0);
    /* one call that the decoder itself cuts into passes of 100 positions (100+100+100+10) */
    const int all[] = { n }, pass = fx->llm->prefill_chunk;
    fx->llm->prefill_chunk = 100;
    snprintf(what, sizeof what, "%s one call, passes of 100", name);
    if (prefill_in_pieces(fx, t, emb, n, all, 1, got)) mvt_allclose(what, got, ref, (size_t)V, 1e-5, 0);
    fx->llm->prefill_chunk = pass;
    snprintf(what, sizeof what, "%s token by token", name);
    if (prefill_in_pieces(fx, t, emb, n, one, 1, got)) mvt_allclose(what, got, ref, (size_t)V, 1e-5, 0);
    free(got);
}

/* The F16 cache's logits against the F32 cache's: close, and not identical (the cache is rounded). */
static void check_f16_vs_f32(const float *ref16, const float *ref, int V) {
    double worst = 0;
    for (int i = 0; i < V; i++) worst = fmax(worst, fabs((double)ref16[i] - ref[i]));
    CHECK(worst > 0 && worst < 1e-2, "F16 vs F32 cache: max |logit diff| %.3g, expected in (0, 1e-2)", worst);
    printf("F16 vs F32 cache: max |logit diff| %.3g\n", worst);
}

/* Truncating to a prefix and forwarding the rest again must give the same logits. */
static void check_truncate(llm_fixture *fx, mv_kv_cache *kv, const float *emb, int n, const float *ref) {
    const int V = mv_llm_vocab(fx->llm), H = mv_llm_hidden(fx->llm);
    float *got = malloc((size_t)V * sizeof *got);
    mv_error err = { 0 };
    mv_kv_truncate(kv, n + 10);
    CHECK(mv_kv_len(kv) == n, "truncate beyond the length changed it to %d", mv_kv_len(kv));
    const int keep[] = { n - 1, n - 40, 0 };
    for (int i = 0; i < 3; i++) {
        mv_kv_truncate(kv, keep[i]);
        CHECK(mv_kv_len(kv) == keep[i], "length %d after truncate(%d)", mv_kv_len(kv), keep[i]);
        CHECK(mv_llm_forward(fx->llm, fx->pool, kv, emb + (size_t)keep[i] * H, n - keep[i], got, &err) == MV_OK, "%s", err.message);
        char what[64];
        snprintf(what, sizeof what, "%s truncate to %d + re-forward", mv_kv_dtype(kv) == MV_F16 ? "f16" : "f32", keep[i]);
        /* Re-forwarding 1 token takes the small-M matmul path, the reference took the tiled one: the
         * FP32 sums are ordered differently, so allow the same 1e-5 as the chunked prefills above. */
        mvt_allclose(what, got, ref, (size_t)V, 1e-5, 0);
    }
    free(got);
}

static void check_errors(llm_fixture *fx, const float *emb, int n) {
    const int V = mv_llm_vocab(fx->llm);
    mv_error err = { 0 };
    mv_kv_cache *small = mv_kv_create(fx->llm, n - 1, MV_F32);
    mv_status rc = mv_llm_forward(fx->llm, fx->pool, small, emb, n, NULL, &err);
    CHECK(rc == MV_ERR_CONTEXT && strstr(err.message, "capacity"), "overflow: %s (%s)", mv_status_name(rc), err.message);
    CHECK(mv_kv_len(small) == 0, "failed forward left %d positions in the cache", mv_kv_len(small));
    CHECK(mv_llm_forward(fx->llm, fx->pool, small, emb, n - 1, NULL, &err) == MV_OK, "%s", err.message);
    rc = mv_llm_forward(fx->llm, fx->pool, small, emb, 1, NULL, &err);
    CHECK(rc == MV_ERR_CONTEXT, "full cache + 1: %s", mv_status_name(rc));
    CHECK(mv_kv_len(small) == n - 1, "failed forward changed the cache length to %d", mv_kv_len(small));
    rc = mv_llm_forward(fx->llm, fx->pool, small, emb, 0, NULL, &err);
    CHECK(rc == MV_ERR_ARG, "n = 0: %s", mv_status_name(rc));
    mv_kv_free(small);
    CHECK(!mv_kv_create(fx->llm, 8, MV_BF16) && !mv_kv_create(fx->llm, 8, MV_I8), "cache dtypes other than F32/F16 refused");

    float row[2 * 64];
    const int32_t bad_hi[] = { 5, V }, bad_neg[] = { -1 };
    rc = mv_llm_embed(fx->llm, bad_hi, 2, row, &err);
    CHECK(rc == MV_ERR_ARG && strstr(err.message, "position 1"), "id = vocab: %s (%s)", mv_status_name(rc), err.message);
    rc = mv_llm_embed(fx->llm, bad_neg, 1, row, &err);
    CHECK(rc == MV_ERR_ARG, "id -1: %s", mv_status_name(rc));

    mv_config cfg = fx->cfg;
    mv_llm *m = NULL;
    snprintf(cfg.llm.architecture, sizeof cfg.llm.architecture, "FooForCausalLM");
    rc = mv_llm_load(fx->w, &cfg, &m, &err);
    CHECK(rc == MV_ERR_UNSUPPORTED && !m && strstr(err.message, "FooForCausalLM"), "unknown family: %s (%s)", mv_status_name(rc), err.message);
    cfg = fx->cfg;
    cfg.llm.intermediate_size = 96;
    rc = mv_llm_load(fx->w, &cfg, &m, &err);
    CHECK(rc == MV_ERR_FORMAT && !m && strstr(err.message, "gate_proj"), "wrong intermediate_size: %s (%s)", mv_status_name(rc), err.message);
}

/* F16 storage: nearest rounding, saturation at the largest finite half instead of infinity, NaN kept. */
static void check_f16_store(llm_fixture *fx) {
    mv_kv_cache *kv = mv_kv_create(fx->llm, 4, MV_F16);
    CHECK(kv != NULL, "F16 cache");
    if (!kv) return;
    const int d = fx->llm->head_dim;
    float *k = calloc((size_t)d, sizeof *k), *v = calloc((size_t)d, sizeof *v);
    const float kin[5] = { 1e6f, -70000.f, 1.0f + 1.0f / 2048, 65519.f, NAN };
    const uint16_t kwant[5] = { 0x7bff, 0xfbff, 0x3c00 /* ties to even */, 0x7bff, 0 };
    memcpy(k, kin, sizeof kin);
    v[0] = 0.333333343f;
    mv_kv_store(kv, 1, 0, 2, k, v);
    const uint16_t *kh = (const uint16_t *)mv_kv_k(kv, 1, 0) + 2 * (size_t)d, *vh = (const uint16_t *)mv_kv_v(kv, 1, 0) + 2 * (size_t)d;
    for (int i = 0; i < 4; i++) CHECK(kh[i] == kwant[i], "key %g stored as 0x%04x, expected 0x%04x", kin[i], kh[i], kwant[i]);
    CHECK((kh[4] & 0x7c00) == 0x7c00 && (kh[4] & 0x03ff), "NaN stored as 0x%04x", kh[4]);
    CHECK(vh[0] == 0x3555 && vh[1] == 0, "value 1/3 stored as 0x%04x (0x3555), 0 as 0x%04x", vh[0], vh[1]);
    free(k);
    free(v);
    mv_kv_free(kv);
}

int main(void) {
    llm_fixture fx;
    mv_safetensors *st = NULL;
    mv_error err = { 0 };
    if (!llm_fixture_open(&fx)) return mvt_done("llm_qwen2_cache");
    CHECK_OK(mv_st_open(mvt_shared("golden/tiny-qwen2/img_astronaut.safetensors"), &st, &err), &err);
    int64_t *ids = NULL;
    int n = 0;
    float *emb = llm_prompt_embeds(&fx, st, &ids, &n);
    const int V = mv_llm_vocab(fx.llm);
    float *ref = malloc((size_t)V * sizeof *ref);
    float *ref16 = malloc((size_t)V * sizeof *ref16);
    mv_kv_cache *kv = mv_kv_create(fx.llm, n, MV_F32), *kv16 = mv_kv_create(fx.llm, n, MV_F16);
    CHECK(emb && ref && ref16 && kv && kv16 && n > 64 && mv_llm_hidden(fx.llm) == 64, "setup");
    if (emb && ref && ref16 && kv && kv16 && n > 64 && mv_llm_hidden(fx.llm) == 64) {
        CHECK(mv_kv_dtype(kv) == MV_F32 && mv_kv_dtype(kv16) == MV_F16, "cache dtypes");
        CHECK_OK(mv_llm_forward(fx.llm, fx.pool, kv, emb, n, ref, &err), &err);
        CHECK_OK(mv_llm_forward(fx.llm, fx.pool, kv16, emb, n, ref16, &err), &err);
        float *gold = mvt_tensor_f32(st, "logits_last", NULL);
        if (gold) mvt_allclose("logits_last", ref, gold, (size_t)V, 1e-4, 1e-4);
        free(gold);
        check_f16_vs_f32(ref16, ref, V);
        check_chunking(&fx, MV_F32, emb, n, ref);
        check_chunking(&fx, MV_F16, emb, n, ref16);
        check_truncate(&fx, kv, emb, n, ref);
        check_truncate(&fx, kv16, emb, n, ref16);
        check_errors(&fx, emb, n);
        check_f16_store(&fx);
    }
    mv_kv_free(kv);
    mv_kv_free(kv16);
    free(ref);
    free(ref16);
    free(emb);
    free(ids);
    mv_st_close(st);
    llm_fixture_close(&fx);
    return mvt_done("llm_qwen2_cache");
}
