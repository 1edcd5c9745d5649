/* cmd_quantize.c — `minivl quantize IN_DIR OUT_DIR --type q8|q4`: write a copy of a checkpoint with
 * its language model quantized (docs/QUANT.md), loadable like any other checkpoint directory. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "minivl.h"

static void usage(FILE *f) {
    fprintf(f, "usage: minivl quantize IN_DIR OUT_DIR --type q8|q4\n"
               "  Writes OUT_DIR/model.safetensors with the language model's matrices in 8-bit (q8, 8.5 bits per\n"
               "  weight) or 4-bit (q4, 4.5 bits) blocks of 32 with an F16 scale each, and copies the other files\n"
               "  of IN_DIR (config.json, tokenizer). The vision encoder, projector and norms are kept as they are.\n");
}

int mv_cmd_quantize(int argc, char **argv) {
    const char *dirs[2] = { NULL, NULL }, *type = NULL;
    int n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--type")) {
            if (i + 1 == argc) { fprintf(stderr, "minivl: --type needs a value (q8 or q4)\n"); return 2; }
            type = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "minivl: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (n_dirs < 2) {
            dirs[n_dirs++] = argv[i];
        } else {
            fprintf(stderr, "minivl: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (n_dirs != 2 || !type) { usage(stderr); return 2; }
    if (strcmp(type, "q8") && strcmp(type, "q4")) {
        fprintf(stderr, "minivl: --type must be q8 or q4, got '%s'\n", type);
        return 2;
    }
    mv_error err = { 0 };
    if (mv_quantize_checkpoint(dirs[0], dirs[1], type, &err) != MV_OK) {
        fprintf(stderr, "minivl: quantize: %s\n", err.message);
        return 1;
    }
    printf("wrote %s/model.safetensors (%s)\n", dirs[1], type);
    return 0;
}
