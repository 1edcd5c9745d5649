/* rope.c — rotary-embedding frequencies and the scaled-RoPE variants of the LLM families.
 *
 * Plain RoPE needs only inv_freq. The scaled variants are hooks the decoder calls once per forward
 * call with the call's end position, because upstream recomputes the table per call from that length:
 *   - linear (Llama-style): positions divided by the factor;
 *   - dynamic NTK (InternLM2): past max_position_embeddings the base grows with the length;
 *   - LongRoPE "su"/"longrope"/"yarn" (Phi-3): per-frequency divisors, short_factor while the call ends
 *     within original_max_position_embeddings, long_factor beyond, and cos/sin scaled by a constant.
 * Keys already in the cache keep the rotation they were stored with, as in upstream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm_impl.h"

void mv_rope_inv_freq(float *inv_freq, int head_dim, double theta, const float *factor) {
    /* upstream: 1.0 / (factor * base ** (arange(0, d, 2).float() / d)), all float32 tensors */
    for (int i = 0; i < head_dim / 2; i++) {
        float e = (float)(2 * i) / (float)head_dim;
        float denom = powf((float)theta, e);
        if (factor) denom = factor[i] * denom;
        inv_freq[i] = 1.0f / denom;
    }
}

/* ------------------------------------------------------------------ linear / dynamic NTK */

static void rope_linear(const mv_llm *m, int seq_end, mv_rope_call *rc) {
    (void)seq_end;
    rc->pos_div = (float)m->rope_factor;
}

/* Past max_position_embeddings: base' = base * (f*len/max - (f-1))^(d/(d-2)), in double as the
 * Python expression, then the usual float32 frequencies. (Upstream also keeps the enlarged table for
 * later, shorter calls; a shared read-only model cannot, so each call uses its own length.) */
static void rope_dynamic(const mv_llm *m, int seq_end, mv_rope_call *rc) {
    if (seq_end <= m->rope_max_pos) return;
    const double f = m->rope_factor, d = m->head_dim;
    const double base = m->rope_theta * pow(f * seq_end / m->rope_max_pos - (f - 1.0), d / (d - 2.0));
    mv_rope_inv_freq(rc->inv_freq, m->head_dim, base, NULL);
}

mv_status mv_rope_setup_llama(mv_llm *m, const mv_llm_config *c, mv_error *err) {
    const mv_rope_scaling *s = &c->rope_scaling;
    if (!s->type[0]) return MV_OK;
    int linear = !strcmp(s->type, "linear"), dynamic = !strcmp(s->type, "dynamic");
    if (!linear && !dynamic)
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "llm_config.rope_scaling.type '%s' is not supported for %s "
                            "(expected \"linear\" or \"dynamic\")", s->type, c->architecture);
    if (!(s->factor > 0))
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config.rope_scaling.factor must be a positive number for '%s' scaling (got %g)",
                            s->type, s->factor);
    if (dynamic && m->head_dim <= 2)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config: dynamic RoPE scaling needs head_dim > 2 (got %d)", m->head_dim);
    m->rope_factor = s->factor;
    m->rope_max_pos = c->max_position_embeddings;
    m->rope = linear ? rope_linear : rope_dynamic;
    return MV_OK;
}

/* ------------------------------------------------------------------ LongRoPE (Phi-3) */

static void rope_longrope(const mv_llm *m, int seq_end, mv_rope_call *rc) {
    const float *src = seq_end > m->rope_switch_len ? m->rope_inv_long : m->rope_inv_short;
    memcpy(rc->inv_freq, src, (size_t)(m->head_dim / 2) * sizeof *src);
    rc->cos_sin_scale = m->rope_cs_scale;
}

static mv_status check_factors(const mv_llm *m, const char *name, int n, mv_error *err) {
    if (n != m->head_dim / 2)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config.rope_scaling.%s has %d entries; LongRoPE needs one per rotary "
                            "frequency, head_dim/2 = %d", name, n, m->head_dim / 2);
    return MV_OK;
}

mv_status mv_rope_setup_longrope(mv_llm *m, const mv_llm_config *c, mv_error *err) {
    const mv_rope_scaling *s = &c->rope_scaling;
    if (!s->type[0]) return MV_OK;
    const int yarn = !strcmp(s->type, "yarn");
    if (!yarn && strcmp(s->type, "su") && strcmp(s->type, "longrope"))
        return mv_set_error(err, MV_ERR_UNSUPPORTED, "llm_config.rope_scaling.type '%s' is not supported for %s "
                            "(expected \"su\", \"longrope\" or \"yarn\")", s->type, c->architecture);
    mv_status rc;
    if ((rc = check_factors(m, "short_factor", s->n_short, err)) != MV_OK) return rc;
    if ((rc = check_factors(m, "long_factor", s->n_long, err)) != MV_OK) return rc;
    const int orig = c->original_max_position_embeddings;
    if (orig < 2)
        return mv_set_error(err, MV_ERR_CONFIG, "llm_config.original_max_position_embeddings must be an integer >= 2 for "
                            "'%s' RoPE scaling (got %d)", s->type, orig);
    const size_t half = (size_t)m->head_dim / 2;
    m->rope_inv_short = malloc(half * sizeof(float));
    m->rope_inv_long = malloc(half * sizeof(float));
    if (!m->rope_inv_short || !m->rope_inv_long)
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory for the RoPE tables");
    mv_rope_inv_freq(m->rope_inv_short, m->head_dim, m->rope_theta, s->short_factor);
    mv_rope_inv_freq(m->rope_inv_long, m->head_dim, m->rope_theta, s->long_factor);
    m->rope_switch_len = orig;
    /* the attention factor from how far the context was stretched; float32 when applied to cos/sin */
    const double scale = (double)c->max_position_embeddings / orig;
    double cs = 1.0;
    if (scale > 1.0) cs = yarn ? 0.1 * log(scale) + 1.0 : sqrt(1.0 + log(scale) / log((double)orig));
    m->rope_cs_scale = (float)cs;
    m->rope = rope_longrope;
    return MV_OK;
}
