/* cmd_synth.c — `minivl synth`: write a SYNTH-1 checkpoint directory for a config.json, optionally with
 * tokenizer files copied next to it, and print each file written with its sha256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minivl.h"

static const char *const tokenizer_files[] = {
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
    "special_tokens_map.json", "generation_config.json", "tokenizer.model",
};

static void usage(void) {
    fprintf(stderr, "usage: minivl synth --config CONFIG.json --out DIR [--tokenizer TOKDIR]\n"
                    "  Writes DIR/config.json and DIR/model.safetensors (SYNTH-1 BF16 weights); with --tokenizer,\n"
                    "  copies the tokenizer files found in TOKDIR into DIR.\n");
}


static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void report(const char *path) {
    char hex[65] = "";
    FILE *f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (f) fclose(f);
    mv_error err;
    if (mv_file_sha256(path, hex, &err) != MV_OK) snprintf(hex, sizeof hex, "(unreadable)");
    printf("wrote %s (%ld bytes) sha256 %s\n", path, size, hex);
}

/* Copy src to dst; 1 = copied, 0 = src absent, -1 = error. */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) return 0;
    FILE *out = fopen(dst, "wb");
    int ok = out != NULL;
    char buf[1 << 16];
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, got, out) == got;
    ok = ok && !ferror(in);
    fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok ? 1 : -1;
}

static int copy_tokenizer(const char *tok_dir, const char *out_dir) {
    int copied = 0, rc = 0;
    for (size_t i = 0; i < sizeof tokenizer_files / sizeof tokenizer_files[0] && rc == 0; i++) {
        char *src = join(tok_dir, tokenizer_files[i]), *dst = join(out_dir, tokenizer_files[i]);
        int r = src && dst ? copy_file(src, dst) : -1;
        if (r < 0) { fprintf(stderr, "minivl synth: cannot copy %s to %s\n", src ? src : tokenizer_files[i], out_dir); rc = 1; }
        if (r > 0) { report(dst); copied++; }
        free(src);
        free(dst);
    }
    if (rc == 0 && copied == 0) {
        fprintf(stderr, "minivl synth: no tokenizer files in %s\n", tok_dir);
        rc = 1;
    }
    return rc;
}

int mv_cmd_synth(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *tok = NULL;
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--config") == 0      ? &config
                            : strcmp(argv[i], "--out") == 0       ? &out
                            : strcmp(argv[i], "--tokenizer") == 0 ? &tok
                                                                   : NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) { usage(); return 0; }
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "minivl synth: %s '%s'\n", slot ? "missing value for" : "unknown option", argv[i]);
            usage();
            return 2;
        }
        *slot = argv[++i];
    }
    if (!config || !out) { usage(); return 2; }
    mv_error err = { 0 };
    if (mv_synth_checkpoint(config, out, &err) != MV_OK) {
        fprintf(stderr, "minivl synth: %s: %s\n", mv_status_name(err.code), err.message);
        return 1;
    }
    char *cfg_path = join(out, "config.json"), *model_path = join(out, "model.safetensors");
    if (cfg_path && model_path) {
        report(cfg_path);
        report(model_path);
    }
    free(cfg_path);
    free(model_path);
    return tok ? copy_tokenizer(tok, out) : 0;
}
