/* test_preprocess_golden.c — InternVL dynamic preprocessing against the upstream goldens:
 *  - every images/<img>_max<N>.json: grid and tile count; its tiles_u8 bit-exact (PNG decode + PIL
 *    bicubic resize + crop + thumbnail);
 *  - tiny-internvl-c pixel_values (resize shorter side to 224 + centre crop + ImageNet normalise),
 *    bit-exact for chelsea, astronaut and the greyscale cell.png;
 *  - tiny-mipha pixel_u8 (expand2square with grey 127 + resize to 384), bit-exact;
 *  - mv_tiles_normalize bit-exact against the formula evaluated step by step. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "io/image.h"
#include "testutil.h"
#include "vision/preprocess.h"

static int count_diff(const uint8_t *a, const uint8_t *b, size_t n, size_t *first) {
    int d = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            if (!d) *first = i;
            d++;
        }
    return d;
}

static int json_int_at(const cJSON *obj, const char *key, int idx) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    const cJSON *v = idx < 0 ? a : cJSON_GetArrayItem(a, idx);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* Normalisation checked element by element against the formula with explicit float temporaries. */
static void check_normalize(const mv_tiles *t) {
    size_t per = (size_t)3 * t->size * t->size;
    float *pv = malloc(sizeof(float) * per * t->count);
    mv_tiles_normalize(t, pv);
    size_t bad = 0;
    for (int i = 0; i < t->count; i++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < t->size * t->size; p++) {
                float x = (float)t->rgb[per * i + (size_t)p * 3 + c];
                float scaled = x / 255.0f;
                float centred = scaled - mv_imagenet_mean[c];
                float ref = centred / mv_imagenet_std[c];
                float got = pv[per * i + (size_t)c * t->size * t->size + p];
                if (memcmp(&got, &ref, sizeof ref) != 0) bad++;
            }
    CHECK(bad == 0, "%zu normalised values differ from the formula", bad);
    free(pv);
}

static void check_json(const char *dir, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "golden/images/%s", name);
    mv_error err = {0};
    size_t len;
    char *text = mv_read_file(mvt_shared(rel), 1 << 20, &len, &err);
    CHECK(text, "%s: %s", name, err.message);
    if (!text) return;
    cJSON *j = cJSON_Parse(text);
    free(text);
    CHECK(j, "%s: bad JSON", name);
    if (!j) return;
    const cJSON *img_rel = cJSON_GetObjectItemCaseSensitive(j, "image");
    const cJSON *pv_rel = cJSON_GetObjectItemCaseSensitive(j, "pixel_values_file");
    int max_num = json_int_at(j, "max_num", -1);
    int want_cols = json_int_at(j, "grid_cols_rows", 0), want_rows = json_int_at(j, "grid_cols_rows", 1);
    int want_count = json_int_at(j, "num_tiles_incl_thumbnail", -1);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, cJSON_GetStringValue(img_rel));
    mv_image *img = NULL;
    mv_tiles t = {0};
    if (mv_image_load_file(path, 0, &img, &err) != MV_OK) {
        CHECK(0, "%s: %s", name, err.message);
        goto out;
    }
    CHECK(mv_image_width(img) == json_int_at(j, "size", 0) && mv_image_height(img) == json_int_at(j, "size", 1),
          "%s: size %dx%d", name, mv_image_width(img), mv_image_height(img));
    if (mv_preprocess(img, 448, 1, max_num, 1, &t, &err) != MV_OK) {
        CHECK(0, "%s: %s", name, err.message);
        goto out;
    }
    CHECK(t.cols == want_cols && t.rows == want_rows && t.count == want_count, "%s: grid %dx%d (%d tiles), want %dx%d (%d)",
          name, t.cols, t.rows, t.count, want_cols, want_rows, want_count);
    printf("%s: grid %dx%d, %d tiles\n", name, t.cols, t.rows, t.count);
    if (cJSON_IsString(pv_rel)) {
        snprintf(path, sizeof path, "%s/%s", dir, pv_rel->valuestring);
        mv_safetensors *st = NULL;
        if (mv_st_open(path, &st, &err) != MV_OK) {
            CHECK(0, "%s: %s", name, err.message);
            goto out;
        }
        const mv_tensor *ref = mv_st_find(st, "tiles_u8");
        CHECK(ref && ref->dtype == MV_U8 && ref->ndim == 4 && ref->shape[0] == t.count && ref->shape[1] == 448,
              "%s: tiles_u8 missing or wrong shape", name);
        if (ref && ref->nbytes == (size_t)t.count * 448 * 448 * 3) {
            size_t first = 0;
            int d = count_diff(t.rgb, ref->data, ref->nbytes, &first);
            CHECK(d == 0, "%s: %d tile bytes differ, first at %zu (tile %zu): %d vs %d", name, d, first,
                  first / (448 * 448 * 3), t.rgb[first], ((const uint8_t *)ref->data)[first]);
        }
        mv_st_close(st);
    }
    check_normalize(&t);
out:
    mv_tiles_free(&t);
    mv_image_free(img);
    cJSON_Delete(j);
}

/* Python round(n / 2.0) for n >= 0: halves go to the even neighbour. */
static int half_even_half(int n) {
    int q = n / 2;
    return (n % 2 == 0 || q % 2 == 0) ? q : q + 1;
}

/* torchvision Resize(224) (shorter side) + CenterCrop(224) + Normalize, as in build_transform. */
static void check_internvl_c(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/images/%s.png", name);
    mv_error err = {0};
    mv_image *img = NULL;
    if (mv_image_load_file(mvt_shared(rel), 0, &img, &err) != MV_OK) {
        CHECK(0, "%s: %s", name, err.message);
        return;
    }
    int w = mv_image_width(img), h = mv_image_height(img), rw, rh;
    if (w <= h) {
        rw = 224;
        rh = (int)(224.0 * h / w);
    } else {
        rh = 224;
        rw = (int)(224.0 * w / h);
    }
    uint8_t *rs = malloc((size_t)rw * rh * 3), *crop = malloc(224 * 224 * 3);
    float *pv = malloc(sizeof(float) * 3 * 224 * 224);
    CHECK(mv_resize_bicubic(mv_image_rgb(img), w, h, rs, rw, rh, &err) == MV_OK, "%s", err.message);
    int top = half_even_half(rh - 224), left = half_even_half(rw - 224);
    for (int y = 0; y < 224; y++) memcpy(crop + y * 224 * 3, rs + ((size_t)(y + top) * rw + left) * 3, 224 * 3);
    mv_normalize_rgb(crop, 224, 224, mv_imagenet_mean, mv_imagenet_std, pv);
    snprintf(rel, sizeof rel, "golden/tiny-internvl-c/img_%s.safetensors", name);
    mv_safetensors *st = NULL;
    if (mv_st_open(mvt_shared(rel), &st, &err) == MV_OK) {
        size_t n = 0;
        float *ref = mvt_tensor_f32(st, "pixel_values", &n);
        CHECK(n == 3 * 224 * 224, "%s: pixel_values size %zu", name, n);
        if (ref && n == 3 * 224 * 224) {
            size_t first = 0;
            int d = count_diff((const uint8_t *)pv, (const uint8_t *)ref, n * sizeof(float), &first);
            CHECK(d == 0, "%s: InternVL-C pixel_values differ (%d bytes, first float %zu)", name, d, first / 4);
        }
        free(ref);
        mv_st_close(st);
    } else {
        CHECK(0, "%s: %s", name, err.message);
    }
    printf("internvl-c %s: %dx%d -> %dx%d crop (%d,%d)\n", name, w, h, rw, rh, left, top);
    free(rs);
    free(crop);
    free(pv);
    mv_image_free(img);
}

/* Mipha: expand2square on grey (127,127,127), then resize to 384x384. */
static void check_mipha(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/images/%s.png", name);
    mv_error err = {0};
    mv_image *img = NULL;
    if (mv_image_load_file(mvt_shared(rel), 0, &img, &err) != MV_OK) {
        CHECK(0, "%s: %s", name, err.message);
        return;
    }
    int w = mv_image_width(img), h = mv_image_height(img), s = w > h ? w : h;
    uint8_t *sq = malloc((size_t)s * s * 3), *out = malloc(384 * 384 * 3);
    memset(sq, 127, (size_t)s * s * 3);
    int ox = (s - w) / 2, oy = (s - h) / 2;
    for (int y = 0; y < h; y++)
        memcpy(sq + ((size_t)(y + oy) * s + ox) * 3, mv_image_rgb(img) + (size_t)y * w * 3, (size_t)w * 3);
    CHECK(mv_resize_bicubic(sq, s, s, out, 384, 384, &err) == MV_OK, "%s", err.message);
    snprintf(rel, sizeof rel, "golden/tiny-mipha/img_%s.safetensors", name);
    mv_safetensors *st = NULL;
    if (mv_st_open(mvt_shared(rel), &st, &err) == MV_OK) {
        const mv_tensor *ref = mv_st_find(st, "pixel_u8");
        CHECK(ref && ref->nbytes == 384 * 384 * 3, "%s: pixel_u8 missing", name);
        if (ref && ref->nbytes == 384 * 384 * 3) {
            size_t first = 0;
            int d = count_diff(out, ref->data, ref->nbytes, &first);
            CHECK(d == 0, "%s: mipha pixel_u8: %d bytes differ, first %zu", name, d, first);
        }
        mv_st_close(st);
    } else {
        CHECK(0, "%s: %s", name, err.message);
    }
    free(sq);
    free(out);
    mv_image_free(img);
}

int main(void) {
    const char *dir = mvt_shared("golden");
    char images[900];
    snprintf(images, sizeof images, "%s/images", dir);
    char golden[900];
    snprintf(golden, sizeof golden, "%s", dir);
    DIR *d = opendir(images);
    CHECK(d, "cannot open %s", images);
    int n_json = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
                check_json(golden, e->d_name);
                n_json++;
            }
        }
        closedir(d);
    }
    CHECK(n_json >= 4, "only %d grid files found", n_json);
    check_internvl_c("chelsea");
    check_internvl_c("astronaut");
    check_internvl_c("cell");
    check_mipha("chelsea");
    check_mipha("astronaut");
    return mvt_done("test_preprocess_golden");
}
