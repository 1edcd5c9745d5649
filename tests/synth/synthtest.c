/* synthtest.c — helpers shared by the synth tests. */
#include "synthtest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static cJSON *load_manifest(const char *case_name) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/%s/manifest.json", case_name);
    FILE *f = fopen(mvt_shared(rel), "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 22);
    size_t n = buf ? fread(buf, 1, (1 << 22) - 1, f) : 0;
    fclose(f);
    cJSON *root = buf ? cJSON_ParseWithLength(buf, n) : NULL;
    free(buf);
    return root;
}

int synth_manifest_str(const char *case_name, const char *key, char *out, size_t cap) {
    cJSON *root = load_manifest(case_name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    int ok = cJSON_IsString(v) && strlen(v->valuestring) < cap;
    if (ok) strcpy(out, v->valuestring);
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

int synth_manifest_u64(const char *case_name, const char *key, uint64_t *out) {
    cJSON *root = load_manifest(case_name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    int ok = cJSON_IsNumber(v) && v->valuedouble >= 0;
    if (ok) *out = (uint64_t)v->valuedouble;
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

int synth_files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    static char ba[1 << 16], bb[1 << 16];
    while (same) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        same = na == nb && memcmp(ba, bb, na) == 0;
        if (na == 0) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}
