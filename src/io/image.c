/* image.c — decode PNG (libpng) and JPEG (libjpeg) to RGB8, pixel for pixel as Pillow 9.4's
 * Image.open(f).convert('RGB') does it, with the size limit checked from the header before any
 * pixel buffer is allocated.
 *
 * PIL's conversions reproduced here (checked against Pillow 9.4.0):
 *  - PNG grey 1/2/4 bit: scaled to 0..255 (x255, x85, x17); 8 bit: replicated to R=G=B.
 *  - PNG grey 16 bit: PIL opens it as mode "I" and I->RGB *saturates*: min(v, 255), not v >> 8.
 *  - PNG RGB/RGBA/grey+alpha 16 bit: the high byte of each sample; alpha is dropped, never composited.
 *  - PNG palette: PLTE colours; indices past the PLTE are PIL's grey ramp (i,i,i); tRNS ignored.
 *  - gAMA/sBIT/iCCP and EXIF orientation are ignored, as PIL does on open.
 *  - JPEG: libjpeg's own colour conversion to RGB (grey, YCbCr, RGB); 4-component (CMYK/YCCK) as
 *    Adobe-inverted CMYK: c' = 255 - c, then R = k - k*c'/255 with PIL's rounding (MULDIV255).
 */
#include "io/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "base/error.h"
#include "base/file.h"

struct mv_image {
    int width, height;
    uint8_t *rgb;
};

/* Files larger than this are refused before reading (no sane PNG/JPEG under the pixel limit is). */
#define MV_IMAGE_FILE_LIMIT ((size_t)1 << 30)

static mv_image *image_alloc(int w, int h) {
    mv_image *img = calloc(1, sizeof *img);
    if (!img) return NULL;
    img->width = w;
    img->height = h;
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img->rgb) {
        free(img);
        return NULL;
    }
    return img;
}

void mv_image_free(mv_image *img) {
    if (!img) return;
    free(img->rgb);
    free(img);
}

int mv_image_width(const mv_image *img) { return img ? img->width : 0; }
int mv_image_height(const mv_image *img) { return img ? img->height : 0; }
const uint8_t *mv_image_rgb(const mv_image *img) { return img ? img->rgb : NULL; }

/* Zero-size and pixel-limit check, done on header values before decoding. */
static mv_status check_size(const char *fmt, uint64_t w, uint64_t h, size_t max_pixels, mv_error *err) {
    if (w == 0 || h == 0)
        return mv_set_error(err, MV_ERR_IMAGE, "%s: image has zero size (%llux%llu)", fmt,
                            (unsigned long long)w, (unsigned long long)h);
    if (w > INT_MAX || h > INT_MAX || w * h > max_pixels)
        return mv_set_error(err, MV_ERR_IMAGE, "%s: image is %llux%llu = %llu pixels, over the limit of %zu",
                            fmt, (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
                            max_pixels);
    return MV_OK;
}

/* ------------------------------------------------------------------ PNG */

typedef struct png_job {
    const uint8_t *data;
    size_t size, pos;
    png_structp png;
    png_infop info;
    uint8_t *rows;      /* one row, or every row of an interlaced image */
    mv_image *img;
    int nomem;
    char msg[256];
    uint8_t palette[256 * 3];
} png_job;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_on_read(png_structp png, png_bytep out, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos) png_error(png, "unexpected end of data (truncated file)");
    memcpy(out, j->data + j->pos, n);
    j->pos += n;
}

/* Width and height straight from the IHDR chunk, which the PNG format requires to come first. */
static mv_status png_header_size(const uint8_t *d, size_t n, uint32_t *w, uint32_t *h, mv_error *err) {
    if (n < 24 || memcmp(d + 12, "IHDR", 4) != 0)
        return mv_set_error(err, MV_ERR_IMAGE, "PNG: no IHDR header chunk (truncated or corrupt file)");
    *w = (uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 | (uint32_t)d[18] << 8 | d[19];
    *h = (uint32_t)d[20] << 24 | (uint32_t)d[21] << 16 | (uint32_t)d[22] << 8 | d[23];
    return MV_OK;
}

/* PIL's palette: a grey ramp overwritten by the PLTE entries. */
static void png_load_palette(png_job *j) {
    for (int i = 0; i < 256; i++) j->palette[3 * i] = j->palette[3 * i + 1] = j->palette[3 * i + 2] = (uint8_t)i;
    png_colorp pal = NULL;
    int n = 0;
    if (png_get_PLTE(j->png, j->info, &pal, &n) && pal) {
        for (int i = 0; i < n && i < 256; i++) {
            j->palette[3 * i] = pal[i].red;
            j->palette[3 * i + 1] = pal[i].green;
            j->palette[3 * i + 2] = pal[i].blue;
        }
    }
}

/* One decoded row (samples unpacked to >= 1 byte, 16-bit big-endian) to RGB8. */
static void png_row_to_rgb(const png_job *j, int ctype, int depth, const uint8_t *in, uint8_t *out, int w) {
    int bps = depth == 16 ? 2 : 1;
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        for (int x = 0; x < w; x++) memcpy(out + 3 * x, j->palette + 3 * in[x], 3);
    } else if (ctype == PNG_COLOR_TYPE_GRAY) {
        for (int x = 0; x < w; x++) {
            unsigned v;
            if (depth == 16) {
                v = (unsigned)in[2 * x] << 8 | in[2 * x + 1];
                if (v > 255) v = 255; /* PIL's mode "I" -> RGB clips */
            } else {
                v = in[x] * (255u / ((1u << depth) - 1)); /* 1/2/4/8 bit: x255, x85, x17, x1 */
            }
            out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = (uint8_t)v;
        }
    } else {
        /* grey+alpha, RGB, RGBA: high byte of each sample, alpha dropped */
        int ch = ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : ctype == PNG_COLOR_TYPE_RGB ? 3 : 4;
        int step = ch * bps;
        for (int x = 0; x < w; x++) {
            const uint8_t *p = in + (size_t)x * step;
            if (ch == 2) {
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = p[0];
            } else {
                out[3 * x] = p[0];
                out[3 * x + 1] = p[bps];
                out[3 * x + 2] = p[2 * bps];
            }
        }
    }
}

/* Runs under libpng's error handler: a longjmp lands here and returns -1 with j->msg set. Every
 * resource lives in *j so the caller can free it whatever happened. */
static int png_run(png_job *j) {
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_set_read_fn(j->png, j, png_on_read);
    png_set_user_limits(j->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* only our pixel limit applies */
    /* Checksums as Pillow treats them: a bad CRC on any chunk before the image data (ancillary ones
     * included) fails the file, one on IDAT does not (Pillow hands IDAT to zlib unchecked; zlib's own
     * Adler-32 still catches damaged data). */
    png_set_crc_action(j->png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
    png_read_info(j->png, j->info);
    png_set_crc_action(j->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    if (depth < 8) png_set_packing(j->png); /* one byte per sample, values kept (no scaling) */
    int passes = png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_load_palette(j);

    j->img = image_alloc((int)w, (int)h);
    j->rows = malloc(rowbytes * (passes > 1 ? h : 1));
    if (!j->img || !j->rows) {
        j->nomem = 1;
        return -1;
    }
    for (int pass = 0; pass < passes; pass++) {
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *row = passes > 1 ? j->rows + (size_t)y * rowbytes : j->rows;
            png_read_row(j->png, row, NULL);
            if (pass == passes - 1) png_row_to_rgb(j, ctype, depth, row, j->img->rgb + (size_t)y * w * 3, (int)w);
        }
    }
    return 0;
}

static mv_status png_decode(const uint8_t *data, size_t size, size_t max_pixels, mv_image **out, mv_error *err) {
    uint32_t w = 0, h = 0;
    mv_status st = png_header_size(data, size, &w, &h, err);
    if (st == MV_OK) st = check_size("PNG", w, h, max_pixels, err);
    if (st != MV_OK) return st;

    png_job j;
    memset(&j, 0, sizeof j);
    j.data = data;
    j.size = size;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning);
    if (j.png) j.info = png_create_info_struct(j.png);
    if (!j.info) {
        png_destroy_read_struct(&j.png, NULL, NULL);
        return mv_set_error(err, MV_ERR_NOMEM, "PNG: out of memory");
    }
    int rc = png_run(&j);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rows);
    if (rc != 0) {
        mv_image_free(j.img);
        if (j.nomem) return mv_set_error(err, MV_ERR_NOMEM, "PNG: out of memory for %ux%u pixels", w, h);
        return mv_set_error(err, MV_ERR_IMAGE, "PNG: %s", j.msg);
    }
    *out = j.img;
    return MV_OK;
}

/* ------------------------------------------------------------------ JPEG */

typedef struct jpeg_job {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
    struct jpeg_decompress_struct cinfo;
    uint8_t *row;
    mv_image *img;
    int nomem;
    char msg[JMSG_LENGTH_MAX];
} jpeg_job;

static void jpeg_on_error(j_common_ptr c) {
    jpeg_job *j = (jpeg_job *)c->err; /* mgr is the first member */
    c->err->format_message(c, j->msg);
    longjmp(j->jmp, 1);
}

/* libjpeg only warns at the end of the data and pads with grey; PIL reports a truncated file. */
static void jpeg_on_message(j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_job *j = (jpeg_job *)c->err;
        snprintf(j->msg, sizeof j->msg, "unexpected end of data (truncated file)");
        longjmp(j->jmp, 1);
    }
}

/* PIL: "CMYK;I" unpacking (Adobe stores inverted samples), then cmyk2rgb with MULDIV255 rounding. */
static uint8_t cmyk_to_channel(uint8_t raw_c, uint8_t raw_k) {
    int c = 255 - raw_c, nk = raw_k;
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void jpeg_row_to_rgb(const uint8_t *in, int comps, uint8_t *out, int w) {
    for (int x = 0; x < w; x++, in += comps, out += 3) {
        if (comps == 1) {
            out[0] = out[1] = out[2] = in[0];
        } else if (comps == 3) {
            memcpy(out, in, 3);
        } else {
            for (int k = 0; k < 3; k++) out[k] = cmyk_to_channel(in[k], in[3]);
        }
    }
}

/* Runs under the longjmp error handler; returns -1 with j->msg set (or j->nomem), or a size
 * error already written to err (*size_fail). */
static int jpeg_run(jpeg_job *j, const uint8_t *data, size_t size, size_t max_pixels, mv_status *size_fail,
                    mv_error *err) {
    if (setjmp(j->jmp)) return -1;
    jpeg_create_decompress(&j->cinfo);
    jpeg_mem_src(&j->cinfo, data, (unsigned long)size);
    jpeg_read_header(&j->cinfo, TRUE);
    *size_fail = check_size("JPEG", j->cinfo.image_width, j->cinfo.image_height, max_pixels, err);
    if (*size_fail != MV_OK) return -1;
    switch (j->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: j->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: j->cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: j->cinfo.out_color_space = JCS_CMYK; break;
    default:
        snprintf(j->msg, sizeof j->msg, "unsupported colour space (%d components)", j->cinfo.num_components);
        return -1;
    }
    jpeg_start_decompress(&j->cinfo);
    int w = (int)j->cinfo.output_width, comps = j->cinfo.output_components;
    j->img = image_alloc(w, (int)j->cinfo.output_height);
    j->row = malloc((size_t)w * (size_t)comps);
    if (!j->img || !j->row) {
        j->nomem = 1;
        return -1;
    }
    while (j->cinfo.output_scanline < j->cinfo.output_height) {
        JDIMENSION y = j->cinfo.output_scanline;
        JSAMPROW row = j->row;
        if (jpeg_read_scanlines(&j->cinfo, &row, 1) != 1) {
            snprintf(j->msg, sizeof j->msg, "decoder stopped at row %u", (unsigned)y);
            return -1;
        }
        jpeg_row_to_rgb(j->row, comps, j->img->rgb + (size_t)y * w * 3, w);
    }
    return 0;
}

static mv_status jpeg_decode(const uint8_t *data, size_t size, size_t max_pixels, mv_image **out, mv_error *err) {
    jpeg_job j;
    memset(&j, 0, sizeof j);
    j.cinfo.err = jpeg_std_error(&j.mgr);
    j.mgr.error_exit = jpeg_on_error;
    j.mgr.emit_message = jpeg_on_message;
    mv_status size_fail = MV_OK;
    int rc = jpeg_run(&j, data, size, max_pixels, &size_fail, err);
    jpeg_destroy_decompress(&j.cinfo); /* safe on a partly created object: it checks cinfo.mem */
    free(j.row);
    if (rc != 0) {
        mv_image_free(j.img);
        if (size_fail != MV_OK) return size_fail;
        if (j.nomem) return mv_set_error(err, MV_ERR_NOMEM, "JPEG: out of memory");
        return mv_set_error(err, MV_ERR_IMAGE, "JPEG: %s", j.msg);
    }
    *out = j.img;
    return MV_OK;
}

/* ------------------------------------------------------------------ public entry points */

mv_status mv_image_load_memory(const void *data, size_t size, size_t max_pixels, mv_image **out, mv_error *err) {
    if (!out || (!data && size)) return mv_set_error(err, MV_ERR_ARG, "mv_image_load_memory: NULL argument");
    *out = NULL;
    if (max_pixels == 0) max_pixels = MV_DEFAULT_MAX_PIXELS;
    const uint8_t *d = data;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size == 0) return mv_set_error(err, MV_ERR_IMAGE, "empty image data");
    if (size >= 8 && memcmp(d, png_sig, 8) == 0) return png_decode(d, size, max_pixels, out, err);
    if (size >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return jpeg_decode(d, size, max_pixels, out, err);
    return mv_set_error(err, MV_ERR_IMAGE, "not a PNG or JPEG image (unrecognised signature)");
}

mv_status mv_image_load_file(const char *path, size_t max_pixels, mv_image **out, mv_error *err) {
    if (!path || !out) return mv_set_error(err, MV_ERR_ARG, "mv_image_load_file: NULL argument");
    *out = NULL;
    size_t len = 0;
    char *buf = mv_read_file(path, MV_IMAGE_FILE_LIMIT, &len, err);
    if (!buf) return err ? err->code : MV_ERR_IO;
    mv_status st = mv_image_load_memory(buf, len, max_pixels, out, err);
    free(buf);
    if (st != MV_OK) mv_error_prefix(err, "%s: ", path);
    return st;
}

mv_status mv_image_from_rgb(const uint8_t *rgb, int width, int height, mv_image **out, mv_error *err) {
    if (!out || !rgb) return mv_set_error(err, MV_ERR_ARG, "mv_image_from_rgb: NULL argument");
    *out = NULL;
    if (width <= 0 || height <= 0)
        return mv_set_error(err, MV_ERR_ARG, "mv_image_from_rgb: invalid size %dx%d", width, height);
    mv_image *img = image_alloc(width, height);
    if (!img) return mv_set_error(err, MV_ERR_NOMEM, "mv_image_from_rgb: out of memory for %dx%d", width, height);
    memcpy(img->rgb, rgb, (size_t)width * (size_t)height * 3);
    *out = img;
    return MV_OK;
}
