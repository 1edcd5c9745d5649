/* gridc: read int32 pairs (w,h) from stdin file, write int32 (cols,rows) for max_num argv[1]. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "vision/preprocess.h"
int main(int argc, char **argv) {
    int mx = atoi(argv[1]);
    FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "wb");
    int32_t wh[2], cr[2];
    while (fread(wh, 4, 2, in) == 2) { mv_choose_grid(wh[0], wh[1], 448, 1, mx, &cr[0], &cr[1]); fwrite(cr, 4, 2, out); }
    fclose(in); fclose(out); return 0;
}
