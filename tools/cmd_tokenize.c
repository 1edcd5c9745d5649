/* cmd_tokenize.c — `minivl tokenize`: run the tokenizer of a model (or tokenizer-only) directory.
 *   minivl tokenize -m DIR -p TEXT   prints the ids of TEXT, space-separated
 *   minivl tokenize -m DIR --jsonl   reads lines {"text": ...} on stdin, writes {"ids": [...], "decoded": ...}
 *                                    ({"error": ...} for a line that fails; exit status 1 if any did)
 * Uses only the public API (minivl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "jsonl.h"
#include "minivl.h"

static int usage(void) {
    fprintf(stderr, "usage: minivl tokenize -m DIR (-p TEXT | --jsonl)\n"
                    "  -m, --model DIR   directory with tokenizer.model, tokenizer.json or vocab.json + merges.txt\n"
                    "  -p, --prompt TEXT print the token ids of TEXT\n"
                    "  --jsonl           read {\"text\": ...} lines on stdin, write {\"ids\": [...], \"decoded\": ...}\n");
    return 2;
}

static int report(const char *what, const mv_error *err) {
    fprintf(stderr, "minivl tokenize: %s%s%s\n", what, what[0] ? ": " : "", err->message);
    return 1;
}

static int print_ids(const mv_tokenizer *tok, const char *text) {
    mv_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    if (mv_tokenizer_encode_text(tok, text, strlen(text), &ids, &n, &err) != MV_OK) return report("", &err);
    for (size_t i = 0; i < n; i++) printf(i ? " %ld" : "%ld", (long)ids[i]);
    putchar('\n');
    mv_free(ids);
    return 0;
}

/* A line that cannot be tokenized: said on stderr, and an {"error": ...} line in its place on stdout,
 * so that the output stays line for line with the input and the lines after it are still done. */
static int line_failed(const char *where, const char *why) {
    fprintf(stderr, "minivl tokenize: %s: %s\n", where, why);
    fputs("{\"error\": ", stdout);
    mv_jsonl_put_string(stdout, why, strlen(why));
    fputs("}\n", stdout);
    return 1;
}

/* One input line -> one output line; returns 0, or 1 when the line failed. */
static int jsonl_line(const mv_tokenizer *tok, const char *line, size_t len, size_t line_no) {
    char *text = NULL, *decoded = NULL, where[64];
    size_t text_len = 0, dec_len = 0, n = 0;
    const char *why = NULL;
    int32_t *ids = NULL;
    mv_error err = {0};
    snprintf(where, sizeof where, "stdin line %zu", line_no);
    int got = mv_jsonl_get_string(line, len, "text", &text, &text_len, &why);
    if (got != 0) return line_failed(where, got > 0 ? "no \"text\" member" : why ? why : "bad JSON");
    int rc = 0;
    if (mv_tokenizer_encode_text(tok, text, text_len, &ids, &n, &err) != MV_OK ||
        mv_tokenizer_decode_ids_len(tok, ids, n, &decoded, &dec_len, &err) != MV_OK) {
        rc = line_failed(where, err.message);
    } else {
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < n; i++) printf(i ? ", %ld" : "%ld", (long)ids[i]);
        fputs("], \"decoded\": ", stdout);
        mv_jsonl_put_string(stdout, decoded, dec_len);
        fputs("}\n", stdout);
    }
    free(text);
    mv_free(ids);
    mv_free(decoded);
    return rc;
}

static int run_jsonl(const mv_tokenizer *tok) {
    char *line = NULL;
    size_t cap = 0, line_no = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        line_no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == (size_t)len) continue; /* blank line */
        rc |= jsonl_line(tok, line, (size_t)len, line_no);
    }
    free(line);
    if (ferror(stdin)) {
        fprintf(stderr, "minivl tokenize: error reading stdin\n");
        rc = 1;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "minivl tokenize: error writing stdout\n");
        rc = 1;
    }
    return rc;
}

int mv_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL, *prompt = NULL;
    int jsonl = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has_value) dir = argv[++i];
        else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && has_value) prompt = argv[++i];
        else if (strcmp(a, "--jsonl") == 0) jsonl = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(); return 0; }
        else {
            fprintf(stderr, "minivl tokenize: unknown or incomplete option '%s'\n", a);
            return usage();
        }
    }
    if (!dir || (!prompt && !jsonl) || (prompt && jsonl)) return usage();
    mv_tokenizer *tok = NULL;
    mv_error err = {0};
    if (mv_tokenizer_load_dir(dir, &tok, &err) != MV_OK) return report("", &err);
    int rc = prompt ? print_ids(tok, prompt) : run_jsonl(tok);
    mv_tokenizer_free(tok);
    return rc;
}
