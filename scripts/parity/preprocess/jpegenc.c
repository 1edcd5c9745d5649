/* jpegenc OUT W H MODE SEED: write a JPEG with libjpeg settings Pillow 9.4 cannot produce.
 * MODE: s411 (Y 4x1), s440 (Y 1x2), s21odd (Y2x1,Cb1x1,Cr 2x1? -> Y2x2,Cb1x2,Cr2x1), rst (restart every 3 MCUs),
 *       arith (arithmetic coding), rgb (no colour transform, Adobe transform 0), ycck (CMYK input as YCCK),
 *       cmyk_plain, grey_rst, s12 (Y1x1, Cb 1x1, Cr 1x1 but luma 2x2 other chroma 2x1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    const char *out = argv[1]; int w = atoi(argv[2]), h = atoi(argv[3]); const char *mode = argv[4];
    srand(atoi(argv[5]));
    struct jpeg_compress_struct c; struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e); jpeg_create_compress(&c);
    FILE *f = fopen(out, "wb"); jpeg_stdio_dest(&c, f);
    int comps = 3; J_COLOR_SPACE in = JCS_RGB;
    if (!strcmp(mode, "ycck") || !strcmp(mode, "cmyk_plain")) { comps = 4; in = JCS_CMYK; }
    if (!strcmp(mode, "grey_rst")) { comps = 1; in = JCS_GRAYSCALE; }
    c.image_width = w; c.image_height = h; c.input_components = comps; c.in_color_space = in;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    if (!strcmp(mode, "s411")) { c.comp_info[0].h_samp_factor = 4; c.comp_info[0].v_samp_factor = 1; }
    if (!strcmp(mode, "s440")) { c.comp_info[0].h_samp_factor = 1; c.comp_info[0].v_samp_factor = 2; }
    if (!strcmp(mode, "s12")) { c.comp_info[0].h_samp_factor = 2; c.comp_info[0].v_samp_factor = 2;
                                c.comp_info[1].h_samp_factor = 1; c.comp_info[1].v_samp_factor = 2;
                                c.comp_info[2].h_samp_factor = 2; c.comp_info[2].v_samp_factor = 1; }
    if (!strcmp(mode, "rst") || !strcmp(mode, "grey_rst")) c.restart_interval = 3;
    if (!strcmp(mode, "arith")) c.arith_code = TRUE;
    if (!strcmp(mode, "rgb")) jpeg_set_colorspace(&c, JCS_RGB);
    if (!strcmp(mode, "ycck")) jpeg_set_colorspace(&c, JCS_YCCK);
    if (!strcmp(mode, "cmyk_plain")) jpeg_set_colorspace(&c, JCS_CMYK);
    if (!strcmp(mode, "prog_s411")) { c.comp_info[0].h_samp_factor = 4; c.comp_info[0].v_samp_factor = 1; jpeg_simple_progression(&c); }
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * comps);
    int per = 1 + rand() % 6;
    while (c.next_scanline < c.image_height) {
        int y = c.next_scanline;
        for (int x = 0; x < w; x++) for (int k = 0; k < comps; k++) {
            int v = ((x / per + y / per) & 1) ? 255 : 0;            /* sharp checker */
            if ((x * 7 + y * 3 + k) % 5 == 0) v = rand() & 255;     /* noise */
            else if (x > w / 2) v = (x * 255 / (w > 1 ? w - 1 : 1) + k * 60) & 255; /* gradient half */
            row[(size_t)x * comps + k] = (unsigned char)v;
        }
        JSAMPROW r = row; jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c); fclose(f); jpeg_destroy_compress(&c); free(row);
    return 0;
}
