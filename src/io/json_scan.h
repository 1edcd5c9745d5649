/* json_scan.h — reading large, flat JSON values straight from the file text, without a DOM.
 *
 * A tokenizer.json holds ~150k vocabulary entries and ~150k merges; cJSON builds a heap node per entry
 * and its parse, allocations and page faults were most of the model's load time. The tokenizer locates
 * those two values with mv_json_find and mv_json_members, hands the rest of the file (with the two values cut out) to
 * cJSON, and reads the two values element by element with the functions below. Every reader checks
 * the RFC 8259 grammar of what it reads, so an invalid file is still refused. */
#ifndef MV_IO_JSON_SCAN_H
#define MV_IO_JSON_SCAN_H

#include <stddef.h>

#include "text/utf8.h"

/* A value's text: [p, end). */
typedef struct mv_json_span {
    const char *p, *end;
} mv_json_span;

/* First non-whitespace byte at or after p (end when none). */
const char *mv_json_ws(const char *p, const char *end);

/* End of the value that starts at p (leading whitespace skipped), or NULL when brackets or strings do
 * not close. Only the structure is checked: scalars are skipped as runs of bytes, to be validated by
 * whoever reads them. *n_items (may be NULL) gets the number of elements when the value is an object
 * or array (counted by top-level commas, so a malformed value may miscount). */
const char *mv_json_skip(const char *p, const char *end, size_t *n_items);

/* Where the value of the first member named key of the object at obj starts (the value itself is not
 * read), or NULL when absent, when obj is not an object, or when it is malformed before that member. */
const char *mv_json_find(const char *obj, const char *end, const char *key);

/* One pass over the object at obj: values[k] gets the span of the first member named keys[k] (p NULL
 * when absent). Returns the position after the object, or NULL when it is not a well-formed one. */
const char *mv_json_members(const char *obj, const char *end, const char *const *keys, mv_json_span *values,
                            size_t n_keys);

/* The string at p (leading whitespace skipped): *s, *n get its unescaped bytes, which point into the
 * text when it has no escapes and into scratch otherwise (valid until scratch's next use). Returns the
 * position after the closing quote, or NULL when p is not a valid string. */
const char *mv_json_string(const char *p, const char *end, mv_tbuf *scratch, const char **s, size_t *n);

/* The number at p (leading whitespace skipped), in full JSON number syntax. Returns the position after
 * it, or NULL when p is not a number. */
const char *mv_json_number(const char *p, const char *end, double *v);

/* Elements of an object or array one at a time. Start with mv_json_iter_begin at the opening bracket;
 * each mv_json_iter_next returns 1 with it->p at the next element (the reader advances it->p past
 * the element), 0 after the closing bracket, -1 when the text between elements is malformed. */
typedef struct mv_json_iter {
    const char *p, *end;
    char close;
    int started;
} mv_json_iter;

/* 0, or -1 when the value at p is not a `open` ('{' or '[') container. */
int mv_json_iter_begin(mv_json_iter *it, const char *p, const char *end, char open);
int mv_json_iter_next(mv_json_iter *it);

/* Inside an object: past the ':' after a member's key (whitespace skipped); 0, or -1 when absent. */
int mv_json_iter_colon(mv_json_iter *it);

#endif
