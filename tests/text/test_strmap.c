/* test_strmap.c — the tokenizer's string → id map: keys with any bytes (NUL, empty), overwrites, growth
 * well past the first table, lookups of a key given in two parts (the merged side of a BPE merge)
 * against the same key whole, and keys that share a length or a prefix with present ones. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "text/strmap.h"

enum { N_KEYS = 5000 };

/* Key i: "k<i>" then i % 7 NUL-or-letter bytes, so lengths and prefixes collide often. */
static size_t key_of(int i, char *buf) {
    size_t n = (size_t)snprintf(buf, 32, "k%d", i);
    for (int j = 0; j < i % 7; j++) buf[n++] = (char)(j % 2 ? 'a' + j : 0);
    return n;
}

/* A map of one key a‖b and a search for another key a‖c of the same length whose hash lands on the
 * same first slot with the same tag bits (22 bits: ~4M tries): only comparing the second part's bytes
 * tells them apart. Slot index and tag are the hash's low and high bits (strmap.c). */
static void check_second_part_compared(void) {
    mv_strmap m = { 0 };
    CHECK(mv_strmap_put(&m, "abcdef", 6, 9) == 0 && m.cap == 1024, "one key: cap %zu", m.cap);
    const uint64_t hx = mv_strmap_hash("ab", 2, "cdef", 4), match = (hx & 1023) | (hx >> 52 << 52);
    for (uint32_t c = 0; c < (1u << 28); c++) {
        char tail[4];
        memcpy(tail, &c, 4);
        const uint64_t h = mv_strmap_hash("ab", 2, tail, 4);
        if (((h & 1023) | (h >> 52 << 52)) != match || memcmp(tail, "cdef", 4) == 0) continue;
        CHECK(mv_strmap_get_h(&m, h, "ab", 2, tail, 4) == -1, "a colliding key with another second part found");
        mv_strmap_free(&m);
        return;
    }
    CHECK(0, "no colliding key found");
    mv_strmap_free(&m);
}

int main(void) {
    check_second_part_compared();
    mv_strmap m = { 0 };
    CHECK(mv_strmap_get(&m, "x", 1) == -1, "empty map finds a key");
    char key[32];
    for (int i = 0; i < N_KEYS; i++) { /* from an empty map: grows through several tables */
        size_t n = key_of(i, key);
        CHECK(mv_strmap_put(&m, key, n, i) == 0, "put %d", i);
    }
    CHECK(mv_strmap_put(&m, "", 0, 77) == 0, "put of the empty key");
    CHECK(m.count == N_KEYS + 1, "count %zu", m.count);
    for (int i = 0; i < N_KEYS; i++) {
        size_t n = key_of(i, key);
        CHECK(mv_strmap_get(&m, key, n) == i, "get %d", i);
        for (size_t cut = 0; cut <= n; cut++) { /* the same key in two parts, every split */
            const uint64_t h = mv_strmap_hash(key, cut, key + cut, n - cut);
            CHECK(h == mv_strmap_hash(key, n, NULL, 0), "hash of key %d split at %zu differs", i, cut);
            CHECK(mv_strmap_get_h(&m, h, key, cut, key + cut, n - cut) == i, "two-part get %d at %zu", i, cut);
        }
        key[n] = 'z'; /* no key has a 'z' */
        CHECK(mv_strmap_get(&m, key, n + 1) == -1, "key %d plus a byte found", i);
        if (n > 1) CHECK(mv_strmap_get(&m, key, n - 1) != i, "key %d minus a byte finds it", i);
    }
    CHECK(mv_strmap_get(&m, "", 0) == 77, "empty key");
    CHECK(mv_strmap_get(&m, "k7\0", 3) == -1, "k7 + NUL is not k7"); /* key 7 has no tail */
    /* a two-part key whose halves exist alone but not joined */
    CHECK(mv_strmap_get_h(&m, mv_strmap_hash("k1", 2, "k2", 2), "k1", 2, "k2", 2) == -1, "k1|k2 found");
    /* overwrite keeps one entry */
    size_t n = key_of(42, key);
    CHECK(mv_strmap_put_h(&m, mv_strmap_hash(key, n, NULL, 0), key, n, -5) == 0, "overwrite");
    CHECK(mv_strmap_get(&m, key, n) == -5 && m.count == N_KEYS + 1, "overwrite: %d, count %zu",
          mv_strmap_get(&m, key, n), m.count);
    mv_strmap_prefetch(&m, 12345); /* a hint only: any hash */
    mv_strmap_free(&m);
    mv_strmap_prefetch(&m, 1);     /* and on an empty map */
    return mvt_done("test_strmap");
}
