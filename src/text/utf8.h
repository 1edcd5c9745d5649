/* utf8.h — growable byte buffer and UTF-8 helpers for the tokenizer (validation, lossy decoding with
 * U+FFFD per maximal invalid subpart, exactly as Python's bytes.decode(errors="replace") and Rust's
 * String::from_utf8_lossy do). */
#ifndef MV_TEXT_UTF8_H
#define MV_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct mv_tbuf {
    char *p;
    size_t n, cap;
} mv_tbuf;

/* Room for n more bytes (and the terminating NUL) without reallocating; 0, or -1 when out of memory. */
int mv_tbuf_reserve(mv_tbuf *b, size_t n);
/* Append n bytes; returns 0, or -1 when out of memory (the buffer is left as it was). The buffer is
 * always kept NUL-terminated after a successful append. */
int mv_tbuf_append(mv_tbuf *b, const void *data, size_t n);
void mv_tbuf_free(mv_tbuf *b);

typedef enum mv_utf8_kind {
    MV_UTF8_OK,         /* a complete, valid sequence */
    MV_UTF8_INVALID,    /* a maximal invalid subpart: stands for one U+FFFD */
    MV_UTF8_INCOMPLETE  /* a valid prefix cut off by the end of the input */
} mv_utf8_kind;

/* Classify the sequence starting at s[0] (n >= 1); *len gets the number of bytes it spans and, for
 * MV_UTF8_OK, *cp the code point (cp may be NULL). */
mv_utf8_kind mv_utf8_next(const uint8_t *s, size_t n, size_t *len, uint32_t *cp);

/* 1 when s[0..n) is entirely valid UTF-8. */
int mv_utf8_valid(const char *s, size_t n);

/* Append the lossy decoding of s[0..n) to out. When final is 0, a trailing incomplete sequence is not
 * decoded and *used says how many bytes were consumed (the caller keeps the rest for later); when final
 * is 1 everything is consumed and a trailing incomplete sequence becomes one U+FFFD.
 * Returns 0, or -1 when out of memory. */
int mv_utf8_lossy(const uint8_t *s, size_t n, int final, mv_tbuf *out, size_t *used);

/* Encode one code point (< 0x110000) as UTF-8 into buf (4 bytes room); returns its length. */
size_t mv_utf8_encode(uint32_t cp, char *buf);

#endif
