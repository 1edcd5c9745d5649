/* test_tok_golden.c — every golden.jsonl case through the `minivl tokenize --jsonl` binary: the ids
 * must equal HF tokenizers' and decoding them must give the golden "decoded" text, byte for byte.
 * Runs Qwen2 from tokenizer.json and from vocab.json + merges.txt + tokenizer_config.json only, and the
 * Phi-2 (GPT-2 regex, whitespace added tokens) tokenizer.json as a second byte-level vocabulary, and the
 * SentencePiece models (tokenizer.model + tokenizer_config.json, slow-tokenizer behaviour): InternLM2,
 * Phi-3 (Llama 2 model, legacy=False) and Chinese-Alpaca (InternVL-C, legacy); and the byte-level
 * tokenizers on the Unicode regressions in tests/text/data. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "jsonl.h"
#include "testutil.h"

/* ids array of a JSON line; n = -1 when absent/malformed */
static int32_t *line_ids(const char *line, size_t len, long *n) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "ids"), *v;
    int32_t *ids = NULL;
    *n = -1;
    if (cJSON_IsArray(a)) {
        ids = malloc(((size_t)cJSON_GetArraySize(a) + 1) * sizeof *ids);
        *n = 0;
        cJSON_ArrayForEach(v, a) ids[(*n)++] = cJSON_IsNumber(v) ? (int32_t)v->valuedouble : -1;
    }
    cJSON_Delete(j);
    return ids;
}

static const char *next_line(const char **p, const char *end, size_t *len) {
    if (*p >= end) return NULL;
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    *len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    return s;
}

static void run_golden(const char *name, const char *dir, const char *golden, int expect_cases) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/minivl' tokenize -m '%s' --jsonl < '%s'", MV_BUILD_DIR, dir, golden);
    char *out = NULL;
    int rc = mvt_run(cmd, &out);
    CHECK(rc == 0, "%s: exit status %d", name, rc);
    size_t glen = 0;
    char *gold = mv_read_file(golden, 1 << 26, &glen, NULL);
    CHECK(gold && out, "%s: no golden or no output", name);
    if (!gold || !out) { free(gold); free(out); return; }
    const char *gp = gold, *gend = gold + glen, *op = out, *oend = out + strlen(out), *gl, *ol;
    size_t gn, on;
    int cases = 0, enc_ok = 0, dec_ok = 0;
    while ((gl = next_line(&gp, gend, &gn)) != NULL) {
        if (gn == 0) continue;
        cases++;
        ol = next_line(&op, oend, &on);
        if (!ol) { CHECK(0, "%s: output ends at case %d", name, cases); break; }
        long ng, no;
        int32_t *ig = line_ids(gl, gn, &ng), *io = line_ids(ol, on, &no);
        int enc = ng >= 0 && ng == no && (ng == 0 || memcmp(ig, io, (size_t)ng * sizeof *ig) == 0);
        char *dg = NULL, *dout = NULL;
        size_t ndg = 0, ndo = 0;
        const char *why = NULL;
        int dec = mv_jsonl_get_string(gl, gn, "decoded", &dg, &ndg, &why) == 0 &&
                  mv_jsonl_get_string(ol, on, "decoded", &dout, &ndo, &why) == 0 && ndg == ndo &&
                  memcmp(dg, dout, ndg) == 0;
        enc_ok += enc;
        dec_ok += dec;
        if (!enc || !dec) fprintf(stderr, "%s: case %d differs:\n  golden %.*s\n  got    %.*s\n", name, cases,
                                  (int)(gn > 300 ? 300 : gn), gl, (int)(on > 300 ? 300 : on), ol);
        free(ig);
        free(io);
        free(dg);
        free(dout);
    }
    printf("%s: %d cases, encode ids equal %d/%d, decode equal %d/%d\n", name, cases, enc_ok, cases, dec_ok, cases);
    CHECK(cases == expect_cases, "%s: %d cases, expected %d", name, cases, expect_cases);
    CHECK(enc_ok == cases && dec_ok == cases, "%s: not all cases equal", name);
    CHECK(next_line(&op, oend, &on) == NULL, "%s: extra output lines", name);
    free(gold);
    free(out);
}

/* A directory holding only the slow-tokenizer files (symlinks to the shared ones). */
static const char *slow_dir(const char *src) {
    static char dir[2048];
    snprintf(dir, sizeof dir, "%s", mvt_build("tests/text/qwen2_slow_files"));
    mkdir(dir, 0755);
    const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (size_t i = 0; i < 3; i++) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%s", src, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        unlink(to);
        CHECK(symlink(from, to) == 0, "symlink %s", to);
    }
    return dir;
}

int main(void) {
    char qwen[2048], qwen_gold[2048], phi2[2048], phi2_gold[2048];
    snprintf(qwen, sizeof qwen, "%s", mvt_shared("tokenizers/qwen2-internvl2-1b"));
    snprintf(qwen_gold, sizeof qwen_gold, "%s", mvt_shared("tokenizers/qwen2-internvl2-1b/golden.jsonl"));
    snprintf(phi2, sizeof phi2, "%s", mvt_shared("tokenizers/phi2-mipha-3b"));
    snprintf(phi2_gold, sizeof phi2_gold, "%s", mvt_shared("tokenizers/phi2-mipha-3b/golden.jsonl"));
    run_golden("qwen2 tokenizer.json", qwen, qwen_gold, 390);
    run_golden("qwen2 vocab.json+merges.txt", slow_dir(qwen), qwen_gold, 390);
    run_golden("phi2 tokenizer.json", phi2, phi2_gold, 297);
    /* Cases a differential sweep against HF tokenizers 0.23.2 found (ids and decoded from it): letters
     * and numbers of Unicode 15-16 (PCRE2's tables are Unicode 14), U+11A7 after a Hangul syllable
     * (utf8proc dropped it), the Dives Akuru pair the reference does not compose. */
    run_golden("qwen2 Unicode regressions", qwen, mvt_source("tests/text/data/qwen2_unicode_regressions.jsonl"), 8);
    run_golden("phi2 Unicode regressions", phi2, mvt_source("tests/text/data/phi2_unicode_regressions.jsonl"), 8);
    static const struct { const char *dir; int cases; } spm[] = {
        {"internlm2-internvl2-2b", 432}, {"phi3-internvl2-4b", 433}, {"chinese-alpaca-internvl-c", 112}};
    for (size_t i = 0; i < sizeof spm / sizeof *spm; i++) {
        char dir[2048], gold[2200], name[300], rel[256];
        snprintf(rel, sizeof rel, "tokenizers/%s", spm[i].dir);
        snprintf(dir, sizeof dir, "%s", mvt_shared(rel));
        snprintf(gold, sizeof gold, "%s/golden.jsonl", dir);
        snprintf(name, sizeof name, "%s tokenizer.model", spm[i].dir);
        run_golden(name, dir, gold, spm[i].cases);
    }
    return mvt_done("test_tok_golden");
}
