/* End to end through the `minivl` command, against one golden prompt of one case:
 *   test_golden_e2e MODEL_DIR CASE PROMPT ATOL RTOL MARGIN
 * runs `minivl run --json --dump-tensors` with the prompt's images and question and checks input ids,
 * tile grids, pixel_values (bit-exact), vit_embeds and logits_last (|d| <= atol + rtol|ref|), and the
 * greedy ids up to the first step whose golden top-2 margin is below MARGIN. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "testutil.h"

static const cJSON *find_prompt(const cJSON *manifest, const char *name) {
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(manifest, "prompts"))
        if (strcmp(cJSON_GetObjectItem(p, "prompt")->valuestring, name) == 0) return p;
    return NULL;
}

/* pixel_values must equal ((float)u8/255 - mean)/std, channel-first, bit for bit. */
static void check_pixels(const mv_safetensors *dump, const char *image, size_t *offset) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/images/%s_max12.safetensors", image);
    mv_safetensors *g = NULL;
    mv_error err;
    if (mv_st_open(mvt_shared(rel), &g, &err) != MV_OK) { CHECK(0, "%s", err.message); return; }
    const mv_tensor *u8 = mv_st_find(g, "tiles_u8"), *pv = mv_st_find(dump, "pixel_values");
    CHECK(u8 && pv, "tiles_u8 / pixel_values present");
    if (u8 && pv) {
        const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
        int64_t T = u8->shape[0], S = u8->shape[1];
        const uint8_t *src = u8->data;
        const float *got = (const float *)pv->data + *offset;
        size_t bad = 0;
        for (int64_t t = 0; t < T; t++)
            for (int c = 0; c < 3; c++)
                for (int64_t i = 0; i < S * S; i++) {
                    float want = ((float)src[(t * S * S + i) * 3 + c] / 255.0f - mean[c]) / std[c];
                    float have = got[(t * 3 + c) * S * S + i];
                    bad += memcmp(&want, &have, sizeof want) != 0;
                }
        CHECK(bad == 0, "%s: %zu pixel_values differ from the golden tiles", image, bad);
        if (!bad) printf("%s: pixel_values bit-exact (%lld tiles)\n", image, (long long)T);
        *offset += (size_t)(T * 3 * S * S);
    }
    mv_st_close(g);
}

static void check_ids(const cJSON *got, const int64_t *want, size_t n, const char *what) {
    int size = cJSON_GetArraySize(got);
    size_t same = 0;
    while (same < n && same < (size_t)size && (int64_t)cJSON_GetArrayItem(got, (int)same)->valuedouble == want[same]) same++;
    CHECK((size_t)size == n && same == n, "%s: %d ids, %zu golden, first difference at %zu", what, size, n, same);
    if (same == n && (size_t)size == n) printf("%s: %zu ids identical\n", what, n);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: %s MODEL_DIR CASE PROMPT ATOL RTOL MARGIN\n", argv[0]); return 2; }
    const char *model = argv[1], *case_name = argv[2], *prompt_name = argv[3];
    double atol = atof(argv[4]), rtol = atof(argv[5]), margin = atof(argv[6]);
    char rel[512], cmd[8192], dump_path[512];
    mv_error err = { 0 };
    snprintf(rel, sizeof rel, "golden/%s/manifest.json", case_name);
    size_t len;
    char *mtext = mv_read_file(mvt_shared(rel), 1 << 26, &len, &err);
    CHECK(mtext, "%s", err.message);
    if (!mtext) return mvt_done("test_golden_e2e");
    cJSON *manifest = cJSON_ParseWithLength(mtext, len);
    const cJSON *p = find_prompt(manifest, prompt_name);
    CHECK(p, "prompt %s in manifest", prompt_name);
    if (!p) return mvt_done("test_golden_e2e");

    snprintf(dump_path, sizeof dump_path, "%s/e2e-%s-%s.safetensors", MV_BUILD_DIR, case_name, prompt_name);
    int n = snprintf(cmd, sizeof cmd, "'%s/minivl' run -m '%s' -t 2 -n 16 --ignore-eos --json --dump-tensors '%s'",
                     MV_BUILD_DIR, model, dump_path);
    const cJSON *img;
    cJSON_ArrayForEach(img, cJSON_GetObjectItem(p, "images")) {
        snprintf(rel, sizeof rel, "golden/images/%s.png", img->valuestring);
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " -i '%s'", mvt_shared(rel));
    }
    snprintf(cmd + n, sizeof cmd - (size_t)n, " -p '%s'", cJSON_GetObjectItem(p, "question")->valuestring);
    char *out = NULL;
    int status = mvt_run(cmd, &out);
    CHECK(status == 0, "minivl run exited %d", status);
    cJSON *res = cJSON_Parse(out ? out : "");
    CHECK(res, "minivl run printed JSON: %.200s", out ? out : "");
    snprintf(rel, sizeof rel, "golden/%s/%s.safetensors", case_name, prompt_name);
    mv_safetensors *gold = NULL, *dump = NULL;
    CHECK_OK(mv_st_open(mvt_shared(rel), &gold, &err), &err);
    if (res && mv_st_open(dump_path, &dump, &err) == MV_OK) {
        size_t n_ids, n_gen, n_margin;
        int64_t *ids = mvt_tensor_i64(gold, "input_ids", &n_ids);
        check_ids(cJSON_GetObjectItem(res, "input_ids"), ids, n_ids, "input_ids");
        /* tile grids */
        const cJSON *grids = cJSON_GetObjectItem(p, "grids_cols_rows"), *counts = cJSON_GetObjectItem(p, "num_patches_list");
        const cJSON *tiles = cJSON_GetObjectItem(res, "tiles");
        CHECK(cJSON_GetArraySize(tiles) == cJSON_GetArraySize(counts), "tile entries per image");
        for (int i = 0; i < cJSON_GetArraySize(tiles) && i < cJSON_GetArraySize(counts); i++) {
            const cJSON *t = cJSON_GetArrayItem(tiles, i), *g = cJSON_GetArrayItem(grids, i);
            CHECK(cJSON_GetObjectItem(t, "cols")->valueint == cJSON_GetArrayItem(g, 0)->valueint &&
                  cJSON_GetObjectItem(t, "rows")->valueint == cJSON_GetArrayItem(g, 1)->valueint &&
                  cJSON_GetObjectItem(t, "count")->valueint == cJSON_GetArrayItem(counts, i)->valueint, "image %d grid", i);
        }
        size_t pix_off = 0;
        cJSON_ArrayForEach(img, cJSON_GetObjectItem(p, "images")) check_pixels(dump, img->valuestring, &pix_off);
        size_t nv = 0, nv_ref = 0, nl, nl_ref;
        if (mv_st_find(gold, "vit_embeds")) {
            float *ve = mvt_tensor_f32(dump, "vit_embeds", &nv), *ve_ref = mvt_tensor_f32(gold, "vit_embeds", &nv_ref);
            CHECK(ve && nv == nv_ref, "vit_embeds sizes %zu vs %zu", nv, nv_ref);
            if (ve && nv == nv_ref) mvt_allclose("vit_embeds", ve, ve_ref, nv, atol, rtol);
            free(ve);
            free(ve_ref);
        }
        float *lg = mvt_tensor_f32(dump, "logits_last", &nl), *lg_ref = mvt_tensor_f32(gold, "logits_last", &nl_ref);
        CHECK(lg && nl == nl_ref, "logits_last sizes");
        if (lg && nl == nl_ref) mvt_allclose("logits_last", lg, lg_ref, nl, atol, rtol);
        /* greedy ids up to the first near-tie step */
        int64_t *gen = mvt_tensor_i64(gold, "gen_ids", &n_gen);
        float *margins = mvt_tensor_f32(gold, "gen_top2_margin", &n_margin);
        size_t upto = 0;
        while (upto < n_gen && upto < n_margin && margins[upto] >= margin) upto++;
        const cJSON *outs = cJSON_GetObjectItem(res, "output_ids");
        size_t same = 0;
        while (same < upto && (int)same < cJSON_GetArraySize(outs) && (int64_t)cJSON_GetArrayItem(outs, (int)same)->valuedouble == gen[same]) same++;
        CHECK(same >= upto, "greedy ids: %zu equal, %zu required (margin >= %g)", same, upto, margin);
        printf("greedy ids: %zu of %zu equal (%zu before the first margin below %g)\n", same, n_gen, upto, margin);
        free(ids);
        free(gen);
        free(margins);
        free(lg);
        free(lg_ref);
        mv_st_close(dump);
    } else {
        CHECK(0, "dump file: %s", err.message);
    }
    mv_st_close(gold);
    cJSON_Delete(res);
    cJSON_Delete(manifest);
    free(out);
    free(mtext);
    remove(dump_path);
    return mvt_done("test_golden_e2e");
}
