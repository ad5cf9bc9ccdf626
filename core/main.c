/* main.c - entry point of `psgd`: dispatches to the subcommands in cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} command;

/* Weak while the suite is assembled: a command whose module is not linked in
 * reports that instead of failing the link. */
#pragma weak cmd_train
#pragma weak cmd_run
#pragma weak cmd_list
#pragma weak cmd_hw
#pragma weak cmd_merge
#pragma weak cmd_slurm

static const command commands[] = {
    {"train", cmd_train, "train one run from command-line flags (sequential or parallel)"},
    {"run", cmd_run, "run every run of an experiment file into results.db (resumable)"},
    {"list", cmd_list, "list the runs an experiment file expands to"},
    {"hw", cmd_hw, "show the topology and what a placement does for m threads"},
    {"merge", cmd_merge, "merge results databases (e.g. Slurm shards) by run key"},
    {"slurm", cmd_slurm, "write (and --submit) a Slurm job array for an experiment file"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: psgd COMMAND [options]   (psgd COMMAND --help for its options)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[1], commands[i].name) != 0) continue;
    if (!commands[i].fn) {
      fprintf(stderr, "psgd: command '%s' is not built in this version\n", argv[1]);
      return 1;
    }
    return commands[i].fn(argc - 1, argv + 1);
  }
  fprintf(stderr, "psgd: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
