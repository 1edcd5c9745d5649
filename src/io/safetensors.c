/* safetensors.c — validated mmap reader, shard sets, and a streaming writer. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "base/file.h"

#define MV_ST_MAX_HEADER (100u * 1024u * 1024u)

static const struct { const char *name; size_t size; } dtype_info[MV_DTYPE_COUNT] = {
    [MV_F32] = {"F32", 4}, [MV_F16] = {"F16", 2}, [MV_BF16] = {"BF16", 2}, [MV_I64] = {"I64", 8},
    [MV_I32] = {"I32", 4}, [MV_U8] = {"U8", 1},   [MV_I8] = {"I8", 1},
};

size_t mv_dtype_size(mv_dtype t) { return (unsigned)t < MV_DTYPE_COUNT ? dtype_info[t].size : 0; }
const char *mv_dtype_name(mv_dtype t) { return (unsigned)t < MV_DTYPE_COUNT ? dtype_info[t].name : "?"; }

int mv_dtype_parse(const char *s) {
    for (int i = 0; i < MV_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------ float conversions */

float mv_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    union { uint32_t u; float f; } v;
    if (exp == 0) {
        float m = ldexpf((float)mant, -24);
        return sign ? -m : m;
    }
    if (exp == 31) v.u = sign | 0x7f800000u | (mant << 13);
    else v.u = sign | ((exp + 112) << 23) | (mant << 13);
    return v.f;
}

uint16_t mv_f32_to_bf16(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    uint32_t rounding = 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)((v.u + rounding) >> 16);
}

uint16_t mv_f32_to_f16(float f) {
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000u, a = v.u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (a < 0x38800000u) { /* subnormal or zero in f16 */
        float m = fabsf(f) * 16777216.0f; /* 2^24: units of the smallest subnormal */
        return (uint16_t)(sign | (uint32_t)nearbyintf(m));
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return (uint16_t)(sign | (r >> 13));
}

void mv_to_f32(mv_dtype t, const void *src, float *dst, size_t n) {
    const uint16_t *h = src;
    switch (t) {
    case MV_F32: memcpy(dst, src, n * sizeof(float)); break;
    case MV_BF16: for (size_t i = 0; i < n; i++) dst[i] = mv_bf16_to_f32(h[i]); break;
    case MV_F16: for (size_t i = 0; i < n; i++) dst[i] = mv_f16_to_f32(h[i]); break;
    default: memset(dst, 0, n * sizeof(float)); break;
    }
}

/* ------------------------------------------------------------------ reader */

struct mv_safetensors {
    char *path;
    void *map;
    size_t map_size;
    mv_tensor *tensors;
    size_t n;
    cJSON *metadata;
};

static int cmp_range(const void *a, const void *b) {
    const mv_tensor *x = *(const mv_tensor *const *)a, *y = *(const mv_tensor *const *)b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static int json_to_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static mv_status parse_entry(mv_safetensors *st, const cJSON *e, const char *data, uint64_t data_len,
                             mv_tensor *t, mv_error *err) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return mv_set_error(err, MV_ERR_FORMAT, "%s: entry '%s' is not an object", st->path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", st->path, name);
    int dt = mv_dtype_parse(jd->valuestring);
    if (dt < 0) return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has unsupported dtype '%s'", st->path, name, jd->valuestring);
    int nd = cJSON_GetArraySize(js);
    if (nd > MV_MAX_DIMS) return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has %d dims (max %d)", st->path, name, nd, MV_MAX_DIMS);
    t->name = name;
    t->dtype = (mv_dtype)dt;
    t->ndim = nd;
    t->file = st->path;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_to_u64(cJSON_GetArrayItem(js, i), &d) || d > (1ull << 40))
            return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has an invalid shape", st->path, name);
        t->shape[i] = (int64_t)d;
        if (d && numel > (1ull << 50) / d) return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' is too large", st->path, name);
        numel *= d;
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(jo) != 2 || !json_to_u64(cJSON_GetArrayItem(jo, 0), &b) ||
        !json_to_u64(cJSON_GetArrayItem(jo, 1), &en) || en < b)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' has invalid data_offsets", st->path, name);
    if (en > data_len)
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' data_offsets [%llu,%llu] lie past the end of the file (data section is %llu bytes)",
                            st->path, name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
    if (en - b != numel * mv_dtype_size(t->dtype))
        return mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' byte range (%llu) does not match its shape and dtype (%llu)",
                            st->path, name, (unsigned long long)(en - b), (unsigned long long)(numel * mv_dtype_size(t->dtype)));
    t->numel = (int64_t)numel;
    t->data = data + b;
    t->nbytes = (size_t)(en - b);
    return MV_OK;
}

static mv_status parse_header(mv_safetensors *st, const char *hdr, size_t hlen, const char *data,
                              uint64_t data_len, mv_error *err) {
    cJSON *root = cJSON_ParseWithLength(hdr, hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: header is not a JSON object", st->path);
    }
    size_t count = (size_t)cJSON_GetArraySize(root);
    st->tensors = calloc(count ? count : 1, sizeof *st->tensors);
    mv_tensor **order = calloc(count ? count : 1, sizeof *order);
    mv_status rc = (st->tensors && order) ? MV_OK : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    for (cJSON *e = root->child; e && rc == MV_OK; e = e->next) {
        if (!e->string) { rc = mv_set_error(err, MV_ERR_FORMAT, "%s: header entry without a name", st->path); break; }
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) rc = mv_set_error(err, MV_ERR_FORMAT, "%s: __metadata__ is not an object", st->path);
            continue;
        }
        rc = parse_entry(st, e, data, data_len, &st->tensors[st->n], err);
        if (rc == MV_OK) { order[st->n] = &st->tensors[st->n]; st->n++; }
    }
    if (rc == MV_OK) { /* sorted by start: each range must end before the next begins */
        qsort(order, st->n, sizeof *order, cmp_range);
        for (size_t i = 1; i < st->n; i++) {
            const char *prev_end = (const char *)order[i - 1]->data + order[i - 1]->nbytes;
            if (order[i]->nbytes && prev_end > (const char *)order[i]->data)
                rc = mv_set_error(err, MV_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", st->path, order[i - 1]->name, order[i]->name);
        }
        for (size_t i = 0; i < st->n && rc == MV_OK; i++)
            for (size_t j = i + 1; j < st->n && rc == MV_OK; j++)
                if (strcmp(st->tensors[i].name, st->tensors[j].name) == 0)
                    rc = mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' appears twice", st->path, st->tensors[i].name);
    }
    free(order);
    if (rc != MV_OK) { cJSON_Delete(root); return rc; }
    st->metadata = root; /* tensor names point into it */
    return MV_OK;
}

mv_status mv_st_open(const char *path, mv_safetensors **out, mv_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mv_set_error(err, MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mv_set_error(err, MV_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes, no header)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return mv_set_error(err, MV_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    mv_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        munmap(map, size);
        free(st);
        return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    }
    st->map = map;
    st->map_size = size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | ((const uint8_t *)map)[i];
    mv_status rc;
    if (hlen > size - 8)
        rc = mv_set_error(err, MV_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes): truncated or not safetensors",
                          path, (unsigned long long)hlen, size);
    else if (hlen > MV_ST_MAX_HEADER)
        rc = mv_set_error(err, MV_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", path, (unsigned long long)hlen);
    else
        rc = parse_header(st, (const char *)map + 8, (size_t)hlen, (const char *)map + 8 + hlen, size - 8 - hlen, err);
    if (rc != MV_OK) { mv_st_close(st); return rc; }
    *out = st;
    return MV_OK;
}

void mv_st_close(mv_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_size);
    cJSON_Delete(st->metadata);
    free(st->tensors);
    free(st->path);
    free(st);
}

size_t mv_st_count(const mv_safetensors *st) { return st->n; }
const mv_tensor *mv_st_at(const mv_safetensors *st, size_t i) { return i < st->n ? &st->tensors[i] : NULL; }

const mv_tensor *mv_st_find(const mv_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *mv_st_metadata(const mv_safetensors *st, const char *key) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(st->metadata, "__metadata__");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------------------ shard sets */

struct mv_weights {
    mv_safetensors **files;
    size_t n_files;
    const mv_tensor **sorted; /* by name, for bsearch */
    size_t n;
    size_t bytes;
};

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const mv_tensor *const *)a)->name, (*(const mv_tensor *const *)b)->name);
}

static mv_status add_file(mv_weights *w, const char *path, mv_error *err) {
    mv_safetensors **grown = realloc(w->files, (w->n_files + 1) * sizeof *grown);
    if (!grown) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    w->files = grown;
    mv_status rc = mv_st_open(path, &w->files[w->n_files], err);
    if (rc == MV_OK) w->n_files++;
    return rc;
}

static int contains_str(char **list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

static mv_status open_index(mv_weights *w, const char *dir, const char *index_path, mv_error *err) {
    size_t len;
    char *text = mv_read_file(index_path, 64u << 20, &len, err);
    if (!text) return err ? err->code : MV_ERR_IO;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return mv_set_error(err, MV_ERR_FORMAT, "%s: not JSON with a \"weight_map\" object", index_path);
    }
    char **names = NULL;
    size_t n_names = 0;
    mv_status rc = MV_OK;
    for (const cJSON *e = map->child; e && rc == MV_OK; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || strstr(e->valuestring, ".."))
            rc = mv_set_error(err, MV_ERR_FORMAT, "%s: weight_map entry '%s' is not a plain file name", index_path, e->string ? e->string : "?");
        else if (!contains_str(names, n_names, e->valuestring)) {
            char **g = realloc(names, (n_names + 1) * sizeof *g);
            if (!g) { rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory"); break; }
            names = g;
            names[n_names++] = e->valuestring;
        }
    }
    for (size_t i = 0; i < n_names && rc == MV_OK; i++) {
        char *p = mv_path_join(dir, names[i]);
        rc = p ? add_file(w, p, err) : mv_set_error(err, MV_ERR_NOMEM, "out of memory");
        free(p);
    }
    /* Every tensor the index names must be in the shard it names. */
    for (const cJSON *e = map->child; e && rc == MV_OK; e = e->next) {
        int found = 0;
        for (size_t i = 0; i < w->n_files && !found; i++) {
            const mv_tensor *t = mv_st_find(w->files[i], e->string);
            found = t != NULL;
        }
        if (!found) rc = mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' is listed but missing from %s", index_path, e->string, e->valuestring);
    }
    free(names);
    cJSON_Delete(root);
    return rc;
}

mv_status mv_weights_open_dir(const char *dir, mv_weights **out, mv_error *err) {
    *out = NULL;
    mv_weights *w = calloc(1, sizeof *w);
    if (!w) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    char *single = mv_path_join(dir, "model.safetensors");
    char *index = mv_path_join(dir, "model.safetensors.index.json");
    mv_status rc;
    if (!single || !index) rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    else if (access(single, F_OK) == 0) rc = add_file(w, single, err);
    else if (access(index, F_OK) == 0) rc = open_index(w, dir, index, err);
    else rc = mv_set_error(err, MV_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
    for (size_t i = 0; i < w->n_files && rc == MV_OK; i++) w->n += mv_st_count(w->files[i]);
    if (rc == MV_OK && !(w->sorted = malloc((w->n ? w->n : 1) * sizeof *w->sorted)))
        rc = mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    if (rc == MV_OK) {
        size_t k = 0;
        for (size_t i = 0; i < w->n_files; i++)
            for (size_t j = 0; j < mv_st_count(w->files[i]); j++) {
                w->sorted[k] = mv_st_at(w->files[i], j);
                w->bytes += w->sorted[k]->nbytes;
                k++;
            }
        qsort(w->sorted, w->n, sizeof *w->sorted, cmp_tensor_name);
        for (size_t i = 1; i < w->n && rc == MV_OK; i++)
            if (strcmp(w->sorted[i - 1]->name, w->sorted[i]->name) == 0)
                rc = mv_set_error(err, MV_ERR_FORMAT, "%s: tensor '%s' appears in two shards", dir, w->sorted[i]->name);
    }
    if (rc != MV_OK) { mv_weights_close(w); return rc; }
    *out = w;
    return MV_OK;
}

void mv_weights_close(mv_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_files; i++) mv_st_close(w->files[i]);
    free(w->files);
    free(w->sorted);
    free(w);
}

const mv_tensor *mv_weights_find(const mv_weights *w, const char *name) {
    mv_tensor key = { .name = name };
    const mv_tensor *kp = &key;
    const mv_tensor **hit = bsearch(&kp, w->sorted, w->n, sizeof *w->sorted, cmp_tensor_name);
    return hit ? *hit : NULL;
}

size_t mv_weights_count(const mv_weights *w) { return w->n; }
const mv_tensor *mv_weights_at(const mv_weights *w, size_t i) { return i < w->n ? w->sorted[i] : NULL; }
size_t mv_weights_bytes(const mv_weights *w) { return w->bytes; }

size_t mv_weights_release(const mv_weights *w, const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = (uintptr_t)p, hi = lo + n;
    for (size_t i = 0; w && page && i < w->n_files; i++) {
        const uintptr_t map = (uintptr_t)w->files[i]->map, end = map + w->files[i]->map_size;
        if (lo < map || hi > end || hi < lo) continue;
        /* whole pages inside the range only: the neighbours' bytes stay where they are */
        const uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page;
        return b > a && madvise((void *)a, b - a, MADV_DONTNEED) == 0 ? b - a : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ writer */

typedef struct stw_entry {
    char *name;
    mv_dtype dtype;
    int ndim;
    int64_t shape[MV_MAX_DIMS];
    size_t nbytes;
    const void *data;
    mv_stw_gen_fn gen;
    void *user;
} stw_entry;

struct mv_st_writer {
    stw_entry *e;
    size_t n;
    cJSON *metadata;
};

mv_st_writer *mv_stw_new(void) { return calloc(1, sizeof(mv_st_writer)); }

static mv_status stw_push(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim, const int64_t *shape,
                          const void *data, mv_stw_gen_fn gen, void *user, mv_error *err) {
    if ((unsigned)dtype >= MV_DTYPE_COUNT || ndim < 0 || ndim > MV_MAX_DIMS)
        return mv_set_error(err, MV_ERR_ARG, "safetensors writer: bad dtype or rank for '%s'", name);
    stw_entry *g = realloc(w->e, (w->n + 1) * sizeof *g);
    if (!g) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    w->e = g;
    stw_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) { e->shape[i] = shape[i]; numel *= (size_t)shape[i]; }
    e->nbytes = numel * mv_dtype_size(dtype);
    e->data = data;
    e->gen = gen;
    e->user = user;
    w->n++;
    return MV_OK;
}

mv_status mv_stw_add(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, mv_error *err) {
    return stw_push(w, name, dtype, ndim, shape, data, NULL, NULL, err);
}

mv_status mv_stw_add_generated(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim,
                               const int64_t *shape, mv_stw_gen_fn gen, void *user, mv_error *err) {
    return stw_push(w, name, dtype, ndim, shape, NULL, gen, user, err);
}

mv_status mv_stw_set_metadata(mv_st_writer *w, const char *key, const char *value, mv_error *err) {
    if (!w->metadata && !(w->metadata = cJSON_CreateObject())) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(w->metadata, key);
    if (!cJSON_AddStringToObject(w->metadata, key, value)) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const stw_entry *)a)->name, ((const stw_entry *)b)->name);
}

static cJSON *build_header(mv_st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    size_t off = 0;
    for (size_t i = 0; root && i < w->n; i++) {
        stw_entry *e = &w->e[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        if (!t || !shape || !offs) { cJSON_Delete(shape); cJSON_Delete(offs); cJSON_Delete(root); return NULL; }
        cJSON_AddStringToObject(t, "dtype", mv_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON_AddItemToObject(t, "shape", shape);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + e->nbytes)));
        cJSON_AddItemToObject(t, "data_offsets", offs);
        off += e->nbytes;
    }
    if (!root) return NULL;
    cJSON *meta = w->metadata ? cJSON_Duplicate(w->metadata, 1) : cJSON_CreateObject();
    if (meta && !w->metadata) cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddItemToObject(root, "__metadata__", meta);
    return root;
}

mv_status mv_stw_write(mv_st_writer *w, const char *path, mv_error *err) {
    qsort(w->e, w->n, sizeof *w->e, cmp_entry);
    for (size_t i = 1; i < w->n; i++)
        if (strcmp(w->e[i - 1].name, w->e[i].name) == 0)
            return mv_set_error(err, MV_ERR_ARG, "safetensors writer: duplicate tensor '%s'", w->e[i].name);
    cJSON *root = build_header(w);
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    size_t jlen = strlen(json), padded = (jlen + 7) & ~(size_t)7;
    FILE *f = fopen(path, "wb");
    if (!f) { free(json); return mv_set_error(err, MV_ERR_IO, "%s: cannot create: %s", path, strerror(errno)); }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(json, 1, jlen, f) == jlen;
    for (size_t i = jlen; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    free(json);
    enum { CHUNK = 1 << 22 };
    uint8_t *buf = ok ? malloc(CHUNK) : NULL;
    ok = ok && buf;
    for (size_t i = 0; i < w->n && ok; i++) {
        stw_entry *e = &w->e[i];
        if (!e->gen) { ok = fwrite(e->data, 1, e->nbytes, f) == e->nbytes; continue; }
        for (size_t off = 0; off < e->nbytes && ok; off += CHUNK) {
            size_t len = e->nbytes - off < CHUNK ? e->nbytes - off : CHUNK;
            e->gen(e->user, e->name, off, buf, len);
            ok = fwrite(buf, 1, len, f) == len;
        }
    }
    free(buf);
    if (fclose(f) != 0) ok = 0;
    if (!ok) { remove(path); return mv_set_error(err, MV_ERR_IO, "%s: write failed: %s", path, strerror(errno)); }
    return MV_OK;
}

void mv_stw_free(mv_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    cJSON_Delete(w->metadata);
    free(w);
}
