/* commands.h — subcommands of the `minivl` tool; each takes its own argv (argv[0] = command name) and
 * returns the process exit status. */
#ifndef MV_TOOLS_COMMANDS_H
#define MV_TOOLS_COMMANDS_H

int mv_cmd_tokenize(int argc, char **argv);

#endif
