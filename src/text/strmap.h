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

/* Batches of lookups or inserts (a vocabulary, its merges) wait on cache misses one key at a time;
 * hashing a few keys ahead and prefetching their first slots overlaps the misses. */
/* The hash of the key a‖b (b may be empty: NULL, 0). */
uint64_t mv_strmap_hash(const char *a, size_t na, const char *b, size_t nb);
/* Pulls the first slot a key of hash h probes into the cache. */
void mv_strmap_prefetch(const mv_strmap *m, uint64_t h);
/* mv_strmap_get of the key a‖b, h its mv_strmap_hash. */
int32_t mv_strmap_get_h(const mv_strmap *m, uint64_t h, const char *a, size_t na, const char *b, size_t nb);
/* mv_strmap_put, h the key's mv_strmap_hash. */
int mv_strmap_put_h(mv_strmap *m, uint64_t h, const char *key, size_t n, int32_t val);

#endif
