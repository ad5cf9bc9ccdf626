/* cli_hw.c - `psgd hw`: the topology summary (this machine, a synthetic
 * description or an lstopo XML file) and, with --placement, the worker ->
 * PU/core/node/package table that placement gives m threads. --bind also
 * starts the m threads on this machine, binds each and reports where it runs
 * (sched_getcpu), which is how a user checks that binding works here. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "hw.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: psgd hw [--topology T] [--placement P --threads M] [--keep-core-free]\n"
          "               [--nearest] [--bind] [--xml]\n"
          "  --topology T      \"\" = this machine (default), \"synthetic:pack:2 numa:1 core:8 "
          "pu:2\",\n"
          "                    a file holding a synthetic description (e.g.\n"
          "                    hw/machines/thesis-2x-e5-2687w-v2.synth), or an lstopo XML file\n"
          "  --placement P     os | uma | compact | numa | spread | numa:K | list:P,P,..\n"
          "  --threads M       worker threads to place (default 1)\n"
          "  --keep-core-free  leave the last core for the evaluator/recorder\n"
          "  --nearest         run an impossible placement as its nearest equivalent\n"
          "  --bind            start the M threads here, bind them, report where each runs\n"
          "  --xml             print the topology as XML instead of the summary\n");
}

typedef struct {
  const hw_topo *t;
  const hw_plan *p;
  int worker;
  int bound, pu_after;
  char err[PSGD_ERRLEN];
  int rc;
} bind_job;

static void *bind_main(void *arg) {
  bind_job *j = arg;
  j->rc = hw_bind_self(j->t, j->p, j->worker, &j->bound, j->err, sizeof j->err);
  j->pu_after = hw_current_pu();
  return NULL;
}

/* Starts one thread per slot, binds it, joins; prints one line per worker. */
static int bind_check(const hw_topo *t, const hw_plan *p) {
  bind_job *jobs = calloc((size_t)p->n, sizeof *jobs);
  pthread_t *th = calloc((size_t)p->n, sizeof *th);
  int rc = 0, n_started = 0;
  if (!jobs || !th) {
    fprintf(stderr, "psgd hw: out of memory\n");
    rc = 1;
    goto out_with_arrays;
  }
  for (int i = 0; i < p->n; i++) {
    jobs[i] = (bind_job){t, p, i, 0, -1, "", 0};
    int e = pthread_create(&th[i], NULL, bind_main, &jobs[i]);
    if (e) {
      fprintf(stderr, "psgd hw: cannot start thread %d: %s\n", i, strerror(e));
      rc = 1;
      break;
    }
    n_started++;
  }
  for (int i = 0; i < n_started; i++) PSGD_CHECK(pthread_join(th[i], NULL) == 0);
  printf("binding on %s:\n", hw_topo_is_thissystem(t) ? "this machine" : "a planning topology "
                                                                        "(nothing is bound)");
  for (int i = 0; i < n_started; i++) {
    if (jobs[i].rc) {
      printf("  worker %d: FAILED: %s\n", i, jobs[i].err);
      rc = 1;
    } else {
      printf("  worker %d: planned P#%d, bound %d, runs on P#%d\n", i, p->slots[i].pu_os,
             jobs[i].bound, jobs[i].pu_after);
    }
  }
out_with_arrays:
  free(jobs);
  free(th);
  return rc;
}

int cmd_hw(int argc, char **argv) {
  const char *topo = NULL, *placement = NULL;
  int threads = 1, flags = 0, bind = 0, xml = 0, have_threads = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
#define IS(name) (len == strlen(name) && !strncmp(a, name, len))
    if (IS("--help") || IS("-h")) {
      usage(stdout);
      return 0;
    }
    if (IS("--keep-core-free")) {
      flags |= HW_PLAN_KEEP_CORE_FREE;
      continue;
    }
    if (IS("--nearest")) {
      flags |= HW_PLAN_NEAREST;
      continue;
    }
    if (IS("--bind")) {
      bind = 1;
      continue;
    }
    if (IS("--xml")) {
      xml = 1;
      continue;
    }
    if (!(IS("--topology") || IS("--placement") || IS("--threads"))) {
      fprintf(stderr, "psgd hw: unknown option '%.*s'\n", (int)len, a);
      usage(stderr);
      return 2;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) {
      fprintf(stderr, "psgd hw: %.*s needs a value\n", (int)len, a);
      return 2;
    }
    if (IS("--topology")) {
      topo = v;
    } else if (IS("--placement")) {
      placement = v;
    } else {
      char *end;
      errno = 0;
      long m = strtol(v, &end, 10);
      if (end == v || *end || errno || m < 1 || m > 4096) {
        fprintf(stderr, "psgd hw: --threads: '%s' is not an integer in [1, 4096]\n", v);
        return 2;
      }
      threads = (int)m;
      have_threads = 1;
    }
#undef IS
  }
  if ((have_threads || bind || flags) && !placement) {
    fprintf(stderr, "psgd hw: --threads, --bind, --keep-core-free and --nearest need "
                    "--placement\n");
    return 2;
  }
  char err[PSGD_ERRLEN];
  hw_topo *t = hw_topo_load(topo, err, sizeof err);
  if (!t) {
    fprintf(stderr, "psgd hw: %s\n", err);
    return 2;
  }
  int rc = 0;
  char *text = xml ? hw_topo_xml(t) : hw_topo_summary(t);
  if (!text) {
    fprintf(stderr, "psgd hw: cannot describe the topology (out of memory or export failed)\n");
    rc = 1;
    goto out_with_topo;
  }
  fputs(text, stdout);
  free(text);
  if (!xml) printf("library: %s\n", hw_version());
  if (placement) {
    hw_plan p;
    if (hw_plan_make(t, placement, threads, flags, &p, err, sizeof err)) {
      fprintf(stderr, "psgd hw: %s\n", err);
      rc = 2;
      goto out_with_topo;
    }
    char *table = hw_plan_table(&p);
    if (!table) {
      fprintf(stderr, "psgd hw: out of memory\n");
      rc = 1;
    } else {
      fputs(table, stdout);
      free(table);
      if (bind) rc = bind_check(t, &p);
    }
    hw_plan_free(&p);
  }
out_with_topo:
  hw_topo_free(t);
  return rc;
}
