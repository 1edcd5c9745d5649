/* quantize.c — mv_quantize_checkpoint: a checkpoint directory rewritten with its language-model
 * matrices in the Q8/Q4 block formats (docs/QUANT.md). The output is one model.safetensors whose
 * quantized tensors are produced row by row while the file is written, so no full copy of the model
 * is ever held in memory; every other file of the input directory is copied beside it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/file.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/tensor_spec.h"
#include "kernels/quant.h"

/* One output tensor of a quantized matrix (its codes or its scales), regenerated row by row. */
typedef struct qgen {
    const mv_tensor *src;
    mv_qtype t;
    int scales;      /* 1: this output is the F16 scales, 0: the codes */
    int cached_row;  /* row currently in codes/sc, −1 none */
    uint8_t *codes;  /* one row of codes */
    uint16_t *sc;    /* one row of scales */
} qgen;

static int is_float(mv_dtype t) { return t == MV_F32 || t == MV_F16 || t == MV_BF16; }

/* The rule of docs/QUANT.md: 2-D language-model float tensors whose width is whole blocks. */
static int quantizable(const mv_tensor *t) {
    return !strncmp(t->name, "language_model.", 15) && t->ndim == 2 && is_float(t->dtype) &&
           t->shape[1] >= MV_QBLOCK && t->shape[1] % MV_QBLOCK == 0 && t->shape[1] <= (1 << 30) &&
           t->shape[0] <= (1 << 30);
}

static size_t gen_row_bytes(const qgen *g) {
    const int cols = (int)g->src->shape[1];
    return g->scales ? (size_t)(cols / MV_QBLOCK) * 2 : mv_q_row_bytes(g->t, cols);
}

static void gen_rows(void *user, const char *name, size_t offset, void *dst, size_t nbytes) {
    (void)name;
    qgen *g = user;
    const int cols = (int)g->src->shape[1];
    const size_t rb = gen_row_bytes(g), es = mv_dtype_size(g->src->dtype);
    for (size_t done = 0; done < nbytes;) {
        const size_t pos = offset + done, row = pos / rb, in_row = pos % rb;
        if ((int)row != g->cached_row) {
            mv_q_quantize_row(g->t, g->src->dtype, (const char *)g->src->data + row * (size_t)cols * es, cols, g->codes,
                              g->sc);
            g->cached_row = (int)row;
        }
        size_t n = rb - in_row < nbytes - done ? rb - in_row : nbytes - done;
        memcpy((char *)dst + done, (const char *)(g->scales ? (const void *)g->sc : g->codes) + in_row, n);
        done += n;
    }
}

static mv_status add_quantized(mv_st_writer *w, const mv_tensor *t, mv_qtype qt, qgen *g, mv_error *err) {
    const int cols = (int)t->shape[1];
    char name[320];
    for (int s = 0; s < 2; s++) {
        g[s] = (qgen){ t, qt, s, -1, malloc((size_t)cols), malloc((size_t)(cols / MV_QBLOCK) * 2) };
        if (!g[s].codes || !g[s].sc) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    }
    const int64_t qshape[2] = { t->shape[0], (int64_t)mv_q_row_bytes(qt, cols) }, sshape[2] = { t->shape[0], cols / MV_QBLOCK };
    snprintf(name, sizeof name, "%s.qweight", t->name);
    mv_status rc = mv_stw_add_generated(w, name, mv_q_code_dtype(qt), 2, qshape, gen_rows, &g[0], err);
    snprintf(name, sizeof name, "%s.qscale", t->name);
    if (rc == MV_OK) rc = mv_stw_add_generated(w, name, MV_F16, 2, sshape, gen_rows, &g[1], err);
    return rc;
}

static int already_quantized(const mv_weights *in) {
    for (size_t i = 0; i < mv_weights_count(in); i++) {
        const char *n = mv_weights_at(in, i)->name;
        size_t len = strlen(n);
        if (len > 8 && !strcmp(n + len - 8, ".qweight")) return 1;
    }
    return 0;
}

static mv_status write_model(const mv_weights *in, mv_qtype qt, const char *path, mv_error *err) {
    const size_t n = mv_weights_count(in);
    qgen *gens = calloc(2 * (n ? n : 1), sizeof *gens);
    mv_st_writer *w = mv_stw_new();
    mv_status rc = gens && w ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        const mv_tensor *t = mv_weights_at(in, i);
        if (quantizable(t)) rc = add_quantized(w, t, qt, &gens[2 * i], err);
        else rc = mv_stw_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, err);
    }
    if (rc == MV_OK) rc = mv_stw_set_metadata(w, "format", "pt", err);
    if (rc == MV_OK) rc = mv_stw_set_metadata(w, "quantization", mv_qtype_name(qt), err);
    if (rc == MV_OK) rc = mv_stw_write(w, path, err);
    for (size_t i = 0; gens && i < 2 * n; i++) {
        free(gens[i].codes);
        free(gens[i].sc);
    }
    free(gens);
    mv_stw_free(w);
    return rc;
}

static int is_weights_file(const char *name) {
    size_t len = strlen(name);
    return !strncmp(name, "model", 5) && ((len > 12 && !strcmp(name + len - 12, ".safetensors")) ||
                                          !strcmp(name, "model.safetensors.index.json"));
}

/* Every regular file of in_dir except the weights (config, tokenizer, generation config, code). */
static mv_status copy_side_files(const char *in_dir, const char *out_dir, mv_error *err) {
    DIR *d = opendir(in_dir);
    if (!d) return mv_set_error(err, MV_ERR_IO, "%s: cannot list: %s", in_dir, strerror(errno));
    mv_status rc = MV_OK;
    struct dirent *e;
    while (rc == MV_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.' || is_weights_file(e->d_name)) continue;
        char *src = mv_path_join(in_dir, e->d_name), *dst = mv_path_join(out_dir, e->d_name);
        struct stat sb;
        if (!src || !dst) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        else if (stat(src, &sb) == 0 && S_ISREG(sb.st_mode)) rc = mv_copy_file(src, dst, err);
        free(src);
        free(dst);
    }
    closedir(d);
    return rc;
}

static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

mv_status mv_quantize_checkpoint(const char *in_dir, const char *out_dir, const char *type, mv_error *err) {
    if (!in_dir || !out_dir || !type) return mv_set_error(err, MV_ERR_ARG, "mv_quantize_checkpoint: NULL argument");
    const mv_qtype qt = mv_qtype_parse(type);
    if (qt == MV_Q_NONE) return mv_set_error(err, MV_ERR_ARG, "quantize: '%s' is not a quantization type (q8, q4)", type);
    mv_config cfg;
    mv_weights *in = NULL;
    mv_status rc = mv_config_load_dir(in_dir, &cfg, err);
    if (rc == MV_OK) rc = mv_weights_open_dir(in_dir, &in, err);
    if (rc == MV_OK) rc = mv_spec_validate(in, &cfg, err); /* never write a quantized copy of a broken checkpoint */
    if (rc == MV_OK && already_quantized(in))
        rc = mv_set_error(err, MV_ERR_ARG, "%s: the checkpoint is already quantized; quantize the original instead", in_dir);
    if (rc == MV_OK) rc = mv_make_dirs(out_dir, err);
    if (rc == MV_OK && same_dir(in_dir, out_dir))
        rc = mv_set_error(err, MV_ERR_ARG, "%s: the output directory must differ from the input", out_dir);
    char *path = rc == MV_OK ? mv_path_join(out_dir, "model.safetensors") : NULL;
    char *tmp = rc == MV_OK ? mv_path_join(out_dir, "model.safetensors.partial") : NULL;
    if (rc == MV_OK && (!path || !tmp)) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    /* under a temporary name, so an interrupted run never leaves a plausible model.safetensors */
    if (rc == MV_OK) rc = write_model(in, qt, tmp, err);
    if (rc == MV_OK && rename(tmp, path) != 0) {
        rc = mv_set_error(err, MV_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
    }
    if (rc == MV_OK) rc = copy_side_files(in_dir, out_dir, err);
    free(path);
    free(tmp);
    mv_weights_close(in);
    return rc;
}
