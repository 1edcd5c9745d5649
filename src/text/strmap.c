/* strmap.c — open-addressing string → int32 map with linear probing (see strmap.h). */
#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

#define KEY_LEN_BITS 24
#define KEY_LEN_MASK ((1u << KEY_LEN_BITS) - 1)

/* FNV-1a: short keys, good enough spread once mixed by the final multiply. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int slot_matches(const mv_strmap *m, uint64_t slot, const char *key, size_t n) {
    size_t len = (size_t)(slot & KEY_LEN_MASK);
    size_t off = (size_t)(slot >> KEY_LEN_BITS) - 1;
    return len == n && memcmp(m->keys.p + off, key, n) == 0;
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t find_slot(const mv_strmap *m, const char *key, size_t n) {
    size_t mask = m->cap - 1, i = (size_t)hash_bytes(key, n) & mask;
    while (m->slots[i] && !slot_matches(m, m->slots[i], key, n)) i = (i + 1) & mask;
    return i;
}

static int grow(mv_strmap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    uint64_t *ns = calloc(ncap, sizeof *ns);
    int32_t *nv = malloc(ncap * sizeof *nv);
    if (!ns || !nv) { free(ns); free(nv); return -1; }
    mv_strmap old = *m;
    m->slots = ns;
    m->vals = nv;
    m->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        uint64_t s = old.slots[i];
        if (!s) continue;
        size_t off = (size_t)(s >> KEY_LEN_BITS) - 1, len = (size_t)(s & KEY_LEN_MASK);
        size_t j = find_slot(m, m->keys.p + off, len);
        m->slots[j] = s;
        m->vals[j] = old.vals[i];
    }
    free(old.slots);
    free(old.vals);
    return 0;
}

int mv_strmap_put(mv_strmap *m, const char *key, size_t n, int32_t val) {
    if (n > KEY_LEN_MASK) return -1;
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) return -1; /* load factor <= 1/2 */
    size_t i = find_slot(m, key, n);
    if (m->slots[i]) { m->vals[i] = val; return 0; }
    size_t off = m->keys.n;
    if (mv_tbuf_append(&m->keys, key, n) != 0) return -1;
    m->slots[i] = ((uint64_t)(off + 1) << KEY_LEN_BITS) | n;
    m->vals[i] = val;
    m->count++;
    return 0;
}

int32_t mv_strmap_get(const mv_strmap *m, const char *key, size_t n) {
    if (!m->cap) return -1;
    size_t i = find_slot(m, key, n);
    return m->slots[i] ? m->vals[i] : -1;
}

void mv_strmap_free(mv_strmap *m) {
    free(m->slots);
    free(m->vals);
    mv_tbuf_free(&m->keys);
    memset(m, 0, sizeof *m);
}
