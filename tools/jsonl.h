/* jsonl.h — minimal JSON helpers for line-oriented CLI modes: read a string member of one JSON object
 * keeping every character (NUL included, which cJSON cannot), and write JSON string literals. */
#ifndef MV_TOOLS_JSONL_H
#define MV_TOOLS_JSONL_H

#include <stddef.h>
#include <stdio.h>

/* Decode the string value of top-level member `key` of the JSON object in line[0..n) into a malloc'd,
 * NUL-terminated buffer (*out, *out_len). Returns 0 on success, 1 when the object has no such member,
 * -1 when the line is not a JSON object or the value is not a string (*why says what is wrong). */
int mv_jsonl_get_string(const char *line, size_t n, const char *key, char **out, size_t *out_len,
                        const char **why);

/* Write s[0..n) as a JSON string literal: quotes, backslashes and control characters escaped, other
 * bytes (UTF-8) written as they are. */
void mv_jsonl_put_string(FILE *f, const char *s, size_t n);

#endif
