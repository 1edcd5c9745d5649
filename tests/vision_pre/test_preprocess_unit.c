/* test_preprocess_unit.c — grid choice worked out by hand from upstream's find_closest_aspect_ratio
 * (candidates in increasing cols*rows, first smallest |w/h - cols/rows| wins, an exact tie moves to the
 * larger grid only when w*h > 0.5*448*448*cols*rows), tile layout (row-major crops, thumbnail last,
 * none for a single tile), constant images staying constant through the resize, and argument errors. */
#include <stdlib.h>
#include <string.h>

#include "io/image.h"
#include "testutil.h"
#include "vision/preprocess.h"

typedef struct grid_case {
    int w, h, min, max, cols, rows;
    const char *why;
} grid_case;

static const grid_case grid_cases[] = {
    {1, 1, 1, 12, 1, 1, "1x1: ratio 1 exact at 1x1; the 2x2/3x3 ties lack the area"},
    {448, 448, 1, 12, 1, 1, "448^2 = 200704 <= 0.5*448^2*4"},
    {512, 512, 1, 12, 1, 1, "262144 <= 401408"},
    {1000, 1000, 1, 12, 3, 3, "1e6 > 401408 (2x2) and > 903168 (3x3)"},
    {5000, 5000, 1, 6, 2, 2, "3x3 not allowed with max 6"},
    {800, 600, 1, 12, 4, 3, "4/3 exact at 12 tiles"},
    {800, 600, 1, 6, 3, 2, "|1.333-1.5| = 0.167 beats |1.333-1| = 0.333"},
    {4480, 448, 1, 12, 10, 1, "10:1 exact"},
    {4480, 448, 1, 6, 6, 1, "widest allowed"},
    {448, 4480, 1, 12, 1, 10, "1:10 exact"},
    {448, 4480, 1, 6, 1, 6, "tallest allowed"},
    {100, 1000, 1, 12, 1, 10, "exact ratio wins even for a small image (no tie)"},
    {4000, 10, 1, 12, 12, 1, "400:1 -> widest"},
    {200, 100, 1, 12, 2, 1, "2:1; tie with 4x2 lacks the area (20000 <= 802816)"},
    {2000, 1000, 1, 12, 4, 2, "2:1; tie with 4x2 taken (2e6 > 802816)"},
    {1920, 1080, 1, 12, 4, 2, "|1.778-2| = 0.222 at 2x1, tie at 4x2 taken"},
    {1080, 1920, 1, 12, 2, 4, "transposed"},
    {451, 300, 1, 12, 3, 2, "chelsea: 1.503 closest to 1.5"},
    {300, 451, 1, 12, 2, 3, "transposed chelsea"},
    {448, 448, 2, 12, 2, 2, "min 2 tiles: 2x2 is the first exact ratio, 3x3 tie lacks the area"},
};

static void test_grids(void) {
    for (size_t i = 0; i < sizeof grid_cases / sizeof grid_cases[0]; i++) {
        const grid_case *c = &grid_cases[i];
        int cols = 0, rows = 0;
        mv_choose_grid(c->w, c->h, 448, c->min, c->max, &cols, &rows);
        CHECK(cols == c->cols && rows == c->rows, "%dx%d max %d: got %dx%d, want %dx%d (%s)", c->w, c->h, c->max,
              cols, rows, c->cols, c->rows, c->why);
    }
}

static mv_image *image_filled(int w, int h, uint32_t seed, int constant) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        seed = seed * 1664525u + 1013904223u;
        px[i] = constant >= 0 ? (uint8_t)constant : (uint8_t)(seed >> 24);
    }
    mv_image *img = NULL;
    mv_error err = {0};
    CHECK(mv_image_from_rgb(px, w, h, &img, &err) == MV_OK, "%s", err.message);
    free(px);
    return img;
}

/* A 896x448 image picks 2x1 at its own size: the tiles are exact crops, then the thumbnail. */
static void test_layout(void) {
    mv_image *img = image_filled(896, 448, 3, -1);
    mv_tiles t;
    mv_error err = {0};
    CHECK(mv_preprocess(img, 448, 1, 12, 1, &t, &err) == MV_OK, "%s", err.message);
    CHECK(t.cols == 2 && t.rows == 1 && t.count == 3 && t.size == 448, "grid %dx%d count %d", t.cols, t.rows, t.count);
    const uint8_t *src = mv_image_rgb(img);
    int bad = 0;
    for (int tile = 0; tile < 2 && t.count == 3; tile++)
        for (int y = 0; y < 448; y++)
            bad += memcmp(t.rgb + ((size_t)tile * 448 * 448 + (size_t)y * 448) * 3,
                          src + ((size_t)y * 896 + (size_t)tile * 448) * 3, 448 * 3) != 0;
    CHECK(bad == 0, "%d tile rows are not crops of the source", bad);
    uint8_t *thumb = malloc(448 * 448 * 3);
    CHECK(mv_resize_bicubic(src, 896, 448, thumb, 448, 448, &err) == MV_OK, "%s", err.message);
    CHECK(t.count == 3 && memcmp(thumb, t.rgb + (size_t)2 * 448 * 448 * 3, 448 * 448 * 3) == 0,
          "thumbnail is not the whole image resized to 448x448");
    free(thumb);
    mv_tiles_free(&t);

    CHECK(mv_preprocess(img, 448, 1, 12, 0, &t, &err) == MV_OK && t.count == 2, "no thumbnail: count %d", t.count);
    mv_tiles_free(&t);
    CHECK(mv_preprocess(img, 448, 1, 1, 1, &t, &err) == MV_OK && t.count == 1, "one tile gets no thumbnail: %d",
          t.count);
    mv_tiles_free(&t);
    mv_image_free(img);
}

static int all_equal(const uint8_t *p, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* Normalised fixed-point taps sum to 1 within rounding, so flat images stay flat (up- and down-scaling). */
static void test_constant(void) {
    const int sizes[][2] = {{1, 1}, {1000, 1000}, {4000, 10}, {37, 613}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        mv_image *img = image_filled(sizes[i][0], sizes[i][1], 0, 77);
        mv_tiles t;
        mv_error err = {0};
        CHECK(mv_preprocess(img, 448, 1, 12, 1, &t, &err) == MV_OK, "%s", err.message);
        CHECK(all_equal(t.rgb, (size_t)t.count * 448 * 448 * 3, 77), "%dx%d: flat image changed", sizes[i][0],
              sizes[i][1]);
        mv_tiles_free(&t);
        mv_image_free(img);
    }
}

static void test_args(void) {
    mv_image *img = image_filled(10, 10, 1, -1);
    mv_tiles t;
    mv_error err = {0};
    CHECK(mv_preprocess(img, 0, 1, 12, 1, &t, &err) == MV_ERR_ARG, "image_size 0 accepted");
    CHECK(mv_preprocess(img, 448, 0, 12, 1, &t, &err) == MV_ERR_ARG, "min 0 accepted");
    CHECK(mv_preprocess(img, 448, 5, 4, 1, &t, &err) == MV_ERR_ARG, "min > max accepted");
    CHECK(mv_preprocess(NULL, 448, 1, 12, 1, &t, &err) == MV_ERR_ARG, "NULL image accepted");
    CHECK(t.rgb == NULL && t.count == 0, "failed call left tiles behind");
    uint8_t px[3] = {0};
    CHECK(mv_resize_bicubic(px, 1, 1, px, 0, 1, &err) == MV_ERR_ARG, "resize to width 0 accepted");
    mv_image_free(img);
}

int main(void) {
    test_grids();
    test_layout();
    test_constant();
    test_args();
    return mvt_done("test_preprocess_unit");
}
