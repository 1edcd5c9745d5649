/* A checkpoint split into model-00001-of-00002.safetensors + model-00002-of-00002.safetensors with
 * model.safetensors.index.json (the hub's layout for larger models) must load and answer exactly as
 * the single-file checkpoint does. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "testutil.h"

static void link_in(const char *dir, const char *src, const char *name) {
    char dst[2048];
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    unlink(dst);
    CHECK(symlink(src, dst) == 0, "link %s", dst);
}

static char *run(const char *dir, const char *dump) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/minivl' run -m '%s' -t 2 -n 6 --ignore-eos --json -i '%s' -p 'What is this?' --dump-tensors '%s'",
             MV_BUILD_DIR, dir, mvt_shared("golden/images/astronaut.png"), dump);
    char *out = NULL;
    CHECK(mvt_run(cmd, &out) == 0, "run on %s failed: %s", dir, out ? out : "");
    return out;
}

int main(void) {
    mv_error err = { 0 };
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/models/tiny-qwen2-sharded", MV_BUILD_DIR);
    mkdir(dir, 0755);
    mv_safetensors *st = NULL;
    CHECK_OK(mv_st_open(mvt_shared("golden/tiny-qwen2/model.safetensors"), &st, &err), &err);
    mv_st_writer *w[2] = { mv_stw_new(), mv_stw_new() };
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    cJSON_AddObjectToObject(index, "metadata");
    const char *shard[2] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    for (size_t i = 0; i < mv_st_count(st); i++) {
        const mv_tensor *t = mv_st_at(st, i);
        int k = strncmp(t->name, "language_model.", 15) == 0; /* vision + projector | language model */
        CHECK_OK(mv_stw_add(w[k], t->name, t->dtype, t->ndim, t->shape, t->data, &err), &err);
        cJSON_AddStringToObject(map, t->name, shard[k]);
    }
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, shard[k]);
        CHECK_OK(mv_stw_write(w[k], path, &err), &err);
        mv_stw_free(w[k]);
    }
    char *json = cJSON_Print(index);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(mvt_write_file(path, json, strlen(json)) == 0, "index");
    free(json);
    cJSON_Delete(index);
    mv_st_close(st);
    link_in(dir, mvt_shared("golden/tiny-qwen2/config.json"), "config.json");
    link_in(dir, mvt_shared("tokenizers/qwen2-internvl2-1b/tokenizer.json"), "tokenizer.json");
    link_in(dir, mvt_shared("tokenizers/qwen2-internvl2-1b/tokenizer_config.json"), "tokenizer_config.json");

    char *a = run(mvt_build("models/tiny-qwen2"), "sharded-a.safetensors");
    char *b = run(dir, "sharded-b.safetensors");
    cJSON *ja = cJSON_Parse(a ? a : ""), *jb = cJSON_Parse(b ? b : "");
    char *ia = cJSON_PrintUnformatted(cJSON_GetObjectItem(ja, "output_ids"));
    char *ib = cJSON_PrintUnformatted(cJSON_GetObjectItem(jb, "output_ids"));
    CHECK(ia && ib && strcmp(ia, ib) == 0, "sharded output ids %s vs single %s", ib ? ib : "?", ia ? ia : "?");
    size_t la, lb;
    char *da = mv_read_file("sharded-a.safetensors", 1u << 30, &la, &err), *db = mv_read_file("sharded-b.safetensors", 1u << 30, &lb, &err);
    CHECK(da && db && la == lb && memcmp(da, db, la) == 0, "sharded and single checkpoints give identical tensors");
    printf("sharded checkpoint: same ids %s and same dumped tensors\n", ia ? ia : "?");
    free(da); free(db); free(ia); free(ib); free(a); free(b);
    cJSON_Delete(ja); cJSON_Delete(jb);
    remove("sharded-a.safetensors");
    remove("sharded-b.safetensors");
    return mvt_done("test_sharded");
}
