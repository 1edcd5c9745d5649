/* preprocess.h — InternVL image preprocessing: dynamic tiling (upstream load_image /
 * dynamic_preprocess), Pillow-exact bicubic resize, and ImageNet normalisation to float32. */
#ifndef MV_VISION_PREPROCESS_H
#define MV_VISION_PREPROCESS_H

#include <stdint.h>

#include "minivl.h"

/* torchvision Normalize constants used by InternVL (float32). */
extern const float mv_imagenet_mean[3];
extern const float mv_imagenet_std[3];

/* Tiles of one image: cols x rows grid in row-major order, then the thumbnail when there is one. */
typedef struct mv_tiles {
    int cols, rows;   /* chosen grid (cols = tiles across) */
    int count;        /* cols*rows, +1 for the thumbnail */
    int size;         /* tile side S in pixels */
    uint8_t *rgb;     /* [count, S, S, 3] RGB8 */
} mv_tiles;

/* Upstream find_closest_aspect_ratio over the grids with min_tiles <= cols*rows <= max_tiles.
 * Exact for min_tiles == 1 (what upstream uses); for min_tiles > 1 an exact tie between two grids
 * of equal tile count is broken by fewer columns first, where upstream follows CPython set order. */
void mv_choose_grid(int width, int height, int image_size, int min_tiles, int max_tiles, int *cols, int *rows);

/* PIL Image.resize((dw, dh)) with the default BICUBIC filter on RGB8: separable, antialiased when
 * shrinking, 22-bit fixed-point coefficients, each pass rounded and clipped to uint8. */
mv_status mv_resize_bicubic(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, mv_error *err);

/* dynamic_preprocess(img, min_num, max_num, image_size, use_thumbnail). Free with mv_tiles_free. */
mv_status mv_preprocess(const mv_image *img, int image_size, int min_tiles, int max_tiles, int use_thumbnail,
                        mv_tiles *out, mv_error *err);
void mv_tiles_free(mv_tiles *t);

/* ToTensor + Normalize: out[c][y][x] = ((float)u8 / 255 - mean[c]) / std[c], float32 throughout. */
void mv_normalize_rgb(const uint8_t *rgb, int width, int height, const float mean[3], const float std[3],
                      float *out);
/* All tiles with the ImageNet constants: out is [count, 3, S, S]. */
void mv_tiles_normalize(const mv_tiles *t, float *out);

#endif
