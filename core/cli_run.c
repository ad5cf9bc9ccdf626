/* cli_run.c - `psgd run FILE` and `psgd list FILE`: validate an experiment
 * file, select runs (--only), then list them or run them with the runner.
 * Validation happens before the database is even opened, so a bad file
 * leaves it byte-identical. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "config.h"
#include "rec.h"
#include "runner.h"
#include "steprec.h"

#define MAX_FILTERS 8

typedef struct {
  const char *file;
  const char *scale;
  const char *db;
  const char *only[MAX_FILTERS];
  int n_only;
  int dry_run;
  int retry_failed;
  double timeout_s;
} run_args;

static void usage(FILE *f, int list) {
  if (list)
    fprintf(f, "usage: psgd list FILE [--scale S] [--db PATH] [--only FILTER]...\n");
  else
    fprintf(f, "usage: psgd run FILE [--scale S] [--db PATH] [--dry-run] [--only FILTER]...\n"
               "                [--retry-failed] [--timeout S]\n");
  fprintf(f,
          "  --scale S        named scale of the file (quick | paper | any the file defines); "
          "default quick\n"
          "  --db PATH        results database (default results/results.db)\n"
          "  --only FILTER    run indexes (5, 3-7, 1,4,9-12) or name=value on a spec field\n"
          "                   (label=Async, threads=2, key=...); repeat to combine (AND)\n");
  if (!list)
    fprintf(f, "  --dry-run        list the runs instead of running them\n"
               "  --retry-failed   also redo runs recorded as timeout or crashed\n"
               "  --timeout S      wall-clock limit per run in seconds (overrides the file)\n");
}

/* Returns 0, or 2 after printing a usage error; 1 for --help (exit 0). */
static int parse_args(int argc, char **argv, int list, run_args *a) {
  memset(a, 0, sizeof *a);
  a->db = "results/results.db";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *val = NULL;
    char name[32];
    if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
      usage(stdout, list);
      return 1;
    }
    if (strncmp(s, "--", 2) != 0) {
      if (a->file) {
        fprintf(stderr, "psgd: unexpected argument '%s' (one experiment file at a time)\n", s);
        return 2;
      }
      a->file = s;
      continue;
    }
    const char *eq = strchr(s, '=');
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - s) : (int)strlen(s), s);
    int takes = !strcmp(name, "--scale") || !strcmp(name, "--db") || !strcmp(name, "--only") ||
                (!list && !strcmp(name, "--timeout"));
    if (takes) {
      if (eq) val = eq + 1;
      else if (i + 1 < argc) val = argv[++i];
      else {
        fprintf(stderr, "psgd: %s needs a value\n", name);
        return 2;
      }
    } else if (eq) {
      fprintf(stderr, "psgd: option %s takes no value\n", name);
      return 2;
    }
    if (!strcmp(name, "--scale")) a->scale = val;
    else if (!strcmp(name, "--db")) a->db = val;
    else if (!strcmp(name, "--only")) {
      if (a->n_only == MAX_FILTERS) {
        fprintf(stderr, "psgd: at most %d --only filters\n", MAX_FILTERS);
        return 2;
      }
      a->only[a->n_only++] = val;
    } else if (!list && !strcmp(name, "--timeout")) {
      char *end;
      a->timeout_s = strtod(val, &end);
      if (end == val || *end || !(a->timeout_s > 0)) {
        fprintf(stderr, "psgd: --timeout '%s': expected seconds > 0\n", val);
        return 2;
      }
    } else if (!list && !strcmp(name, "--dry-run")) a->dry_run = 1;
    else if (!list && !strcmp(name, "--retry-failed")) a->retry_failed = 1;
    else {
      fprintf(stderr, "psgd: unknown option '%s'\n", s);
      usage(stderr, list);
      return 2;
    }
  }
  if (!a->file) {
    usage(stderr, list);
    return 2;
  }
  if (!a->db[0]) {
    fprintf(stderr, "psgd: --db needs a path\n");
    return 2;
  }
  return 0;
}

/* Loads, validates and selects. Returns the experiment or NULL after
 * printing the error. sel[i] = 1 for selected runs (malloc'd). */
static experiment *load_selected(const run_args *a, char **sel) {
  char err[PSGD_ERRLEN];
  for (int f = 0; f < a->n_only; f++)
    if (config_filter_check(a->only[f], err, sizeof err)) {
      fprintf(stderr, "psgd: %s\n", err);
      return NULL;
    }
  config_opts opts = {a->scale, 0, 1};
  experiment *e = config_load(a->file, &opts, err, sizeof err);
  if (!e) {
    fprintf(stderr, "psgd: %s\n", err);
    return NULL;
  }
  *sel = calloc((size_t)e->n_runs + 1, 1);
  if (!*sel) {
    fprintf(stderr, "psgd: out of memory\n");
    config_free(e);
    return NULL;
  }
  /* an index beyond the file's runs is a typo, not an empty selection */
  for (int f = 0; f < a->n_only; f++) {
    const char *p = a->only[f];
    if (strspn(p, "0123456789,-") != strlen(p)) continue;
    while (*p) {
      char *end;
      long v = strtol(p, &end, 10);
      if (end == p) break;
      if (v >= e->n_runs) {
        fprintf(stderr, "psgd: --only '%s': run index %ld out of range: %s has %d run%s "
                "(0-%d)\n", a->only[f], v, a->file, e->n_runs, e->n_runs == 1 ? "" : "s",
                e->n_runs - 1);
        free(*sel);
        *sel = NULL;
        config_free(e);
        return NULL;
      }
      p = *end ? end + 1 : end;
    }
  }
  for (int i = 0; i < e->n_runs; i++) {
    int ok = 1;
    for (int f = 0; f < a->n_only && ok; f++) ok = config_run_matches(e, i, a->only[f]);
    (*sel)[i] = (char)ok;
  }
  return e;
}

static void fmt_time(double s, char *buf, size_t cap) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, cap, "%lds", t);
}

static int do_list(const run_args *a, const experiment *e, const char *sel) {
  char err[PSGD_ERRLEN];
  char(*status)[16] = calloc((size_t)e->n_runs + 1, 16);
  if (!status) return 1;
  if (runner_db_status(a->db, e, status, err, sizeof err)) {
    fprintf(stderr, "psgd: %s\n", err);
    free(status);
    return 1;
  }
  int n_sel = 0, n_done = 0, n_unknown = 0, n_virtual = 0, n_virtual_bound = 0, bound = 0;
  double est = 0;
  printf("%s: %s\n", e->path, e->description[0] ? e->description : "(no description)");
  printf("scale %s, %d cores, database %s%s\n", e->scale, e->n_cores, a->db,
         access(a->db, F_OK) == 0 ? "" : " (not created yet)");
  printf("%5s  %-16s  %-11s  %-24s  %s\n", "index", "key", "status", "label", "swept");
  for (int i = 0; i < e->n_runs; i++) {
    if (!sel[i]) continue;
    const exp_run *r = &e->runs[i];
    n_sel++;
    const char *st = status[i][0] ? status[i] : "-";
    int finished = rec_run_state_final(rec_run_state_of(status[i]));
    if (finished) n_done++;
    else if (r->est_s > 0) {
      est += r->est_s;
      bound |= r->est_bound;
      n_virtual_bound += !strcmp(r->spec.clock, "virtual");
    } else if (!strcmp(r->spec.clock, "virtual")) n_virtual++;
    else n_unknown++;
    printf("%5d  %-16s  %-11s  %-24s  %s\n", i, r->key, st, r->spec.label, r->swept);
  }
  char t[32];
  fmt_time(est, t, sizeof t);
  printf("%d runs selected of %d", n_sel, e->n_runs);
  if (e->n_duplicates) printf(" (%d duplicates merged)", e->n_duplicates);
  /* outcome counts, in run_status order, then anything else (running, ...) */
  const char *sep = ":";
  for (int k = 0; k <= RUN_STATUS_COUNT; k++) {
    int n = 0;
    for (int i = 0; i < e->n_runs; i++) {
      if (!sel[i] || !status[i][0]) continue;
      int known = 0;
      for (int j = 0; j < RUN_STATUS_COUNT; j++) known |= !strcmp(status[i], run_status_name((run_status)j));
      if (k < RUN_STATUS_COUNT ? !strcmp(status[i], run_status_name((run_status)k)) : !known) n++;
    }
    if (n) {
      printf("%s %d %s", sep, n, k < RUN_STATUS_COUNT ? run_status_name((run_status)k) : "other");
      sep = ",";
    }
  }
  if (n_sel - n_done > 0 && n_unknown + n_virtual == n_sel - n_done)
    printf("; %d finished, %d to run: no time estimate", n_done, n_sel - n_done);
  else
    printf("; %d finished, %d to run: %s %s", n_done, n_sel - n_done, bound ? "at most" : "about", t);
  if (n_unknown) printf(" + %d runs without a time estimate (no stop.seconds or timeout)", n_unknown);
  if (n_virtual_bound)
    printf(" (%d virtual-clock runs counted at their timeouts: they take what this machine's "
           "gradient rate needs)", n_virtual_bound);
  if (n_virtual)
    printf(" + %d virtual-clock runs without a time estimate (their stop.seconds is virtual "
           "time; no timeout)", n_virtual);
  printf("\n");
  free(status);
  return 0;
}

int cmd_list(int argc, char **argv) {
  run_args a;
  int rc = parse_args(argc, argv, 1, &a);
  if (rc) return rc == 1 ? 0 : rc;
  char *sel = NULL;
  experiment *e = load_selected(&a, &sel);
  if (!e) return 2;
  rc = do_list(&a, e, sel);
  free(sel);
  config_free(e);
  return rc;
}

int cmd_run(int argc, char **argv) {
  run_args a;
  int rc = parse_args(argc, argv, 0, &a);
  if (rc) return rc == 1 ? 0 : rc;
  char *sel = NULL;
  experiment *e = load_selected(&a, &sel);
  if (!e) return 2;
  if (a.dry_run) {
    rc = do_list(&a, e, sel);
    goto out;
  }
  runner_opts o = {a.db, a.timeout_s, a.retry_failed, isatty(STDOUT_FILENO), stdout};
  runner_summary s;
  char err[PSGD_ERRLEN];
  if (runner_run(e, sel, &o, &s, err, sizeof err)) {
    fprintf(stderr, "psgd: %s\n", err);
    rc = 1;
    goto out;
  }
  char t[32];
  fmt_time(s.wall_s, t, sizeof t);
  printf("%s: %d selected, %d skipped (finished before), %d ran", e->name, s.n_selected,
         s.n_skipped, s.n_ran);
  const char *sep = ":";
  for (int k = 0; k < RUN_STATUS_COUNT; k++)
    if (s.n_status[k]) {
      printf("%s %d %s", sep, s.n_status[k], run_status_name((run_status)k));
      sep = ",";
    }
  if (s.n_elsewhere) printf(", %d done by another process", s.n_elsewhere);
  printf("; %s%s\n", t, s.interrupted ? "; INTERRUPTED (run again to resume)" : "");
  if (s.n_failed_skipped)
    printf("%d run%s recorded timeout or crashed before %s skipped: redo with --retry-failed\n",
           s.n_failed_skipped, s.n_failed_skipped == 1 ? "" : "s",
           s.n_failed_skipped == 1 ? "was" : "were");
  if (s.n_remote)
    fprintf(stderr, "psgd: %d run%s held by a psgd on another host (see the lines above) %s not "
            "run here; run this again when %s finished\n", s.n_remote, s.n_remote == 1 ? "" : "s",
            s.n_remote == 1 ? "was" : "were", s.n_remote == 1 ? "it has" : "they have");
  /* 130 = interrupted (as a shell reports SIGINT); 1 = some runs failed or
   * were left to a process on another host */
  if (s.interrupted) rc = 130;
  else if (s.n_status[RUN_CRASHED] || s.n_status[RUN_TIMEOUT] || s.n_remote) rc = 1;
  else rc = 0;
out:
  free(sel);
  config_free(e);
  return rc;
}
