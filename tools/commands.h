/* commands.h — subcommands of the `minivl` tool; each takes the arguments after its name's position
 * (argv[0] is the subcommand name) and returns the process exit status. */
#ifndef MV_TOOLS_COMMANDS_H
#define MV_TOOLS_COMMANDS_H

int mv_cmd_synth(int argc, char **argv);

#endif
