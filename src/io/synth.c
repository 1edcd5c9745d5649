/* synth.c — SYNTH-1 weights and mv_synth_checkpoint(): a full synthetic checkpoint streamed to disk. */
#include "io/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "base/threadpool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/tensor_spec.h"

uint64_t mv_fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

void mv_synth1_init(mv_synth1 *g, const char *name, int ndim, const int64_t *shape) {
    size_t len = strlen(name);
    g->hash = mv_fnv1a64(name);
    g->scale = 0;
    if (ndim <= 1) { /* 0-d tensors count as one element under the rank-1 rule */
        g->kind = len >= 4 && strcmp(name + len - 4, "bias") == 0 ? MV_SYNTH_BIAS : MV_SYNTH_NORM;
        return;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    g->kind = MV_SYNTH_SCALED;
    g->scale = shape[0] ? sqrt(3.0 / (double)(numel / shape[0])) : 0;
}

/* splitmix64-style mix of (hash, index) to r in [-1, 1). */
static inline double synth_r(uint64_t h, uint64_t i) {
    uint64_t z = h + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double u = (double)(int64_t)(z >> 11) * 0x1p-53; /* < 2^53: exact through the signed conversion */
    return 2.0 * u - 1.0;
}

void mv_synth1_fill(const mv_synth1 *g, uint64_t first, size_t n, uint8_t *dst) {
    for (size_t k = 0; k < n; k++) {
        double r = synth_r(g->hash, first + k), v;
        if (g->kind == MV_SYNTH_SCALED) {
            v = r * g->scale;
        } else if (g->kind == MV_SYNTH_BIAS) {
            v = 0.02 * r;
        } else {
            double t = 0.1 * r; /* separate statement: must not contract into an FMA */
            v = 1.0 + t;
        }
        uint16_t b = mv_f32_to_bf16((float)v);
        dst[2 * k] = (uint8_t)b;
        dst[2 * k + 1] = (uint8_t)(b >> 8);
    }
}

/* ------------------------------------------------------------------ checkpoint writer */

typedef struct synth_job {
    mv_synth1 g;
    mv_pool *pool;
} synth_job;

typedef struct fill_ctx {
    const mv_synth1 *g;
    uint64_t first;
    size_t n;
    uint8_t *dst;
} fill_ctx;

enum { PIECE = 1 << 16 }; /* elements per parallel work item */

static void fill_piece(void *ctx, int index, int thread) {
    (void)thread;
    const fill_ctx *c = ctx;
    size_t begin = (size_t)index * PIECE, len = c->n - begin < PIECE ? c->n - begin : PIECE;
    mv_synth1_fill(c->g, c->first + begin, len, c->dst + 2 * begin);
}

/* mv_stw_gen_fn: bytes [offset, offset+nbytes) of one BF16 tensor. */
static void gen_chunk(void *user, const char *name, size_t offset, void *dst, size_t nbytes) {
    (void)name;
    const synth_job *j = user;
    fill_ctx c = { &j->g, offset / 2, nbytes / 2, dst };
    mv_pool_for(j->pool, (int)((c.n + PIECE - 1) / PIECE), fill_piece, &c);
}

static mv_status write_bytes(const char *path, const char *data, size_t len, mv_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return mv_set_error(err, MV_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    if (!ok) { remove(path); return mv_set_error(err, MV_ERR_IO, "%s: write failed", path); }
    return MV_OK;
}

/* Register every spec'd tensor as a generated BF16 tensor and write the file. */
static mv_status write_model(const mv_spec_list *spec, const char *path, mv_error *err) {
    synth_job *jobs = calloc(spec->n ? spec->n : 1, sizeof *jobs);
    mv_st_writer *w = mv_stw_new();
    mv_pool *pool = mv_pool_create(2);
    mv_status rc = jobs && w ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < spec->n && rc == MV_OK; i++) {
        const mv_tensor_spec *t = &spec->t[i];
        mv_synth1_init(&jobs[i].g, t->name, t->ndim, t->shape);
        jobs[i].pool = pool;
        rc = mv_stw_add_generated(w, t->name, MV_BF16, t->ndim, t->shape, gen_chunk, &jobs[i], err);
    }
    if (rc == MV_OK) rc = mv_stw_write(w, path, err);
    mv_pool_free(pool);
    mv_stw_free(w);
    free(jobs);
    return rc;
}

mv_status mv_synth_checkpoint(const char *config_path, const char *out_dir, mv_error *err) {
    if (!config_path || !out_dir) return mv_set_error(err, MV_ERR_ARG, "mv_synth_checkpoint: NULL path");
    size_t len;
    char *text = mv_read_file(config_path, 16u << 20, &len, err);
    if (!text) return err ? err->code : MV_ERR_IO;
    mv_config cfg;
    mv_spec_list spec = { 0 };
    char *cfg_out = mv_path_join(out_dir, "config.json");
    char *model_out = mv_path_join(out_dir, "model.safetensors");
    char *tmp_out = mv_path_join(out_dir, "model.safetensors.partial");
    mv_status rc = cfg_out && model_out && tmp_out ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (rc == MV_OK) rc = mv_config_parse(text, len, config_path, &cfg, err);
    if (rc == MV_OK) rc = mv_spec_build(&cfg, &spec, err);
    if (rc == MV_OK) rc = mv_make_dirs(out_dir, err);
    if (rc == MV_OK) rc = write_bytes(cfg_out, text, len, err);
    /* Written under a temporary name so an interrupted run never leaves a plausible model.safetensors. */
    if (rc == MV_OK) rc = write_model(&spec, tmp_out, err);
    if (rc == MV_OK && rename(tmp_out, model_out) != 0) {
        rc = mv_set_error(err, MV_ERR_IO, "%s: cannot rename to %s: %s", tmp_out, model_out, strerror(errno));
        remove(tmp_out);
    }
    mv_spec_free(&spec);
    free(tmp_out);
    free(model_out);
    free(cfg_out);
    free(text);
    return rc;
}
