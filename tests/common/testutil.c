#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

int mvt_failures = 0;

int mvt_done(const char *test_name) {
    if (mvt_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", test_name, mvt_failures);
        return 1;
    }
    printf("%s: all checks passed\n", test_name);
    return 0;
}

static const char *rotate(const char *base, const char *rel) {
    static char bufs[8][4096];
    static int next = 0;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
    return b;
}

const char *mvt_shared(const char *rel) { return rotate(MV_SHARED_DIR, rel); }
const char *mvt_build(const char *rel) { return rotate(MV_BUILD_DIR, rel); }
const char *mvt_source(const char *rel) { return rotate(MV_SOURCE_DIR, rel); }

int mvt_allclose(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]), lim = atol + rtol * fabs((double)ref[i]);
        if (!(d <= lim)) bad++;
        if (d > max_abs || isnan(d)) max_abs = d;
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    if (bad) {
        mvt_failures++;
        fprintf(stderr, "%s: %zu of %zu elements out of tolerance (atol %g rtol %g); worst [%zu] got %.8g ref %.8g\n",
                what, bad, n, atol, rtol, worst, (double)got[worst], (double)ref[worst]);
        return 0;
    }
    printf("%s: %zu elements within tolerance, max |diff| %.3g\n", what, n, max_abs);
    return 1;
}

float *mvt_tensor_f32(const mv_safetensors *st, const char *name, size_t *n) {
    const mv_tensor *t = mv_st_find(st, name);
    if (!t || (t->dtype != MV_F32 && t->dtype != MV_F16 && t->dtype != MV_BF16)) {
        mvt_failures++;
        fprintf(stderr, "golden tensor '%s' missing or not float\n", name);
        return NULL;
    }
    float *out = malloc((size_t)t->numel * sizeof *out + 1);
    mv_to_f32(t->dtype, t->data, out, (size_t)t->numel);
    if (n) *n = (size_t)t->numel;
    return out;
}

int64_t *mvt_tensor_i64(const mv_safetensors *st, const char *name, size_t *n) {
    const mv_tensor *t = mv_st_find(st, name);
    if (!t || (t->dtype != MV_I64 && t->dtype != MV_I32 && t->dtype != MV_U8)) {
        mvt_failures++;
        fprintf(stderr, "golden tensor '%s' missing or not integer\n", name);
        return NULL;
    }
    int64_t *out = malloc((size_t)t->numel * sizeof *out + 1);
    for (int64_t i = 0; i < t->numel; i++) {
        if (t->dtype == MV_I64) memcpy(&out[i], (const char *)t->data + 8 * i, 8);
        else if (t->dtype == MV_I32) { int32_t v; memcpy(&v, (const char *)t->data + 4 * i, 4); out[i] = v; }
        else out[i] = ((const uint8_t *)t->data)[i];
    }
    if (n) *n = (size_t)t->numel;
    return out;
}

int mvt_run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *g = realloc(buf, cap * 2);
            if (!g) break;
            buf = g;
            cap *= 2;
        }
    }
    if (buf) buf[n] = 0;
    int status = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *mvt_build_dir_file(const char *dir_rel, const char *name, const void *data, size_t n) {
    static char dir[2048];
    char path[2400];
    snprintf(dir, sizeof dir, "%s", mvt_build(dir_rel));
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mvt_write_file(path, data, n) != 0) {
        mvt_failures++;
        fprintf(stderr, "cannot write %s\n", path);
    }
    return dir;
}

int mvt_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

int mvt_sha256_file(const char *path, char hex[65]) {
    mv_error err;
    return mv_file_sha256(path, hex, &err) == MV_OK ? 0 : -1;
}
