/* strmap.c — open-addressing string → int32 map with linear probing (see strmap.h). */
#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

/* A slot: (key offset + 1) << 32 | hash tag << 20 | key length. The tag (hash bits the index does not
 * use) settles almost every mismatch without touching the key bytes, which are a cache miss away. */
#define KEY_LEN_BITS 20
#define KEY_LEN_MASK ((1u << KEY_LEN_BITS) - 1)
#define TAG_BITS 12

/* FNV-1a over the bytes of a‖b, then a 64-bit finalizer so that both the low (index) and high (tag)
 * bits depend on every byte. */
static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

uint64_t mv_strmap_hash(const char *a, size_t na, const char *b, size_t nb) {
    uint64_t h = fnv1a(fnv1a(1469598103934665603ull, a, na), b, nb);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static uint64_t slot_tag_len(uint64_t h, size_t n) { return (h >> (64 - TAG_BITS)) << KEY_LEN_BITS | n; }

/* Index of the slot holding the key a‖b (hash h), or of the empty slot where it would go. */
static size_t find_slot_h(const mv_strmap *m, uint64_t h, const char *a, size_t na, const char *b, size_t nb) {
    const uint64_t low = ((uint64_t)1 << 32) - 1, tl = slot_tag_len(h, na + nb);
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (uint64_t s; (s = m->slots[i]) != 0; i = (i + 1) & mask) {
        const char *k = m->keys.p + (size_t)(s >> 32) - 1;
        if ((s & low) == tl && memcmp(k, a, na) == 0 && (nb == 0 || memcmp(k + na, b, nb) == 0)) break;
    }
    return i;
}

static size_t find_slot(const mv_strmap *m, const char *key, size_t n) {
    return find_slot_h(m, mv_strmap_hash(key, n, NULL, 0), key, n, NULL, 0);
}

static int grow_to(mv_strmap *m, size_t ncap) {
    uint64_t *ns = malloc(ncap * sizeof *ns);
    int32_t *nv = malloc(ncap * sizeof *nv);
    if (!ns || !nv) { free(ns); free(nv); return -1; }
    /* zeroed by writing: calloc's pages, read first by a probe, faulted twice (zero page, then copy) */
    memset(ns, 0, ncap * sizeof *ns);
    mv_strmap old = *m;
    m->slots = ns;
    m->vals = nv;
    m->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        uint64_t s = old.slots[i];
        if (!s) continue;
        size_t off = (size_t)(s >> 32) - 1, len = (size_t)(s & KEY_LEN_MASK);
        size_t j = find_slot(m, m->keys.p + off, len);
        m->slots[j] = s;
        m->vals[j] = old.vals[i];
    }
    free(old.slots);
    free(old.vals);
    return 0;
}

int mv_strmap_put_h(mv_strmap *m, uint64_t h, const char *key, size_t n, int32_t val) {
    if (n > KEY_LEN_MASK || m->keys.n + n >= UINT32_MAX) return -1;
    if ((m->count + 1) * 2 > m->cap && grow_to(m, m->cap ? m->cap * 2 : 1024) != 0) return -1; /* load <= 1/2 */
    size_t i = find_slot_h(m, h, key, n, NULL, 0);
    if (m->slots[i]) { m->vals[i] = val; return 0; }
    size_t off = m->keys.n;
    if (mv_tbuf_append(&m->keys, key, n) != 0) return -1;
    m->slots[i] = (uint64_t)(off + 1) << 32 | slot_tag_len(h, n);
    m->vals[i] = val;
    m->count++;
    return 0;
}

int mv_strmap_put(mv_strmap *m, const char *key, size_t n, int32_t val) {
    return mv_strmap_put_h(m, mv_strmap_hash(key, n, NULL, 0), key, n, val);
}

int mv_strmap_reserve(mv_strmap *m, size_t n, size_t key_bytes) {
    size_t cap = m->cap ? m->cap : 1024;
    while (cap < (m->count + n) * 2) cap *= 2;
    if (cap > m->cap && grow_to(m, cap) != 0) return -1;
    return mv_tbuf_reserve(&m->keys, key_bytes);
}

int32_t mv_strmap_get_h(const mv_strmap *m, uint64_t h, const char *a, size_t na, const char *b, size_t nb) {
    if (!m->cap) return -1;
    size_t i = find_slot_h(m, h, a, na, b, nb);
    return m->slots[i] ? m->vals[i] : -1;
}

int32_t mv_strmap_get(const mv_strmap *m, const char *key, size_t n) {
    return mv_strmap_get_h(m, mv_strmap_hash(key, n, NULL, 0), key, n, NULL, 0);
}

void mv_strmap_prefetch(const mv_strmap *m, uint64_t h) {
    if (!m->cap) return;
    const size_t i = (size_t)h & (m->cap - 1);
    __builtin_prefetch(&m->slots[i]);
    __builtin_prefetch(&m->vals[i]);
}

void mv_strmap_free(mv_strmap *m) {
    free(m->slots);
    free(m->vals);
    mv_tbuf_free(&m->keys);
    memset(m, 0, sizeof *m);
}
