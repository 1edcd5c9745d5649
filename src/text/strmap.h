/* strmap.h — byte-string → int32 hash map (open addressing) for token vocabularies. Keys are copied
 * into the map's own storage; keys may hold any bytes, NUL included. */
#ifndef MV_TEXT_STRMAP_H
#define MV_TEXT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "text/utf8.h"

typedef struct mv_strmap {
    uint64_t *slots;  /* 0 = empty, else key offset, hash tag and length; see strmap.c */
    int32_t *vals;
    size_t cap, count; /* cap: power of two */
    mv_tbuf keys;
} mv_strmap;

/* Insert or overwrite; returns 0, or -1 when out of memory, the key is too long (>= 1 MiB) or the keys
 * would exceed 4 GiB. */
int mv_strmap_put(mv_strmap *m, const char *key, size_t n, int32_t val);
/* Room for n more keys of key_bytes bytes in all without rehashing (a hint: the map still grows past
 * it); 0, or -1 when out of memory. */
int mv_strmap_reserve(mv_strmap *m, size_t n, size_t key_bytes);
/* Value for key, or -1 when absent. */
int32_t mv_strmap_get(const mv_strmap *m, const char *key, size_t n);
void mv_strmap_free(mv_strmap *m);

#endif
