/* cli_merge.c - `psgd merge OUT IN...`: merges results databases by run key
 * (merge.h) and prints what came from each input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "merge.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: psgd merge OUT IN...\n"
          "  merges the finished runs (ok, converged, diverged, timeout) of every IN database\n"
          "  into OUT (created if absent), by run key, with all their rows. Runs that are\n"
          "  running, interrupted or crashed in an IN are not merged (psgd run redoes them).\n"
          "  Merging the same inputs again changes nothing. A key finished in two places with\n"
          "  different results is a conflict: nothing is merged and OUT stays as it was.\n"
          "  Every file must have this psgd's schema version.\n");
}

int cmd_merge(int argc, char **argv) {
  const char *out = NULL;
  const char **in = calloc((size_t)argc + 1, sizeof *in);
  int n_in = 0;
  if (!in) return 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      free(in);
      return 0;
    }
    if (!strncmp(argv[i], "--", 2)) {
      fprintf(stderr, "psgd: merge: unknown option '%s'\n", argv[i]);
      usage(stderr);
      free(in);
      return 2;
    }
    if (!out) out = argv[i];
    else in[n_in++] = argv[i];
  }
  if (!out || n_in == 0) {
    usage(stderr);
    free(in);
    return 2;
  }
  merge_stats *st = calloc((size_t)n_in, sizeof *st);
  if (!st) {
    free(in);
    return 1;
  }
  char err[PSGD_ERRLEN * 2];
  int rc = 0;
  if (merge_dbs(out, in, n_in, st, err, sizeof err)) {
    fprintf(stderr, "psgd: merge: %s\n", err);
    rc = 1;
    goto out;
  }
  merge_stats tot = {0};
  for (int i = 0; i < n_in; i++) {
    printf("merge: %s: %d runs: %d added, %d replaced an unfinished row, %d already in %s, "
           "%d not finished (not merged); %ld rows\n",
           in[i], st[i].n_runs, st[i].n_added, st[i].n_replaced, st[i].n_same, out,
           st[i].n_unfinished, st[i].n_rows);
    tot.n_runs += st[i].n_runs;
    tot.n_added += st[i].n_added;
    tot.n_replaced += st[i].n_replaced;
    tot.n_same += st[i].n_same;
    tot.n_unfinished += st[i].n_unfinished;
    tot.n_rows += st[i].n_rows;
  }
  printf("merge: %d inputs into %s: %d runs added, %d replaced, %d already there, %d not "
         "finished; %ld rows copied\n",
         n_in, out, tot.n_added, tot.n_replaced, tot.n_same, tot.n_unfinished, tot.n_rows);
out:
  free(st);
  free(in);
  return rc;
}
