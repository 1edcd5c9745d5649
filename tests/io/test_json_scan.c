/* test_json_scan.c — the DOM-free JSON readers agree with cJSON on what they share (string unescaping,
 * numbers, structure) and refuse what RFC 8259 refuses, each case checked for its value, not only its
 * status. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_scan.h"
#include "testutil.h"

static const char *end_of(const char *s) { return s + strlen(s); }

/* Strings with escapes must unescape to the bytes cJSON produces. */
static void test_strings_match_cjson(void) {
    static const char *const cases[] = {
        "\"plain\"", "\"\"", "\"a\\\"b\"", "\"back\\\\slash\"", "\"\\/\\b\\f\\n\\r\\t\"", "\"\\u0120the\"",
        "\"\\u00e9t\\u00E9\"", "\"\\ud83d\\ude00 smile\"", "\"raw \xc4\xa0 utf8\"", "\"\\\\\"",
        "\"mix \\u4e2d\xe6\x96\x87\\n\"",
    };
    mv_tbuf scratch = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *text = cases[i], *end = text + strlen(text), *s = NULL;
        size_t n = 0;
        const char *after = mv_json_string(text, end, &scratch, &s, &n);
        cJSON *ref = cJSON_Parse(text);
        CHECK(ref && cJSON_IsString(ref), "cJSON refuses case %zu", i);
        CHECK(after == end, "case %zu: stopped at %td of %td", i, after ? after - text : -1, end - text);
        if (ref && after)
            CHECK(n == strlen(ref->valuestring) && memcmp(s, ref->valuestring, n) == 0, "case %zu: got \"%.*s\", want \"%s\"",
                  i, (int)n, s, ref->valuestring);
        cJSON_Delete(ref);
    }
    mv_tbuf_free(&scratch);
}

static void test_bad_strings(void) {
    static const char *const cases[] = {
        "\"open", "\"bad \\x escape\"", "\"\\u12\"", "\"\\u12G4\"", "\"lone \\ud800 high\"", "\"lone \\udc00 low\"",
        "\"\\ud800\\u0041\"", "\"raw\tcontrol\"", "noquote", "\"ends in backslash\\",
    };
    mv_tbuf scratch = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *s;
        size_t n;
        CHECK(mv_json_string(cases[i], cases[i] + strlen(cases[i]), &scratch, &s, &n) == NULL, "accepted bad string %s",
              cases[i]);
    }
    mv_tbuf_free(&scratch);
    /* \u0000 is a real byte, kept in the length (cJSON would cut the string there) */
    const char *nul = "\"a\\u0000b\"", *s;
    size_t n;
    CHECK(mv_json_string(nul, nul + strlen(nul), &scratch, &s, &n) && n == 3 && memcmp(s, "a\0b", 3) == 0, "\\u0000");
    mv_tbuf_free(&scratch);
}

static void test_numbers(void) {
    static const struct { const char *text; double want; size_t used; } good[] = {
        {"0", 0, 1}, {"151642,", 151642, 6}, {"-7}", -7, 2}, {"2.5", 2.5, 3}, {"1e3", 1000, 3}, {"12.0E-1 ", 1.2, 7},
        {"9007199254740993", 9007199254740992.0, 16},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        double v = -1;
        const char *t = good[i].text, *after = mv_json_number(t, t + strlen(t), &v);
        CHECK(after == t + good[i].used && v == good[i].want, "number %s: got %.17g after %td", t, v,
              after ? after - t : -1);
    }
    static const char *const bad[] = {"-", "01", "1.", ".5", "1e", "+1", "x", "\"1\"", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double v;
        CHECK(mv_json_number(bad[i], bad[i] + strlen(bad[i]), &v) == NULL, "accepted bad number \"%s\"", bad[i]);
    }
}

static void test_skip_and_members(void) {
    const char *obj = "{ \"a\": [1, {\"x\": \"]}\"}, \"q\\\"}\"], \"model\" : {\"vocab\": {\"k\": 1, \"l\": 2},"
                      " \"merges\": [], \"vocab\": 0}, \"model\": null } trailing";
    const char *end = obj + strlen(obj);
    size_t n_items = 99;
    const char *after = mv_json_skip(obj, end, &n_items);
    CHECK(after && strcmp(after, " trailing") == 0 && n_items == 3, "skip: n_items %zu, rest \"%s\"", n_items,
          after ? after : "(null)");
    CHECK(mv_json_skip("[ ]", end_of("[ ]"), &n_items) && n_items == 0, "empty array counts %zu", n_items);
    CHECK(mv_json_skip("[\"a,b\", [1,2]]", end_of("[\"a,b\", [1,2]]"), &n_items) && n_items == 2, "nested commas: %zu",
          n_items);
    CHECK(mv_json_skip("{\"a\": [1}", end_of("{\"a\": [1}"), NULL) == NULL, "unclosed bracket accepted");

    const char *model = mv_json_find(obj, end, "model");
    CHECK(model && *model == '{', "find model");
    static const char *const keys[] = {"vocab", "merges", "absent"};
    mv_json_span v[3];
    const char *model_end = model ? mv_json_members(model, end, keys, v, 3) : NULL;
    CHECK(model_end && strncmp(model_end, ", \"model\": null", 15) == 0, "members: end");
    CHECK(v[0].p && v[0].end - v[0].p == 16 && strncmp(v[0].p, "{\"k\": 1, \"l\": 2}", 16) == 0,
          "first vocab member wins");
    CHECK(v[1].p && v[1].end - v[1].p == 2, "merges span");
    CHECK(v[2].p == NULL, "absent key");
    CHECK(mv_json_find(obj, end, "nope") == NULL, "find absent");
    CHECK(mv_json_find("[1]", end_of("[1]"), "a") == NULL, "find in array");
    CHECK(mv_json_members("{\"a\" 1}", end_of("{\"a\" 1}"), keys, v, 1) == NULL, "member without colon accepted");
}

static void test_iterator(void) {
    const char *cases[] = {"[1, 2, 3]", "[]", "[1,]", "[1 2]", "[,1]"};
    const int want[] = {3, 0, -1, -1, -1};
    for (size_t i = 0; i < 5; i++) {
        mv_json_iter it;
        const char *end = cases[i] + strlen(cases[i]);
        int r, count = 0;
        CHECK(mv_json_iter_begin(&it, cases[i], end, '[') == 0, "begin %s", cases[i]);
        while ((r = mv_json_iter_next(&it)) == 1) {
            double v;
            const char *after = mv_json_number(it.p, end, &v);
            if (!after) { r = -1; break; }
            it.p = after;
            count++;
        }
        CHECK((r == 0 ? count : -1) == want[i], "iterate %s: got %d", cases[i], r == 0 ? count : -1);
    }
}

int main(void) {
    test_strings_match_cjson();
    test_bad_strings();
    test_numbers();
    test_skip_and_members();
    test_iterator();
    return mvt_done("test_json_scan");
}
