/* test_safetensors_bad.c — the safetensors reader and shard-set loader turn every malformed input into a
 * clear MV_ERR_FORMAT / MV_ERR_IO naming the file and tensor, never a crash; valid files round-trip;
 * mv_weights_release hands back only whole pages of a checkpoint's own mappings, and the data reads
 * the same afterwards. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char dir_buf[1024];

static const char *path_of(const char *name) {
    static char buf[4][2048];
    static int next;
    char *b = buf[next++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir_buf, name);
    return b;
}

/* A file with an 8-byte little-endian length `hlen`, then `header`, then `data_len` bytes of data. */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, size_t data_len) {
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, hl);
    const char *p = path_of(name);
    CHECK(mvt_write_file(p, buf, n) == 0, "write %s", p);
    free(buf);
    return p;
}

static const char *write_st(const char *name, const char *header, size_t data_len) {
    return write_raw(name, strlen(header), header, data_len);
}

static void expect_fail(const char *what, const char *path, mv_status code, const char *s1, const char *s2) {
    mv_safetensors *st = NULL;
    mv_error err = { 0 };
    mv_status rc = mv_st_open(path, &st, &err);
    CHECK(rc == code && st == NULL, "%s: got %s, want %s (%s)", what, mv_status_name(rc), mv_status_name(code), err.message);
    CHECK(strstr(err.message, s1) && (!s2 || strstr(err.message, s2)), "%s: message lacks '%s'/'%s': %s", what, s1, s2 ? s2 : "", err.message);
    printf("%-22s %s: %s\n", what, mv_status_name(rc), err.message);
    mv_st_close(st);
}

#define T4(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void check_files(void) {
    const char *p = path_of("short.safetensors");
    CHECK(mvt_write_file(p, "abcd", 4) == 0, "write");
    expect_fail("short file", p, MV_ERR_FORMAT, "short.safetensors", "truncated");
    expect_fail("header past EOF", write_raw("hdr-eof.safetensors", 1000, "{}", 0), MV_ERR_FORMAT, "hdr-eof.safetensors", "past the end");
    expect_fail("huge header length", write_raw("hdr-huge.safetensors", ~0ull, "{}", 0), MV_ERR_FORMAT, "hdr-huge.safetensors", "past the end");
    /* a sparse 200 MB file whose header claims 150 MB: over the header limit, not a 150 MB allocation */
    const char *big = write_raw("hdr-limit.safetensors", 150u << 20, "{}", 0);
    CHECK(truncate(big, 200 << 20) == 0, "truncate");
    expect_fail("header over limit", big, MV_ERR_FORMAT, "hdr-limit.safetensors", "100 MB");
    remove(big);
    expect_fail("truncated data", write_st("trunc.safetensors", "{" T4("a", "F32", "[4]", 0, 16) "}", 8), MV_ERR_FORMAT, "'a'", "past the end");
    expect_fail("offsets out of range", write_st("range.safetensors", "{" T4("w", "F32", "[4]", 1099511627776, 1099511627792) "}", 16),
                MV_ERR_FORMAT, "'w'", "past the end");
    expect_fail("offsets reversed", write_st("rev.safetensors", "{" T4("w", "F32", "[2]", 8, 0) "}", 8), MV_ERR_FORMAT, "'w'", "invalid data_offsets");
    expect_fail("offsets negative", write_st("neg.safetensors", "{" T4("w", "F32", "[2]", -8, 0) "}", 8), MV_ERR_FORMAT, "'w'", "invalid data_offsets");
    expect_fail("size mismatch", write_st("size.safetensors", "{" T4("w", "F32", "[4]", 0, 12) "}", 16), MV_ERR_FORMAT, "'w'", "does not match");
    expect_fail("overlap", write_st("overlap.safetensors", "{" T4("a", "F32", "[4]", 0, 16) "," T4("b", "F32", "[4]", 8, 24) "}", 24),
                MV_ERR_FORMAT, "overlap", "'a'");
    expect_fail("bad JSON", write_st("json.safetensors", "{\"a\":{\"dtype\":", 0), MV_ERR_FORMAT, "json.safetensors", "not a JSON object");
    expect_fail("JSON array", write_st("array.safetensors", "[1,2,3]", 0), MV_ERR_FORMAT, "array.safetensors", "not a JSON object");
    expect_fail("unknown dtype", write_st("dtype.safetensors", "{" T4("w", "F8_E4M3", "[4]", 0, 4) "}", 4), MV_ERR_FORMAT, "'w'", "F8_E4M3");
    expect_fail("duplicate names", write_st("dup.safetensors", "{" T4("w", "F32", "[1]", 0, 4) "," T4("w", "F32", "[1]", 4, 8) "}", 8),
                MV_ERR_FORMAT, "'w'", "twice");
    expect_fail("missing fields", write_st("fields.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), MV_ERR_FORMAT, "'w'", "data_offsets");
    expect_fail("entry not object", write_st("entry.safetensors", "{\"w\":5}", 0), MV_ERR_FORMAT, "'w'", "not an object");
    expect_fail("bad shape", write_st("shape.safetensors", "{" T4("w", "F32", "[-1]", 0, 4) "}", 4), MV_ERR_FORMAT, "'w'", "invalid shape");
    expect_fail("fractional shape", write_st("shape2.safetensors", "{" T4("w", "F32", "[1.5]", 0, 4) "}", 4), MV_ERR_FORMAT, "'w'", "invalid shape");
    expect_fail("too many dims", write_st("dims.safetensors", "{" T4("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4), MV_ERR_FORMAT, "'w'", "dims");
    expect_fail("metadata not object", write_st("meta.safetensors", "{\"__metadata__\":3}", 0), MV_ERR_FORMAT, "__metadata__", NULL);
    expect_fail("missing file", path_of("absent.safetensors"), MV_ERR_IO, "absent.safetensors", "cannot open");
    expect_fail("a directory", dir_buf, MV_ERR_IO, dir_buf, "not a regular file");

    /* A valid hand-made file: padded header, gap-free data, metadata. */
    mv_safetensors *st = NULL;
    mv_error err = { 0 };
    const char *ok = write_st("ok.safetensors", "{" T4("a", "F32", "[2]", 0, 8) ",\"__metadata__\":{\"format\":\"pt\"}}  ", 8);
    CHECK(mv_st_open(ok, &st, &err) == MV_OK, "valid file rejected: %s", err.message);
    CHECK(st && mv_st_count(st) == 1 && mv_st_find(st, "a") && strcmp(mv_st_metadata(st, "format"), "pt") == 0, "valid file content");
    mv_st_close(st);
}

/* One shard file holding the named F32 [2] tensors. */
static void write_shard(const char *dir, const char *file, const char *const *names, int n) {
    static const float data[2] = { 1.5f, -2.0f };
    const int64_t shape[1] = { 2 };
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    mv_st_writer *w = mv_stw_new();
    mv_error err = { 0 };
    for (int i = 0; i < n; i++) CHECK(mv_stw_add(w, names[i], MV_F32, 1, shape, data, &err) == MV_OK, "%s", err.message);
    CHECK(mv_stw_write(w, p, &err) == MV_OK, "%s", err.message);
    mv_stw_free(w);
}

/* A fresh checkpoint dir with shard-1 {a, b}, shard-2 {c} and the given index text. */
static const char *make_sharded(const char *name, const char *index) {
    const char *dir = path_of(name);
    mkdir(dir, 0777);
    static const char *const s1[] = { "a", "b" }, *const s2[] = { "c" };
    write_shard(dir, "shard-1.safetensors", s1, 2);
    write_shard(dir, "shard-2.safetensors", s2, 1);
    char p[2048];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    CHECK(mvt_write_file(p, index, strlen(index)) == 0, "write index");
    return dir;
}

static void expect_dir_fail(const char *what, const char *dir, mv_status code, const char *s1, const char *s2) {
    mv_weights *w = NULL;
    mv_error err = { 0 };
    mv_status rc = mv_weights_open_dir(dir, &w, &err);
    CHECK(rc == code && w == NULL, "%s: got %s, want %s (%s)", what, mv_status_name(rc), mv_status_name(code), err.message);
    CHECK(strstr(err.message, s1) && (!s2 || strstr(err.message, s2)), "%s: message lacks '%s'/'%s': %s", what, s1, s2 ? s2 : "", err.message);
    printf("%-22s %s: %s\n", what, mv_status_name(rc), err.message);
    mv_weights_close(w);
}

static void check_shards(void) {
    const char *good = make_sharded("sharded-ok", "{\"weight_map\":{\"a\":\"shard-1.safetensors\",\"b\":\"shard-1.safetensors\",\"c\":\"shard-2.safetensors\"}}");
    mv_weights *w = NULL;
    mv_error err = { 0 };
    CHECK(mv_weights_open_dir(good, &w, &err) == MV_OK, "valid sharded dir: %s", err.message);
    if (w) {
        const mv_tensor *c = mv_weights_find(w, "c");
        CHECK(mv_weights_count(w) == 3 && c && ((const float *)c->data)[1] == -2.0f && mv_weights_bytes(w) == 24, "sharded content");
        mv_weights_close(w);
    }
    const char *empty = path_of("empty-dir");
    mkdir(empty, 0777);
    expect_dir_fail("no checkpoint", empty, MV_ERR_IO, "empty-dir", "model.safetensors");
    expect_dir_fail("missing shard", make_sharded("sharded-noshard", "{\"weight_map\":{\"a\":\"shard-1.safetensors\",\"z\":\"shard-9.safetensors\"}}"),
                    MV_ERR_IO, "shard-9.safetensors", NULL);
    expect_dir_fail("missing tensor", make_sharded("sharded-notensor", "{\"weight_map\":{\"a\":\"shard-1.safetensors\",\"d\":\"shard-2.safetensors\"}}"),
                    MV_ERR_FORMAT, "'d'", "shard-2.safetensors");
    expect_dir_fail("path in index", make_sharded("sharded-path", "{\"weight_map\":{\"a\":\"../shard-1.safetensors\"}}"),
                    MV_ERR_FORMAT, "'a'", "plain file name");
    expect_dir_fail("index not JSON", make_sharded("sharded-json", "{\"weight_map\":"), MV_ERR_FORMAT, "model.safetensors.index.json", "weight_map");
    /* shard-3 repeats tensor "a" of shard-1 */
    const char *dup = make_sharded("sharded-dup", "{\"weight_map\":{\"a\":\"shard-1.safetensors\",\"x\":\"shard-3.safetensors\"}}");
    static const char *const s3[] = { "a", "x" };
    write_shard(dup, "shard-3.safetensors", s3, 2);
    expect_dir_fail("tensor in two shards", dup, MV_ERR_FORMAT, "'a'", "two shards");
    /* a broken shard's own error comes through, naming the shard */
    const char *broken = make_sharded("sharded-broken", "{\"weight_map\":{\"a\":\"shard-1.safetensors\",\"c\":\"shard-2.safetensors\"}}");
    char p[2048];
    snprintf(p, sizeof p, "%s/shard-2.safetensors", broken);
    CHECK(mvt_write_file(p, "\x10\0\0\0\0\0\0\0{", 9) == 0, "write");
    expect_dir_fail("broken shard", broken, MV_ERR_FORMAT, "shard-2.safetensors", "past the end");
}

/* A 256 KB tensor: released pages read back from the file unchanged; ranges outside the mappings, or
 * smaller than a page, release nothing. */
static void check_release(void) {
    enum { N = 65536 };
    const char *dir = path_of("release");
    mkdir(dir, 0777);
    float *data = malloc(N * sizeof *data);
    for (int i = 0; i < N; i++) data[i] = (float)i * 0.5f;
    const int64_t shape[1] = { N };
    char p[2048];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    mv_st_writer *wr = mv_stw_new();
    mv_error err = { 0 };
    CHECK(mv_stw_add(wr, "big", MV_F32, 1, shape, data, &err) == MV_OK && mv_stw_write(wr, p, &err) == MV_OK, "%s", err.message);
    mv_stw_free(wr);
    mv_weights *w = NULL;
    CHECK(mv_weights_open_dir(dir, &w, &err) == MV_OK, "release dir: %s", err.message);
    const mv_tensor *t = w ? mv_weights_find(w, "big") : NULL;
    if (t) {
        const float *v = t->data;
        const size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = N * sizeof(float);
        double before = 0, after = 0;
        for (int i = 0; i < N; i++) before += v[i];
        const size_t got = mv_weights_release(w, v, bytes);
        CHECK(got >= bytes - 2 * page && got <= bytes && got % page == 0, "released %zu of %zu bytes", got, bytes);
        int same = 1;
        for (int i = 0; i < N; i++) same &= v[i] == data[i], after += v[i];
        CHECK(same && after == before, "data after release: sum %.1f, want %.1f", after, before);
        CHECK(mv_weights_release(w, data, bytes) == 0, "a buffer outside the mappings was released");
        CHECK(mv_weights_release(w, v + N / 2, bytes) == 0, "a range running past the mapping was released");
        CHECK(mv_weights_release(w, v, page / 2) == 0, "less than a page was released");
        CHECK(mv_weights_release(NULL, v, bytes) == 0, "released without a checkpoint");
    }
    mv_weights_close(w);
    free(data);
}

int main(void) {
    snprintf(dir_buf, sizeof dir_buf, "%s", mvt_build("io-test"));
    mkdir(dir_buf, 0777);
    check_files();
    check_shards();
    check_release();
    return mvt_done("test_safetensors_bad");
}
