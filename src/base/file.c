/* file.c — small file helpers. */
#include "base/file.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    if (ferror(f)) { /* a read error (a directory: EISDIR) is not the end of the file */
        const int e = errno;
        free(buf);
        fclose(f);
        mv_set_error(err, MV_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        return NULL;
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

mv_status mv_make_dirs(const char *dir, mv_error *err) {
    if (!*dir) return mv_set_error(err, MV_ERR_ARG, "empty directory name");
    char *p = strdup(dir);
    if (!p) return mv_set_error(err, MV_ERR_NOMEM, "out of memory");
    mv_status rc = MV_OK;
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s != '/' && !end) continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = mv_set_error(err, MV_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            break;
        }
        if (end) break;
        *s = '/';
    }
    struct stat sb;
    if (rc == MV_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = mv_set_error(err, MV_ERR_IO, "%s: not a directory", dir);
    free(p);
    return rc;
}

mv_status mv_copy_file(const char *src, const char *dst, mv_error *err) {
    FILE *in = fopen(src, "rb");
    if (!in) return mv_set_error(err, MV_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return mv_set_error(err, MV_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    char buf[65536];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0) ok = 0;
    if (!ok) {
        remove(dst);
        return mv_set_error(err, MV_ERR_IO, "%s: copy to %s failed", src, dst);
    }
    return MV_OK;
}
