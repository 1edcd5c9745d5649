/* resizec LIST: each line "src.raw sw sh dw dh out.raw" -> mv_resize_bicubic */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "vision/preprocess.h"
int main(int argc, char **argv) {
    FILE *l = fopen(argv[1], "r"); char sp[1024], op[1024]; int sw, sh, dw, dh;
    while (fscanf(l, "%1023s %d %d %d %d %1023s", sp, &sw, &sh, &dw, &dh, op) == 6) {
        size_t n = (size_t)sw * sh * 3, m = (size_t)dw * dh * 3;
        uint8_t *s = malloc(n), *d = malloc(m); FILE *f = fopen(sp, "rb"); fread(s, 1, n, f); fclose(f);
        mv_error err = {0};
        if (mv_resize_bicubic(s, sw, sh, d, dw, dh, &err) != MV_OK) { fprintf(stderr, "%s\n", err.message); return 1; }
        f = fopen(op, "wb"); fwrite(d, 1, m, f); fclose(f); free(s); free(d);
    }
    return 0;
}
