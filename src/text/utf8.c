/* utf8.c — byte buffer and UTF-8 validation / lossy decoding (see utf8.h). */
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

int mv_tbuf_reserve(mv_tbuf *b, size_t n) {
    if (b->cap - b->n > n && b->p) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n <= n) {
        if (cap > SIZE_MAX / 2) return -1;
        cap *= 2;
    }
    char *g = realloc(b->p, cap);
    if (!g) return -1;
    b->p = g;
    b->cap = cap;
    return 0;
}

int mv_tbuf_append(mv_tbuf *b, const void *data, size_t n) {
    if (mv_tbuf_reserve(b, n) != 0) return -1;
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

void mv_tbuf_free(mv_tbuf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Unicode 15, Table 3-7: the allowed range of the second byte depends on the lead byte (this rules out
 * overlongs, surrogates and code points above U+10FFFF); later bytes are always 80..BF. */
mv_utf8_kind mv_utf8_next(const uint8_t *s, size_t n, size_t *len, uint32_t *cp) {
    uint8_t b0 = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b0 < 0x80) {
        *len = 1;
        if (cp) *cp = b0;
        return MV_UTF8_OK;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2; c = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3; c = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4; c = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        *len = 1;
        return MV_UTF8_INVALID;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) { *len = i; return MV_UTF8_INCOMPLETE; }
        uint8_t b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) { *len = i; return MV_UTF8_INVALID; }
        c = (c << 6) | (b & 0x3F);
    }
    *len = need;
    if (cp) *cp = c;
    return MV_UTF8_OK;
}

int mv_utf8_valid(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, len;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        if (mv_utf8_next(u + i, n - i, &len, NULL) != MV_UTF8_OK) return 0;
        i += len;
    }
    return 1;
}

int mv_utf8_lossy(const uint8_t *s, size_t n, int final, mv_tbuf *out, size_t *used) {
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    size_t i = 0, run = 0, len;
    int rc = 0;
    while (i < n && rc == 0) {
        mv_utf8_kind k = mv_utf8_next(s + i, n - i, &len, NULL);
        if (k == MV_UTF8_OK) { i += len; run += len; continue; }
        /* flush the valid run before the bad part in one copy */
        rc = mv_tbuf_append(out, s + i - run, run);
        run = 0;
        if (k == MV_UTF8_INCOMPLETE && !final) break;
        if (rc == 0) rc = mv_tbuf_append(out, fffd, 3);
        i += len;
    }
    if (rc == 0 && run) rc = mv_tbuf_append(out, s + i - run, run);
    if (used) *used = i;
    return rc;
}

size_t mv_utf8_encode(uint32_t cp, char *buf) {
    if (cp < 0x80) { buf[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
