/* test_tok_errors.c — bad input gives a clear message and a non-zero exit, never a crash: broken or
 * incomplete tokenizer files (tokenizer.json, vocab/merges, tokenizer.model: truncated, random bytes,
 * JSON renamed), directories without tokenizer files, bad JSONL / non-UTF-8 input to the CLI, and
 * unknown ids / invalid text / NULL arguments at the library level. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "testutil.h"
#include "text/tokenizer.h"

/* Make build/tests/text/<name>/ holding the given files (name, content pairs, NULL-terminated). */
static const char *make_dir(const char *name, const char *const *files) {
    static char dir[2048];
    char rel[256];
    snprintf(rel, sizeof rel, "tests/text/%s", name);
    snprintf(dir, sizeof dir, "%s", mvt_build(rel));
    mkdir(dir, 0755);
    for (const char *const *f = files; f && f[0]; f += 2) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, f[0]);
        CHECK(mvt_write_file(path, f[1], strlen(f[1])) == 0, "write %s", path);
    }
    return dir;
}

/* Run the CLI (stderr captured too); expect a non-zero exit and `want` in the message. */
static void cli_fails(const char *what, const char *args, const char *want) {
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s/minivl' tokenize %s 2>&1", MV_BUILD_DIR, args);
    int rc = mvt_run(cmd, &out);
    CHECK(rc > 0 && rc < 128, "%s: exit status %d (want a clean failure)", what, rc);
    CHECK(out && strstr(out, want), "%s: message lacks \"%s\": %s", what, want, out ? out : "(none)");
    printf("%-28s exit %d: %s", what, rc, out ? out : "\n");
    free(out);
}

static void cli_dir_fails(const char *what, const char *dir, const char *want) {
    char args[4200];
    snprintf(args, sizeof args, "-m '%s' -p hello", dir);
    cli_fails(what, args, want);
}

/* Library: load must fail with code and message. */
static void load_fails(const char *what, const char *dir, mv_status code, const char *want) {
    mv_tokenizer *tok = (mv_tokenizer *)1;
    mv_error err = {0};
    mv_status rc = mv_tokenizer_load_dir(dir, &tok, &err);
    CHECK(rc == code, "%s: got %s, want %s (%s)", what, mv_status_name(rc), mv_status_name(code), err.message);
    CHECK(tok == NULL, "%s: *out not cleared", what);
    CHECK(strstr(err.message, want) != NULL, "%s: message lacks \"%s\": %s", what, want, err.message);
}

static void test_bad_files(void) {
    const char *d;
    d = make_dir("bad_notjson", (const char *const[]){"tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0,,}}", NULL});
    cli_dir_fails("tokenizer.json not JSON", d, "not valid JSON");
    load_fails("not JSON", d, MV_ERR_FORMAT, "tokenizer.json: not valid JSON");
    d = make_dir("bad_novocab", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    cli_dir_fails("no model.vocab", d, "model.vocab");
    load_fails("no model.vocab", d, MV_ERR_FORMAT, "model.vocab missing or not an object");
    d = make_dir("bad_nomodel", (const char *const[]){"tokenizer.json", "{\"version\": \"1.0\"}", NULL});
    load_fails("no model", d, MV_ERR_FORMAT, "\"model\" missing");
    d = make_dir("bad_array", (const char *const[]){"tokenizer.json", "[1, 2]", NULL});
    load_fails("top-level array", d, MV_ERR_FORMAT, "not a JSON object");
    d = make_dir("bad_unigram", (const char *const[]){"tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", NULL});
    load_fails("Unigram model", d, MV_ERR_UNSUPPORTED, "Unigram");
    d = make_dir("bad_merge", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]},"
        " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    load_fails("merge of unknown token", d, MV_ERR_FORMAT, "model.merges[0]: token \"c\" not in the vocabulary");
    d = make_dir("bad_merged", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]},"
        " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    load_fails("merged token missing", d, MV_ERR_FORMAT, "merged token \"ab\" not in the vocabulary");
    d = make_dir("bad_id", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        NULL});
    load_fails("negative id", d, MV_ERR_FORMAT, "model.vocab[\"a\"]: not a valid token id");
    d = make_dir("bad_id_string", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        NULL});
    load_fails("string id", d, MV_ERR_FORMAT, "model.vocab[\"a\"]: not a valid token id");
    d = make_dir("bad_vocab_syntax", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0 \"b\": 1}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    load_fails("vocab without comma", d, MV_ERR_FORMAT, "tokenizer.json: not valid JSON (error near byte 43)");
    d = make_dir("bad_merges_syntax", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\",]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    load_fails("merges trailing comma", d, MV_ERR_FORMAT, "tokenizer.json: not valid JSON");
    d = make_dir("bad_merge_shape", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", [\"a\"]]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", NULL});
    load_fails("one-sided merge", d, MV_ERR_FORMAT, "model.merges[1]: expected \"left right\" or [left, right]");
    d = make_dir("bad_rest_syntax", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [}", NULL});
    load_fails("broken outside vocab", d, MV_ERR_FORMAT, "tokenizer.json: not valid JSON");
    /* one-byte vocab and merges values: the copy cJSON parses grows by 3 bytes for each */
    d = make_dir("bad_scalar_parts", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": 0, \"merges\": 1}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        NULL});
    load_fails("scalar vocab and merges", d, MV_ERR_FORMAT, "model.vocab missing or not an object");
    d = make_dir("bad_vocab_json", (const char *const[]){"vocab.json", "{\"a\": 0, \"b\": 1", "merges.txt", "", NULL});
    load_fails("vocab.json unterminated", d, MV_ERR_FORMAT, "vocab.json: not valid JSON");
    d = make_dir("bad_regex", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Sequence\","
        " \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"},"
        " {\"type\": \"ByteLevel\", \"use_regex\": false}]}}", NULL});
    load_fails("bad regex", d, MV_ERR_UNSUPPORTED, "regex does not compile");
    d = make_dir("bad_added", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"},"
        " \"added_tokens\": [{\"id\": 1}]}", NULL});
    load_fails("added token without content", d, MV_ERR_FORMAT, "added_tokens[0]: \"content\" missing");
    d = make_dir("bad_merges_txt", (const char *const[]){"vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}", "merges.txt",
        "#version: 0.2\na b\na b c\n", NULL});
    load_fails("merges.txt line", d, MV_ERR_FORMAT, "merges.txt: line 3: expected \"left right\"");
    d = make_dir("bad_class", (const char *const[]){"vocab.json", "{\"a\": 0}", "merges.txt", "", "tokenizer_config.json",
        "{\"tokenizer_class\": \"BertTokenizer\"}", NULL});
    load_fails("unknown slow class", d, MV_ERR_UNSUPPORTED, "BertTokenizer");
    d = make_dir("empty_dir", NULL);
    cli_dir_fails("directory without files", d, "no tokenizer files");
    load_fails("directory without files", d, MV_ERR_IO, "no tokenizer files");
    load_fails("missing directory", "/nonexistent/minivl/dir", MV_ERR_IO, "no tokenizer files");
}

/* build/tests/text/<name>/tokenizer.model holding data[0..n); returns the directory */
static const char *model_dir(const char *name, const void *data, size_t n) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/text/%s", name);
    return mvt_build_dir_file(rel, "tokenizer.model", data, n);
}

static void test_bad_spm(void) {
    size_t n = 0;
    char *model = mv_read_file(mvt_shared("tokenizers/internlm2-internvl2-2b/tokenizer.model"), 1 << 24, &n, NULL);
    CHECK(model && n > 1000 && (uint8_t)model[0] == 0x0A && (uint8_t)model[1] < 0x80, "internlm2 tokenizer.model");
    if (!model) return;
    const char *d = model_dir("spm_cut_half", model, n / 2);
    cli_dir_fails("tokenizer.model cut in half", d, "truncated or not a SentencePiece model");
    load_fails("tokenizer.model cut in half", d, MV_ERR_FORMAT, "runs past its end");
    d = model_dir("spm_cut_piece", model, 2 + (uint8_t)model[1]); /* exactly one whole piece */
    load_fails("only the first piece", d, MV_ERR_FORMAT, "trainer_spec missing");
    d = model_dir("spm_cut_tail", model, n - 3); /* inside normalizer_spec */
    load_fails("last bytes missing", d, MV_ERR_FORMAT, "truncated");
    d = model_dir("spm_empty", "", 0);
    load_fails("empty tokenizer.model", d, MV_ERR_FORMAT, "pieces missing");
    free(model);
    uint8_t junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
    d = model_dir("spm_random", junk, sizeof junk);
    cli_dir_fails("tokenizer.model random bytes", d, "not a SentencePiece model");
    load_fails("random bytes", d, MV_ERR_FORMAT, "not a SentencePiece model");
    char *json = mv_read_file(mvt_shared("tokenizers/qwen2-internvl2-1b/tokenizer_config.json"), 1 << 20, &n, NULL);
    CHECK(json != NULL, "tokenizer_config.json");
    d = model_dir("spm_json", json ? json : "{}", json ? n : 2);
    cli_dir_fails("tokenizer.model is JSON", d, "not a SentencePiece model");
    load_fails("JSON renamed", d, MV_ERR_FORMAT, "not a SentencePiece model");
    free(json);
}

/* Vocabulary keys and merges written with escapes, in either merge form, load as their unescaped
 * bytes: "\u0061\u0062" is the token "ab" and the merge of "a" and "b" produces it. */
static void test_escaped_vocab(void) {
    const char *d = make_dir("escaped_vocab", (const char *const[]){"tokenizer.json",
        "{\"model\": {\"type\": \"BPE\", \"merges\": [\"\\u0061 b\", [\"ab\", \"\\u0063\"]],"
        " \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0061\\u0062\": 3, \"a\\u0062c\": 4, \"\\\"\": 5}},"
        " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}}", NULL});
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    if (mv_tokenizer_load_dir(d, &tok, &err) != MV_OK) { CHECK(0, "escaped vocab: %s", err.message); return; }
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(mv_tokenizer_encode_text(tok, "abc\"ab", 6, &ids, &n, &err) == MV_OK && n == 3 && ids[0] == 4 && ids[1] == 5 &&
              ids[2] == 3,
          "escaped vocab: \"abc\\\"ab\" -> %zu ids [%d %d %d]", n, n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1,
          n > 2 ? ids[2] : -1);
    free(ids);
    mv_tokenizer_free(tok);
}

static void test_cli_input(const char *qwen) {
    char args[8000];
    snprintf(args, sizeof args, "-m '%s' -p \"$(printf 'a\\377b')\"", qwen);
    cli_fails("-p invalid UTF-8", args, "not valid UTF-8");
    snprintf(args, sizeof args, "-m '%s' --jsonl < /dev/null; printf '{\"text\": \"ok\"}\\n{\"txt\": 1}\\n' | '%s/minivl' tokenize -m '%s' --jsonl",
             qwen, MV_BUILD_DIR, qwen);
    cli_fails("jsonl without text", args, "stdin line 2: no \"text\" member");
    snprintf(args, sizeof args, "-m '%s' --jsonl < /dev/null; echo '{\"text\": \"ok' | '%s/minivl' tokenize -m '%s' --jsonl",
             qwen, MV_BUILD_DIR, qwen);
    cli_fails("jsonl unterminated", args, "unterminated string");
    snprintf(args, sizeof args, "-m '%s' --jsonl < /dev/null; echo '{\"text\": \"\\ud800\"}' | '%s/minivl' tokenize -m '%s' --jsonl",
             qwen, MV_BUILD_DIR, qwen);
    cli_fails("jsonl lone surrogate", args, "surrogate");
    /* a failing line does not stop the rest: it gets an {"error"} line, the exit status says it */
    char cmd[8400], *out = NULL;
    snprintf(cmd, sizeof cmd, "printf '{\"text\": \"a\"}\\n{\"text\": \"\\\\ud800\"}\\n{\"text\": \"b\"}\\n' | "
             "'%s/minivl' tokenize -m '%s' --jsonl 2>/dev/null", MV_BUILD_DIR, qwen);
    int rc = mvt_run(cmd, &out);
    CHECK(rc == 1 && out && !strcmp(out, "{\"ids\": [64], \"decoded\": \"a\"}\n{\"error\": \"lone high surrogate\"}\n"
                                         "{\"ids\": [65], \"decoded\": \"b\"}\n"),
          "jsonl with a bad middle line: exit %d, output:\n%s", rc, out ? out : "(none)");
    free(out);
    cli_fails("no -m", "-p hello", "usage");
    snprintf(args, sizeof args, "-m '%s' --bogus", qwen);
    cli_fails("unknown option", args, "unknown or incomplete option");
}

static void test_library(const char *qwen) {
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    if (mv_tokenizer_load_dir(qwen, &tok, &err) != MV_OK) { CHECK(0, "load: %s", err.message); return; }
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    CHECK(mv_tokenizer_encode_text(tok, "a\xC3(", 3, &ids, &n, &err) == MV_ERR_ARG && strstr(err.message, "UTF-8"),
          "invalid UTF-8 text: %s", err.message);
    CHECK(mv_tokenizer_encode_text(tok, NULL, 4, &ids, &n, &err) == MV_ERR_ARG, "NULL text");
    CHECK(mv_tokenizer_encode_text(tok, "", 0, &ids, &n, &err) == MV_OK && n == 0 && ids, "empty text");
    mv_free(ids);
    int32_t bad[] = {9707, 151655};
    CHECK(mv_tokenizer_decode_ids(tok, bad, 2, &text, &err) == MV_ERR_ARG && strstr(err.message, "151655"),
          "unknown id: %s", err.message);
    bad[1] = -5;
    CHECK(mv_tokenizer_decode_ids(tok, bad, 2, &text, &err) == MV_ERR_ARG, "negative id");
    CHECK(mv_tokenizer_decode_ids(tok, bad, 1, &text, &err) == MV_OK && strcmp(text, "Hello") == 0, "decode Hello");
    mv_free(text);
    mv_tok_stream *s = NULL;
    const char *piece;
    size_t plen;
    CHECK(mv_tok_stream_new(tok, &s, &err) == MV_OK, "stream");
    CHECK(mv_tok_stream_push(s, 999999, &piece, &plen, &err) == MV_ERR_ARG && plen == 0, "stream unknown id");
    mv_tok_stream_free(s);
    CHECK(mv_tokenizer_load_dir(NULL, &tok, &err) == MV_ERR_ARG, "NULL dir");
    mv_tokenizer_free(tok);
    mv_tokenizer_free(NULL);
}

int main(void) {
    char qwen[2048];
    snprintf(qwen, sizeof qwen, "%s", mvt_shared("tokenizers/qwen2-internvl2-1b"));
    test_bad_files();
    test_escaped_vocab();
    test_bad_spm();
    test_cli_input(qwen);
    test_library(qwen);
    return mvt_done("test_tok_errors");
}
