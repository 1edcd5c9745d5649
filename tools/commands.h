/* commands.h — the subcommands of the `minivl` tool; each takes argv from its own name on. */
#ifndef MV_TOOLS_COMMANDS_H
#define MV_TOOLS_COMMANDS_H

int mv_cmd_run(int argc, char **argv);
int mv_cmd_chat(int argc, char **argv);
int mv_cmd_synth(int argc, char **argv);
int mv_cmd_tokenize(int argc, char **argv);
int mv_cmd_serve(int argc, char **argv);
int mv_cmd_quantize(int argc, char **argv);
int mv_cmd_bench(int argc, char **argv);

#endif
