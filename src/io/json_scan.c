/* json_scan.c — DOM-free JSON readers (see json_scan.h). */
#include "io/json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *mv_json_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Past the closing quote of the string whose opening quote is at p; NULL when it does not close. A
 * quote ends the string when an even number of backslashes precede it. */
static const char *skip_string(const char *p, const char *end) {
    const char *start = ++p;
    for (const char *q; (q = memchr(p, '"', (size_t)(end - p))) != NULL; p = q + 1) {
        size_t backslashes = 0;
        while (q - backslashes > start && q[-1 - (ptrdiff_t)backslashes] == '\\') backslashes++;
        if (backslashes % 2 == 0) return q + 1;
    }
    return NULL;
}

enum { PLAIN, QUOTE, OPEN, CLOSE, COMMA, SPACE };

/* Structural class of each byte, for the skipping loop. */
static unsigned char byte_class(unsigned char c) {
    switch (c) {
    case '"': return QUOTE;
    case '{': case '[': return OPEN;
    case '}': case ']': return CLOSE;
    case ',': return COMMA;
    case ' ': case '\t': case '\n': case '\r': return SPACE;
    default: return PLAIN;
    }
}

const char *mv_json_skip(const char *p, const char *end, size_t *n_items) {
    p = mv_json_ws(p, end);
    if (n_items) *n_items = 0;
    if (p == end) return NULL;
    const unsigned char cls = byte_class((unsigned char)*p);
    if (cls == QUOTE) return skip_string(p, end);
    if (cls != OPEN) {
        const char *q = p;
        while (q < end && byte_class((unsigned char)*q) == PLAIN && *q != ':') q++;
        return q > p ? q : NULL;
    }
    size_t depth = 0, commas = 0;
    int empty = 1;
    for (; p < end; p++) {
        switch (byte_class((unsigned char)*p)) {
        case QUOTE:
            if (!(p = skip_string(p, end))) return NULL;
            p--;
            empty = 0;
            break;
        case OPEN:
            if (depth++ > 0) empty = 0;
            break;
        case CLOSE:
            if (--depth == 0) {
                if (n_items) *n_items = empty ? 0 : commas + 1;
                return p + 1;
            }
            break;
        case COMMA:
            commas += depth == 1;
            break;
        case PLAIN:
            empty = 0;
            break;
        default:
            break;
        }
    }
    return NULL;
}

int mv_json_iter_begin(mv_json_iter *it, const char *p, const char *end, char open) {
    p = mv_json_ws(p, end);
    if (p == end || *p != open) return -1;
    it->p = p + 1;
    it->end = end;
    it->close = open == '{' ? '}' : ']';
    it->started = 0;
    return 0;
}

int mv_json_iter_next(mv_json_iter *it) {
    const char *p = it->p = mv_json_ws(it->p, it->end); /* errors point at the offending byte */
    if (p == it->end) return -1;
    if (*p == it->close) {
        it->p = p + 1;
        return 0;
    }
    if (it->started) {
        if (*p != ',') return -1;
        p = mv_json_ws(p + 1, it->end);
    }
    it->started = 1;
    it->p = p;
    return 1;
}

int mv_json_iter_colon(mv_json_iter *it) {
    const char *p = mv_json_ws(it->p, it->end);
    if (p == it->end || *p != ':') return -1;
    it->p = p + 1;
    return 0;
}

/* Past the ':' of the next member whose key is read into *key and *n; NULL when malformed. */
static const char *member_key(mv_json_iter *it, mv_tbuf *scratch, const char **key, size_t *n) {
    const char *p = mv_json_string(it->p, it->end, scratch, key, n);
    if (!p) return NULL;
    it->p = p;
    return mv_json_iter_colon(it) == 0 ? it->p : NULL;
}

const char *mv_json_find(const char *obj, const char *end, const char *key) {
    mv_json_iter it;
    mv_tbuf scratch = {0};
    const size_t key_len = strlen(key);
    const char *found = NULL;
    if (mv_json_iter_begin(&it, obj, end, '{') != 0) return NULL;
    while (!found && mv_json_iter_next(&it) == 1) {
        const char *s, *v;
        size_t n;
        if (!(v = member_key(&it, &scratch, &s, &n))) break;
        if (n == key_len && memcmp(s, key, n) == 0) found = mv_json_ws(v, end);
        else if (!(it.p = mv_json_skip(v, end, NULL))) break;
    }
    mv_tbuf_free(&scratch);
    return found;
}

const char *mv_json_members(const char *obj, const char *end, const char *const *keys, mv_json_span *values,
                            size_t n_keys) {
    mv_json_iter it;
    mv_tbuf scratch = {0};
    int r = -1;
    for (size_t k = 0; k < n_keys; k++) values[k].p = values[k].end = NULL;
    if (mv_json_iter_begin(&it, obj, end, '{') != 0) return NULL;
    while ((r = mv_json_iter_next(&it)) == 1) {
        const char *s, *v;
        size_t n;
        if (!(v = member_key(&it, &scratch, &s, &n)) || !(it.p = mv_json_skip(v, end, NULL))) {
            r = -1;
            break;
        }
        for (size_t k = 0; k < n_keys; k++)
            if (!values[k].p && strlen(keys[k]) == n && memcmp(keys[k], s, n) == 0) {
                values[k].p = mv_json_ws(v, end);
                values[k].end = it.p;
            }
    }
    mv_tbuf_free(&scratch);
    return r == 0 ? it.p : NULL;
}

static int hex4(const char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* One escape sequence at p (p[0] == '\\') appended to out; the position after it, or NULL. A \u
 * escape of a UTF-16 high surrogate must be followed by one of a low surrogate. */
static const char *unescape_one(const char *p, const char *end, mv_tbuf *out) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (end - p < 2) return NULL;
    const char *simple = memchr(from, p[1], sizeof from - 1);
    if (simple) return mv_tbuf_append(out, &to[simple - from], 1) == 0 ? p + 2 : NULL;
    uint32_t cp, lo;
    if (p[1] != 'u' || end - p < 6 || hex4(p + 2, &cp) != 0) return NULL;
    p += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    char u[4];
    return mv_tbuf_append(out, u, mv_utf8_encode(cp, u)) == 0 ? p : NULL;
}

const char *mv_json_string(const char *p, const char *end, mv_tbuf *scratch, const char **s, size_t *n) {
    p = mv_json_ws(p, end);
    if (p == end || *p != '"') return NULL;
    const char *start = ++p;
    while (p < end && *p != '"' && *p != '\\' && (uint8_t)*p >= 0x20) p++;
    if (p < end && *p == '"') { /* the common case: no escapes, the bytes are the text's own */
        *s = start;
        *n = (size_t)(p - start);
        return p + 1;
    }
    scratch->n = 0;
    if (mv_tbuf_append(scratch, start, (size_t)(p - start)) != 0) return NULL;
    while (p < end && *p != '"') {
        if ((uint8_t)*p < 0x20) return NULL; /* control characters must be escaped */
        if (*p == '\\') {
            if (!(p = unescape_one(p, end, scratch))) return NULL;
            continue;
        }
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\' && (uint8_t)*p >= 0x20) p++;
        if (mv_tbuf_append(scratch, run, (size_t)(p - run)) != 0) return NULL;
    }
    if (p == end) return NULL;
    *s = scratch->p ? scratch->p : "";
    *n = scratch->n;
    return p + 1;
}

static const char *digits(const char *p, const char *end) {
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9') q++;
    return q > p ? q : NULL;
}

const char *mv_json_number(const char *p, const char *end, double *v) {
    p = mv_json_ws(p, end);
    const char *start = p;
    int negative = p < end && *p == '-';
    p += negative;
    const char *int_end = digits(p, end);
    if (!int_end || (*p == '0' && int_end - p > 1)) return NULL;
    if (int_end - p <= 15 && (int_end == end || (*int_end != '.' && *int_end != 'e' && *int_end != 'E'))) {
        int64_t x = 0; /* plain integers (every token id): exact, no strtod */
        for (const char *q = p; q < int_end; q++) x = x * 10 + (*q - '0');
        *v = negative ? -(double)x : (double)x;
        return int_end;
    }
    p = int_end;
    if (p < end && *p == '.' && !(p = digits(p + 1, end))) return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!(p = digits(p, end))) return NULL;
    }
    char buf[64]; /* strtod needs a terminated copy; longer spellings are refused */
    if ((size_t)(p - start) >= sizeof buf) return NULL;
    memcpy(buf, start, (size_t)(p - start));
    buf[p - start] = '\0';
    *v = strtod(buf, NULL);
    return p;
}
