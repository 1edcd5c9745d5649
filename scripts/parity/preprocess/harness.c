/* harness: load image, mv_preprocess(448, 1, max, thumb=1), write
 * int32 header {status, cols, rows, count, size, img_w, img_h, has_norm} then tiles u8, then floats (if norm).
 * Usage: harness IMG MAX OUT [norm]   or   harness -b LISTFILE  (lines: IMG MAX OUT NORM) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "minivl.h"
#include "io/image.h"
#include "vision/preprocess.h"

static int one(const char *path, int maxn, const char *outp, int norm) {
    mv_image *img = NULL;
    mv_error err = {0};
    mv_tiles t = {0};
    int32_t hdr[8] = {0};
    FILE *f = fopen(outp, "wb");
    if (!f) { perror(outp); return 2; }
    mv_status st = mv_image_load_file(path, 0, &img, &err);
    if (st != MV_OK) {
        hdr[0] = 1000 + (int)st;
        fwrite(hdr, 4, 8, f);
        fprintf(f, "LOAD:%s", err.message);
        fclose(f);
        return 0;
    }
    hdr[5] = mv_image_width(img); hdr[6] = mv_image_height(img);
    st = mv_preprocess(img, 448, 1, maxn, 1, &t, &err);
    if (st != MV_OK) {
        hdr[0] = 2000 + (int)st;
        fwrite(hdr, 4, 8, f);
        fprintf(f, "PRE:%s", err.message);
        fclose(f); mv_image_free(img);
        return 0;
    }
    hdr[1] = t.cols; hdr[2] = t.rows; hdr[3] = t.count; hdr[4] = t.size; hdr[7] = norm;
    fwrite(hdr, 4, 8, f);
    size_t n = (size_t)t.count * t.size * t.size * 3;
    fwrite(t.rgb, 1, n, f);
    if (norm) {
        float *pv = malloc(n * sizeof(float));
        mv_tiles_normalize(&t, pv);
        fwrite(pv, sizeof(float), n, f);
        free(pv);
    }
    fclose(f);
    mv_tiles_free(&t);
    mv_image_free(img);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "-b")) {
        FILE *l = fopen(argv[2], "r");
        char p[4096], o[4096]; int m, nm;
        while (fscanf(l, "%4095s %d %4095s %d", p, &m, o, &nm) == 4) one(p, m, o, nm);
        fclose(l);
        return 0;
    }
    if (argc < 4) { fprintf(stderr, "usage\n"); return 2; }
    return one(argv[1], atoi(argv[2]), argv[3], argc > 4 && !strcmp(argv[4], "norm"));
}
