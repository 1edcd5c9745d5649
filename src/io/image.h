/* image.h — internal view of mv_image: decoded RGB8 pixels, row-major, 3 bytes per pixel. */
#ifndef MV_IO_IMAGE_H
#define MV_IO_IMAGE_H

#include <stdint.h>

#include "minivl.h"

/* The width*height*3 pixel bytes (R,G,B per pixel, rows top to bottom). */
const uint8_t *mv_image_rgb(const mv_image *img);

#endif
