/* test_synth_values.c — SYNTH-1 element values against the README's check values. */
#include <math.h>
#include <string.h>

#include "io/synth.h"
#include "testutil.h"

static uint16_t at(const uint8_t *b, size_t k) { return (uint16_t)(b[2 * k] | b[2 * k + 1] << 8); }

int main(void) {
    CHECK(mv_fnv1a64("a") == 0xaf63dc4c8601ec8cull, "FNV-1a-64(\"a\") = %llx", (unsigned long long)mv_fnv1a64("a"));
    CHECK(mv_fnv1a64("") == 0xcbf29ce484222325ull, "FNV offset basis");

    /* README: first four values of the full model's embed_tokens [151655,896]. */
    const int64_t emb[2] = { 151655, 896 };
    mv_synth1 g;
    mv_synth1_init(&g, "language_model.model.embed_tokens.weight", 2, emb);
    CHECK(g.kind == MV_SYNTH_SCALED, "embeddings are scaled");
    uint8_t b[8];
    mv_synth1_fill(&g, 0, 4, b);
    const uint16_t want[4] = { 0x3cdd, 0x3d14, 0xbd60, 0xbce6 };
    for (int k = 0; k < 4; k++) CHECK(at(b, k) == want[k], "embed_tokens[%d] = %04x, want %04x", k, at(b, k), want[k]);
    const float wantf[4] = { 0.02697754f, 0.03613281f, -0.0546875f, -0.02807617f };
    for (int k = 0; k < 4; k++)
        CHECK(fabsf(mv_bf16_to_f32(at(b, k)) - wantf[k]) < 1e-7f, "embed_tokens[%d] = %g", k, mv_bf16_to_f32(at(b, k)));

    /* Rank rules: a 0-d tensor uses the rank-1 rule (README InternVL-C: logit_scale -> bf16 1.0234375). */
    mv_synth1_init(&g, "logit_scale", 0, NULL);
    CHECK(g.kind == MV_SYNTH_NORM, "0-d tensor uses the norm rule");
    mv_synth1_fill(&g, 0, 1, b);
    CHECK(mv_bf16_to_f32(at(b, 0)) == 1.0234375f, "logit_scale = %g", mv_bf16_to_f32(at(b, 0)));
    const int64_t c64[1] = { 64 };
    mv_synth1_init(&g, "mlp1.0.bias", 1, c64);
    CHECK(g.kind == MV_SYNTH_BIAS, "name ending in bias");
    mv_synth1_init(&g, "vision_model.encoder.layers.0.ls1", 1, c64);
    CHECK(g.kind == MV_SYNTH_NORM, "layer scale");
    const int64_t cls[3] = { 1, 1, 1024 }, pos[3] = { 1, 1025, 1024 }, patch[4] = { 1024, 3, 14, 14 };
    mv_synth1_init(&g, "vision_model.embeddings.class_embedding", 3, cls);
    CHECK(g.scale == sqrt(3.0 / 1024), "class_embedding fan_in 1024");
    mv_synth1_init(&g, "vision_model.embeddings.position_embedding", 3, pos);
    CHECK(g.scale == sqrt(3.0 / 1049600), "position_embedding fan_in 1049600");
    mv_synth1_init(&g, "vision_model.embeddings.patch_embedding.weight", 4, patch);
    CHECK(g.scale == sqrt(3.0 / 588), "patch_embedding fan_in 588");

    /* Any chunk equals the same slice of the whole tensor. */
    const int64_t m[2] = { 64, 128 };
    mv_synth1_init(&g, "language_model.model.layers.0.mlp.down_proj.weight", 2, m);
    static uint8_t whole[2 * 64 * 128], part[2 * 64 * 128];
    mv_synth1_fill(&g, 0, 64 * 128, whole);
    for (size_t off = 0; off < 64 * 128; off += 1000) {
        size_t n = 64 * 128 - off < 1000 ? 64 * 128 - off : 1000;
        mv_synth1_fill(&g, off, n, part + 2 * off);
    }
    CHECK(memcmp(whole, part, sizeof whole) == 0, "chunked generation differs");
    for (size_t k = 0; k < 64 * 128; k++) {
        float v = fabsf(mv_bf16_to_f32(at(whole, k)));
        if (v > (float)sqrt(3.0 / 128) * 1.01f) { CHECK(0, "element %zu = %g exceeds sqrt(3/fan_in)", k, v); break; }
    }
    return mvt_done("test_synth_values");
}
