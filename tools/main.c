/* main.c — the `minivl` command: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "minivl.h"

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--version") == 0) {
        printf("minivl %s\n", MINIVL_VERSION);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "tokenize") == 0) return mv_cmd_tokenize(argc - 1, argv + 1);
    fprintf(stderr, "minivl: unknown command '%s'\n", argv[1]);
    return 2;
}
