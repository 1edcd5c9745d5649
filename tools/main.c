/* main.c — the `minivl` command: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "minivl.h"

static void usage(FILE *f) {
    fprintf(f,
            "minivl %s — InternVL-family vision-language models on CPU\n"
            "usage: minivl <command> [options]   (minivl <command> --help for its options)\n"
            "  run        answer a question about images (streams the answer)\n"
            "  chat       interactive chat (/image PATH, /reset, /quit)\n"
            "  tokenize   tokenize text (--jsonl for batch)\n"
            "  serve      OpenAI-compatible HTTP server (/v1/chat/completions)\n"
            "  bench      measure load, vision, prefill and decode speed on a checkpoint\n"
            "  synth      write a SYNTH-1 synthetic checkpoint from a config.json\n"
            "  quantize   write a copy of a checkpoint with 8- or 4-bit language-model weights\n",
            MINIVL_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) { printf("minivl %s\n", MINIVL_VERSION); return 0; }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "run")) return mv_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return mv_cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return mv_cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth")) return mv_cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return mv_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return mv_cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return mv_cmd_quantize(argc - 1, argv + 1);
    fprintf(stderr, "minivl: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
