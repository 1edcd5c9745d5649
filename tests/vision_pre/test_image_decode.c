/* test_image_decode.c — PNG/JPEG decoding to RGB8 with PIL's convert('RGB') rules, on files written
 * here with libpng/libjpeg: every PNG colour type and bit depth (16-bit grey saturates, other 16-bit
 * samples keep the high byte, palette indices past PLTE are PIL's grey ramp, alpha and tRNS dropped),
 * Adam7 interlace, JPEG grey/YCbCr/progressive/Adobe CMYK round trips, and bad input: truncation at
 * every offset, random bytes, empty data, zero size and the pixel limit checked from the header. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "io/image.h"
#include "testutil.h"

typedef struct membuf {
    uint8_t *data;
    size_t n, cap;
} membuf;

static void membuf_put(membuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->n, d, n);
    b->n += n;
}

static void png_mem_write(png_structp p, png_bytep d, size_t n) { membuf_put(png_get_io_ptr(p), d, n); }
static void png_mem_flush(png_structp p) { (void)p; }

typedef struct png_spec {
    int w, h, depth, ctype, interlace;
    const uint8_t *rows; /* h rows of raw PNG sample bytes (packed, big-endian) */
    const png_color *pal;
    int npal;
    const uint8_t *trns;
    int ntrns;
    int header_only; /* stop after the header chunks */
} png_spec;

static membuf make_png(const png_spec *s) {
    membuf b = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        free(b.data);
        membuf empty = {0};
        return empty;
    }
    png_set_write_fn(p, &b, png_mem_write, png_mem_flush);
    png_set_user_limits(p, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_IHDR(p, info, s->w, s->h, s->depth, s->ctype, s->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->pal) png_set_PLTE(p, info, s->pal, s->npal);
    if (s->trns) png_set_tRNS(p, info, s->trns, s->ntrns, NULL);
    png_write_info(p, info);
    if (!s->header_only) {
        size_t rowbytes = png_get_rowbytes(p, info);
        png_bytep *rows = malloc(sizeof(png_bytep) * s->h);
        for (int y = 0; y < s->h; y++) rows[y] = (png_bytep)s->rows + (size_t)y * rowbytes;
        png_write_image(p, rows);
        png_write_end(p, info);
        free(rows);
    }
    png_destroy_write_struct(&p, &info);
    return b;
}

/* Decode and compare with the expected RGB bytes. */
static void expect_rgb(const char *what, const membuf *file, int w, int h, const uint8_t *want) {
    mv_image *img = NULL;
    mv_error err = {0};
    mv_status st = mv_image_load_memory(file->data, file->n, 0, &img, &err);
    CHECK(st == MV_OK, "%s: %s", what, err.message);
    if (st != MV_OK) return;
    CHECK(mv_image_width(img) == w && mv_image_height(img) == h, "%s: size %dx%d", what, mv_image_width(img),
          mv_image_height(img));
    if (mv_image_width(img) == w && mv_image_height(img) == h) {
        const uint8_t *got = mv_image_rgb(img);
        for (int i = 0; i < w * h * 3; i++)
            if (got[i] != want[i]) {
                CHECK(0, "%s: byte %d (pixel %d ch %d) = %d, want %d", what, i, i / 3, i % 3, got[i], want[i]);
                break;
            }
    }
    mv_image_free(img);
}

static void png_case(const char *what, png_spec s, const uint8_t *want) {
    membuf b = make_png(&s);
    CHECK(b.n > 0, "%s: could not write the PNG", what);
    expect_rgb(what, &b, s.w, s.h, want);
    free(b.data);
}

#define G3(v) v, v, v
/* A png_spec with the required fields first; CT is GRAY, RGB, PALETTE, ... */
#define SPEC(W, H, D, CT, ...) ((png_spec){.w = W, .h = H, .depth = D, .ctype = PNG_COLOR_TYPE_##CT, __VA_ARGS__})

static void test_png_variants(void) {
    const png_color pal[2] = {{10, 20, 30}, {40, 50, 60}};
    {
        const uint8_t rows[] = {0, 7, 128, 255, 1, 254};
        const uint8_t want[] = {G3(0), G3(7), G3(128), G3(255), G3(1), G3(254)};
        png_case("grey 8 (L -> R=G=B)", SPEC(3, 2, 8, GRAY, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x00, 0x00, 0x00, 0xc8, 0x01, 0x00, 0xff, 0xff};
        const uint8_t want[] = {G3(0), G3(200), G3(255), G3(255)};
        png_case("grey 16 (mode I, clipped to 255)", SPEC(4, 1, 16, GRAY, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0xa0};
        const uint8_t want[] = {G3(255), G3(0), G3(255), G3(0), G3(0), G3(0), G3(0), G3(0)};
        png_case("grey 1", SPEC(8, 1, 1, GRAY, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x1b};
        const uint8_t want[] = {G3(0), G3(85), G3(170), G3(255)};
        png_case("grey 2", SPEC(4, 1, 2, GRAY, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x3c};
        const uint8_t want[] = {G3(51), G3(204)};
        png_case("grey 4", SPEC(2, 1, 4, GRAY, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {10, 200, 250, 0};
        const uint8_t want[] = {G3(10), G3(250)};
        png_case("grey+alpha 8 (alpha dropped)", SPEC(2, 1, 8, GRAY_ALPHA, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff, 0xff, 0x00};
        const uint8_t want[] = {G3(0x12), G3(0x00)};
        png_case("grey+alpha 16 (high byte)", SPEC(2, 1, 16, GRAY_ALPHA, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {1, 2, 3, 4, 5, 6};
        const uint8_t want[] = {1, 2, 3, 4, 5, 6};
        png_case("RGB 8", SPEC(2, 1, 8, RGB, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff, 0xff, 0x00, 0x80, 0x80, 0x7f, 0xff};
        const uint8_t want[] = {0x12, 0xab, 0x00, 0xff, 0x80, 0x7f};
        png_case("RGB 16 (high byte)", SPEC(2, 1, 16, RGB, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {1, 2, 3, 0, 200, 100, 50, 128};
        const uint8_t want[] = {1, 2, 3, 200, 100, 50};
        png_case("RGBA 8 (alpha dropped, no compositing)", SPEC(2, 1, 8, RGBA, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0x12, 0x34, 0xab, 0xcd, 0x00, 0xff, 0x00, 0x00};
        const uint8_t want[] = {0x12, 0xab, 0x00};
        png_case("RGBA 16 (high byte)", SPEC(1, 1, 16, RGBA, .rows = rows), want);
    }
    {
        const uint8_t rows[] = {0, 1, 2, 200};
        const uint8_t trns[] = {0, 128};
        const uint8_t want[] = {10, 20, 30, 40, 50, 60, G3(2), G3(200)};
        png_case("palette 8 + tRNS, indices past PLTE -> grey ramp",
                 SPEC(4, 1, 8, PALETTE, .rows = rows, .pal = pal, .npal = 2, .trns = trns, .ntrns = 2), want);
    }
    {
        const uint8_t rows[] = {0x10};
        const uint8_t want[] = {40, 50, 60, 10, 20, 30};
        png_case("palette 4", SPEC(2, 1, 4, PALETTE, .rows = rows, .pal = pal, .npal = 2), want);
    }
    {
        const uint8_t rows[] = {0x60};
        const uint8_t want[] = {10, 20, 30, 40, 50, 60, 40, 50, 60, 10, 20, 30};
        png_case("palette 1", SPEC(4, 1, 1, PALETTE, .rows = rows, .pal = pal, .npal = 2), want);
    }
}

/* Deterministic noise. */
static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 24;
}

static void test_png_interlaced(void) {
    enum { W = 13, H = 11 };
    uint8_t rgb[W * H * 3], rgba16[W * H * 8], want16[W * H * 3];
    uint32_t seed = 1;
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)lcg(&seed);
    for (int i = 0; i < W * H * 8; i++) rgba16[i] = (uint8_t)lcg(&seed);
    for (int p = 0; p < W * H; p++)
        for (int c = 0; c < 3; c++) want16[p * 3 + c] = rgba16[p * 8 + c * 2];
    png_case("RGB 8 Adam7", SPEC(W, H, 8, RGB, .interlace = PNG_INTERLACE_ADAM7, .rows = rgb), rgb);
    png_case("RGBA 16 Adam7", SPEC(W, H, 16, RGBA, .interlace = PNG_INTERLACE_ADAM7, .rows = rgba16), want16);
    uint8_t g2[(W + 3) / 4 * H], want_g2[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int xb = 0; xb < (W + 3) / 4; xb++) {
            uint8_t v = (uint8_t)lcg(&seed);
            g2[y * ((W + 3) / 4) + xb] = v;
            for (int k = 0; k < 4 && xb * 4 + k < W; k++) {
                uint8_t s = (v >> (6 - 2 * k)) & 3;
                memset(want_g2 + (y * W + xb * 4 + k) * 3, s * 85, 3);
            }
        }
    png_case("grey 2 Adam7", SPEC(W, H, 2, GRAY, .interlace = PNG_INTERLACE_ADAM7, .rows = g2), want_g2);
}

/* ------------------------------------------------------------------ JPEG */

static membuf make_jpeg(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE cs, int progressive) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)px + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    membuf b = {0};
    membuf_put(&b, out, n);
    free(out);
    return b;
}

/* Decoded pixels within tol of want (lossy codec). */
static void expect_close(const char *what, const membuf *file, int w, int h, const uint8_t *want, int tol) {
    mv_image *img = NULL;
    mv_error err = {0};
    CHECK(mv_image_load_memory(file->data, file->n, 0, &img, &err) == MV_OK, "%s: %s", what, err.message);
    if (!img) return;
    CHECK(mv_image_width(img) == w && mv_image_height(img) == h, "%s: size", what);
    int worst = 0;
    const uint8_t *got = mv_image_rgb(img);
    for (int i = 0; i < w * h * 3; i++) {
        int d = abs((int)got[i] - (int)want[i]);
        if (d > worst) worst = d;
    }
    CHECK(worst <= tol, "%s: max abs diff %d > %d", what, worst, tol);
    printf("%s: max abs diff %d\n", what, worst);
    mv_image_free(img);
}

enum { JW = 40, JH = 24 };

static void smooth_image(uint8_t *px, int comps) {
    for (int y = 0; y < JH; y++)
        for (int x = 0; x < JW; x++)
            for (int c = 0; c < comps; c++) px[(y * JW + x) * comps + c] = (uint8_t)(40 + 4 * x + 3 * y + 20 * c);
}

static void test_jpeg(void) {
    uint8_t rgb[JW * JH * 3], grey[JW * JH], grey3[JW * JH * 3], cmyk[JW * JH * 4], cmyk_rgb[JW * JH * 3];
    smooth_image(rgb, 3);
    smooth_image(grey, 1);
    smooth_image(cmyk, 4);
    for (int p = 0; p < JW * JH; p++) memset(grey3 + p * 3, grey[p], 3);
    /* PIL: samples inverted ("CMYK;I"), then R = (255-K') - MULDIV255(C', 255-K') */
    for (int p = 0; p < JW * JH; p++)
        for (int c = 0; c < 3; c++) {
            int ci = 255 - cmyk[p * 4 + c], nk = cmyk[p * 4 + 3], t = ci * nk + 128;
            cmyk_rgb[p * 3 + c] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    membuf b = make_jpeg(rgb, JW, JH, 3, JCS_RGB, 0);
    expect_close("JPEG YCbCr q100", &b, JW, JH, rgb, 3);
    free(b.data);
    b = make_jpeg(rgb, JW, JH, 3, JCS_RGB, 1);
    expect_close("JPEG YCbCr progressive q100", &b, JW, JH, rgb, 3);
    free(b.data);
    b = make_jpeg(grey, JW, JH, 1, JCS_GRAYSCALE, 0);
    expect_close("JPEG grey q100", &b, JW, JH, grey3, 2);
    free(b.data);
    b = make_jpeg(cmyk, JW, JH, 4, JCS_CMYK, 0);
    expect_close("JPEG Adobe CMYK q100", &b, JW, JH, cmyk_rgb, 3);
    free(b.data);
}

/* ------------------------------------------------------------------ bad input */

static void expect_fail(const char *what, const void *data, size_t n, size_t max_pixels, mv_status code,
                        const char *needle) {
    mv_image *img = (mv_image *)&img; /* must be reset to NULL */
    mv_error err = {0};
    mv_status st = mv_image_load_memory(data, n, max_pixels, &img, &err);
    CHECK(st == code, "%s: got %s (%s), want %s", what, mv_status_name(st), err.message, mv_status_name(code));
    CHECK(img == NULL, "%s: output not cleared", what);
    CHECK(!needle || strstr(err.message, needle), "%s: message '%s' lacks '%s'", what, err.message, needle);
    if (st == MV_OK) mv_image_free(img);
}

/* Every cut before `must_fail_below` must fail cleanly with MV_ERR_IMAGE. */
static void truncations(const char *what, const membuf *b, size_t must_fail_below) {
    int ok = 0;
    for (size_t cut = 0; cut < must_fail_below; cut++) {
        mv_image *img = NULL;
        mv_error err = {0};
        mv_status st = mv_image_load_memory(b->data, cut, 0, &img, &err);
        if (st != MV_ERR_IMAGE) {
            if (!ok++) CHECK(0, "%s cut at %zu/%zu: %s (%s)", what, cut, b->n, mv_status_name(st), err.message);
            mv_image_free(img);
        }
    }
    CHECK(ok == 0, "%s: %d cuts did not fail", what, ok);
}

static size_t png_idat_end(const membuf *b) {
    size_t pos = 8, end = 0;
    while (pos + 12 <= b->n) {
        size_t len = (size_t)b->data[pos] << 24 | b->data[pos + 1] << 16 | b->data[pos + 2] << 8 | b->data[pos + 3];
        if (memcmp(b->data + pos + 4, "IDAT", 4) == 0) end = pos + 12 + len;
        pos += 12 + len;
    }
    return end;
}

static void test_bad_input(void) {
    enum { W = 32, H = 32 };
    uint8_t px[W * H * 3];
    uint32_t seed = 7;
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)lcg(&seed);

    membuf png = make_png(&SPEC(W, H, 8, RGB, .rows = px));
    truncations("PNG", &png, png_idat_end(&png));
    membuf ipng = make_png(&SPEC(W, H, 8, RGB, .interlace = PNG_INTERLACE_ADAM7, .rows = px));
    truncations("interlaced PNG", &ipng, png_idat_end(&ipng));
    membuf jpg = make_jpeg(px, W, H, 3, JCS_RGB, 0);
    truncations("JPEG", &jpg, jpg.n - 2); /* only the final EOI marker may be missing */
    membuf pjpg = make_jpeg(px, W, H, 3, JCS_RGB, 1);
    truncations("progressive JPEG", &pjpg, pjpg.n - 2);

    /* corrupt: garbage after a valid signature, damaged IDAT (CRC), random bytes, empty data */
    uint8_t noise[4096];
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)lcg(&seed);
    expect_fail("random bytes", noise, sizeof noise, 0, MV_ERR_IMAGE, "not a PNG or JPEG");
    memcpy(noise, png.data, 8);
    expect_fail("PNG signature + garbage", noise, sizeof noise, 0, MV_ERR_IMAGE, "PNG");
    noise[0] = 0xff, noise[1] = 0xd8, noise[2] = 0xff;
    expect_fail("JPEG SOI + garbage", noise, sizeof noise, 0, MV_ERR_IMAGE, "JPEG");
    membuf bad = {0};
    membuf_put(&bad, png.data, png.n);
    bad.data[png_idat_end(&png) - 20] ^= 0x55;
    expect_fail("PNG with a damaged IDAT", bad.data, bad.n, 0, MV_ERR_IMAGE, "PNG");
    /* checksums as Pillow checks them: a wrong IDAT CRC alone is ignored, a wrong CRC on a chunk
     * before the image data (here an ancillary tEXt after IHDR) fails the file */
    memcpy(bad.data, png.data, png.n);
    bad.data[png_idat_end(&png) - 1] ^= 0x55;
    expect_rgb("PNG with only a wrong IDAT CRC", &bad, W, H, px);
    membuf text = {0};
    static const uint8_t text_chunk[] = { 0, 0, 0, 3, 't', 'E', 'X', 't', 'a', 0, 'b', 0, 0, 0, 0 }; /* CRC 0: wrong */
    membuf_put(&text, png.data, 33); /* signature + IHDR */
    membuf_put(&text, text_chunk, sizeof text_chunk);
    membuf_put(&text, png.data + 33, png.n - 33);
    expect_fail("PNG with a wrong tEXt CRC", text.data, text.n, 0, MV_ERR_IMAGE, "CRC");
    free(text.data);
    expect_fail("empty data", "", 0, 0, MV_ERR_IMAGE, "empty");
    expect_fail("NULL data", NULL, 0, 0, MV_ERR_IMAGE, "empty");

    /* pixel limit, from the header: a 20000x20000 PNG that is only a header */
    membuf huge = make_png(&SPEC(20000, 20000, 8, RGB, .rows = NULL, .header_only = 1));
    CHECK(huge.n > 0 && huge.n < 100, "header-only PNG is %zu bytes", huge.n);
    expect_fail("PNG 20000x20000 header", huge.data, huge.n, 0, MV_ERR_IMAGE, "over the limit");
    expect_fail("PNG over a small limit", png.data, png.n, W * H - 1, MV_ERR_IMAGE, "over the limit");
    mv_image *img = NULL;
    mv_error err = {0};
    CHECK(mv_image_load_memory(png.data, png.n, W * H, &img, &err) == MV_OK, "PNG at the limit: %s", err.message);
    mv_image_free(img);
    /* very wide is fine under the pixel limit (libpng's own 1e6-pixel row limit is lifted) */
    {
        enum { WIDE = 1200000 };
        uint8_t *row = calloc(WIDE, 1);
        row[WIDE - 1] = 9;
        membuf wide = make_png(&SPEC(WIDE, 1, 8, GRAY, .rows = row));
        img = NULL;
        CHECK(mv_image_load_memory(wide.data, wide.n, 0, &img, &err) == MV_OK, "1200000x1 PNG: %s", err.message);
        CHECK(img && mv_image_width(img) == WIDE && mv_image_rgb(img)[3 * WIDE - 1] == 9, "1200000x1 PNG pixels");
        mv_image_free(img);
        free(wide.data);
        free(row);
    }
    /* zero width in IHDR */
    memcpy(bad.data, png.data, 33);
    memset(bad.data + 16, 0, 4);
    expect_fail("PNG zero width", bad.data, 33, 0, MV_ERR_IMAGE, "zero size");

    /* JPEG: patch SOF0 dimensions */
    for (size_t i = 2; i + 9 < jpg.n; i++)
        if (jpg.data[i] == 0xff && jpg.data[i + 1] == 0xc0) {
            memcpy(bad.data, jpg.data, jpg.n);
            bad.data[i + 5] = bad.data[i + 7] = 0x75; /* 30000 x 30000 */
            bad.data[i + 6] = bad.data[i + 8] = 0x30;
            expect_fail("JPEG 30000x30000 header", bad.data, jpg.n, 0, MV_ERR_IMAGE, "over the limit");
            bad.data[i + 5] = bad.data[i + 6] = 0;
            expect_fail("JPEG zero height", bad.data, jpg.n, 0, MV_ERR_IMAGE, "JPEG");
            break;
        }
    expect_fail("JPEG over a small limit", jpg.data, jpg.n, 100, MV_ERR_IMAGE, "over the limit");

    /* files */
    const char *empty = mvt_build("vision_pre_empty.png");
    CHECK(mvt_write_file(empty, "", 0) == 0, "cannot write %s", empty);
    img = NULL;
    CHECK(mv_image_load_file(empty, 0, &img, &err) == MV_ERR_IMAGE && strstr(err.message, empty),
          "empty file: %s", err.message);
    CHECK(mv_image_load_file(mvt_build("vision_pre_missing.png"), 0, &img, &err) == MV_ERR_IO, "missing file: %s",
          err.message);
    CHECK(img == NULL, "missing file left an image");
    /* a directory opens but does not read: said so, not "empty image data" */
    CHECK(mv_image_load_file(mvt_build(""), 0, &img, &err) == MV_ERR_IO && strstr(err.message, "Is a directory"),
          "directory: %s", err.message);
    CHECK(img == NULL, "directory left an image");

    free(png.data);
    free(ipng.data);
    free(jpg.data);
    free(pjpg.data);
    free(huge.data);
    free(bad.data);
}

static void test_from_rgb(void) {
    const uint8_t px[2 * 3 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    mv_image *img = NULL;
    mv_error err = {0};
    CHECK(mv_image_from_rgb(px, 3, 2, &img, &err) == MV_OK, "%s", err.message);
    CHECK(img && mv_image_width(img) == 3 && mv_image_height(img) == 2, "from_rgb size");
    CHECK(img && memcmp(mv_image_rgb(img), px, sizeof px) == 0, "from_rgb pixels");
    mv_image_free(img);
    img = NULL;
    CHECK(mv_image_from_rgb(px, 0, 2, &img, &err) == MV_ERR_ARG && img == NULL, "from_rgb zero width accepted");
    CHECK(mv_image_from_rgb(NULL, 3, 2, &img, &err) == MV_ERR_ARG, "from_rgb NULL accepted");
    mv_image_free(NULL);
}

int main(void) {
    test_png_variants();
    test_png_interlaced();
    test_jpeg();
    test_bad_input();
    test_from_rgb();
    return mvt_done("test_image_decode");
}
