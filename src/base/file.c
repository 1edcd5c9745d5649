/* file.c — small file helpers. */
#include "base/file.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Read a whole small text file (JSON configs, indexes); limit guards against huge inputs. */
char *mv_read_file(const char *path, size_t limit, size_t *len, mv_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { mv_set_error(err, MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *g = realloc(buf, cap);
            if (!g) { free(buf); fclose(f); mv_set_error(err, MV_ERR_NOMEM, "out of memory"); return NULL; }
            buf = g;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > limit) { free(buf); fclose(f); mv_set_error(err, MV_ERR_FORMAT, "%s: larger than %zu bytes", path, limit); return NULL; }
        if (got == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}


char *mv_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

mv_status mv_file_sha256(const char *path, char hex[65], mv_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mv_set_error(err, MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20), md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok = ctx && buf && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t got;
    while (ok && (got = fread(buf, 1, 1 << 20, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, got);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &md_len);
    for (unsigned i = 0; ok && i < md_len; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return ok ? MV_OK : mv_set_error(err, MV_ERR_IO, "%s: read failed while hashing", path);
}
