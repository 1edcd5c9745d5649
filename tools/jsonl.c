/* jsonl.c — minimal JSON object reader / string writer for the CLI (see jsonl.h). */
#include "jsonl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct reader {
    const char *s;
    size_t n, i;
    const char *why;
} reader;

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (!b || b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) { b->oom = 1; return; }
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static int fail(reader *r, const char *why) {
    if (!r->why) r->why = why;
    return -1;
}

static void skip_ws(reader *r) {
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int hex4(reader *r, uint32_t *v) {
    if (r->n - r->i < 4) return fail(r, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i++];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return fail(r, "bad \\u escape");
        *v = *v * 16 + (uint32_t)d;
    }
    return 0;
}

static void put_utf8(sbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_put(b, u, n);
}

/* \uXXXX, combining a surrogate pair; a lone surrogate has no UTF-8 form and is an error. */
static int unicode_escape(reader *r, sbuf *b) {
    uint32_t hi, lo;
    if (hex4(r, &hi)) return -1;
    if (hi >= 0xDC00 && hi <= 0xDFFF) return fail(r, "lone low surrogate in \\u escape");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        if (r->n - r->i < 2 || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u') return fail(r, "lone high surrogate");
        r->i += 2;
        if (hex4(r, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(r, "lone high surrogate");
        hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(b, hi);
    return 0;
}

/* A string starting at r->i (on the quote); decoded into b when b is not NULL. */
static int read_string(reader *r, sbuf *b) {
    if (r->i >= r->n || r->s[r->i] != '"') return fail(r, "expected a string");
    r->i++;
    while (r->i < r->n) {
        size_t start = r->i;
        while (r->i < r->n && r->s[r->i] != '"' && r->s[r->i] != '\\' && (unsigned char)r->s[r->i] >= 0x20) r->i++;
        sb_put(b, r->s + start, r->i - start);
        if (r->i >= r->n) break;
        char c = r->s[r->i++];
        if (c == '"') return 0;
        if ((unsigned char)c < 0x20) return fail(r, "raw control character in a string");
        if (r->i >= r->n) break;
        char e = r->s[r->i++];
        const char *simple = strchr("\"\\/bfnrt", e);
        static const char map[] = "\"\\/\b\f\n\r\t";
        if (e == 'u') {
            if (unicode_escape(r, b)) return -1;
        } else if (e && simple) {
            sb_put(b, &map[simple - "\"\\/bfnrt"], 1);
        } else {
            return fail(r, "bad escape in a string");
        }
    }
    return fail(r, "unterminated string");
}

static int skip_value(reader *r, int depth);

static int skip_container(reader *r, int depth, char close) {
    r->i++;
    skip_ws(r);
    if (r->i < r->n && r->s[r->i] == close) { r->i++; return 0; }
    for (;;) {
        if (close == '}') {
            if (read_string(r, NULL)) return -1;
            skip_ws(r);
            if (r->i >= r->n || r->s[r->i++] != ':') return fail(r, "expected ':'");
        }
        if (skip_value(r, depth + 1)) return -1;
        skip_ws(r);
        if (r->i >= r->n) return fail(r, "unterminated object or array");
        char c = r->s[r->i++];
        if (c == close) return 0;
        if (c != ',') return fail(r, "expected ',' or end of object/array");
        skip_ws(r);
    }
}

static int skip_value(reader *r, int depth) {
    skip_ws(r);
    if (depth > MAX_DEPTH) return fail(r, "nested too deeply");
    if (r->i >= r->n) return fail(r, "missing value");
    char c = r->s[r->i];
    if (c == '"') return read_string(r, NULL);
    if (c == '{') return skip_container(r, depth, '}');
    if (c == '[') return skip_container(r, depth, ']');
    size_t start = r->i;
    while (r->i < r->n && r->s[r->i] && strchr("+-.0123456789eEtruefalsn", r->s[r->i])) r->i++;
    return r->i > start ? 0 : fail(r, "unexpected character");
}

int mv_jsonl_get_string(const char *line, size_t n, const char *key, char **out, size_t *out_len,
                        const char **why) {
    reader r = {.s = line, .n = n};
    int found = 0, rc = 0;
    sbuf val = {0};
    skip_ws(&r);
    if (r.i >= r.n || r.s[r.i++] != '{') { rc = fail(&r, "not a JSON object"); goto done; }
    skip_ws(&r);
    if (r.i < r.n && r.s[r.i] == '}') { r.i++; goto end; }
    for (;;) {
        sbuf k = {0};
        if (read_string(&r, &k)) { free(k.p); rc = -1; goto done; }
        int match = k.p && !k.oom && strlen(key) == k.n && memcmp(k.p, key, k.n) == 0;
        free(k.p);
        skip_ws(&r);
        if (r.i >= r.n || r.s[r.i++] != ':') { rc = fail(&r, "expected ':'"); goto done; }
        skip_ws(&r);
        if (match) {
            if (r.i >= r.n || r.s[r.i] != '"') { rc = fail(&r, "member is not a string"); goto done; }
            val.n = 0;
            if (read_string(&r, &val)) { rc = -1; goto done; }
            sb_put(&val, "", 0);
            found = 1;
        } else if (skip_value(&r, 1)) {
            rc = -1;
            goto done;
        }
        skip_ws(&r);
        if (r.i >= r.n) { rc = fail(&r, "unterminated object"); goto done; }
        char c = r.s[r.i++];
        if (c == '}') break;
        if (c != ',') { rc = fail(&r, "expected ',' or '}'"); goto done; }
        skip_ws(&r);
    }
end:
    skip_ws(&r);
    if (r.i != r.n) rc = fail(&r, "trailing characters after the object");
done:
    if (rc == 0 && val.oom) rc = fail(&r, "out of memory");
    if (rc == 0 && found) {
        *out = val.p;
        *out_len = val.n;
        return 0;
    }
    free(val.p);
    if (why) *why = r.why;
    return rc ? rc : 1;
}

void mv_jsonl_put_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        fwrite(s + start, 1, i - start, f);
        start = i + 1;
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default: fprintf(f, "\\u%04x", c); break;
        }
    }
    fwrite(s + start, 1, n - start, f);
    fputc('"', f);
}
