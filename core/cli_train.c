/* cli_train.c - `psgd train`: flags -> run spec (the table of run settings,
 * setting.h, and its one parser), then the engine (engine.h; without engine
 * flags one thread, async over hogwild: sequential SGD), printing a
 * configuration line, one progress line per evaluation and a final summary
 * line:
 *   train: done status ok epochs 5.00 steps 18750 ... test_acc 0.8612 wall_s 7.41
 * Exit status (cli.h): 0 ran, 1 runtime failure (data missing, ...),
 * 2 usage or bad value. */
#define _POSIX_C_SOURCE 200809L
#include "cli_train.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "algo.h"
#include "config.h"
#include "common.h"
#include "ctl.h"
#include "data.h"
#include "disp.h"
#include "engine.h"
#include "hw.h"
#include "model.h"
#include "optim.h"
#include "ps.h"
#include "setting.h"
#include "vclock.h"

/* ------------------------------------------------------------- flags ---- */

/* Every flag is a row of the table of run settings (setting.h): its name,
 * value placeholder, type, range, default and help. Only what a flag does
 * besides storing its value is here. */

static int set_str(char *dst, size_t cap, const char *flag, const char *v, char *err,
                   size_t errlen) {
  if (strlen(v) >= cap)
    return psgd_err(err, errlen, "%s: '%s' is longer than %zu characters", flag, v, cap - 1);
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

/* Applies flag row `id` with value v to s. */
static int apply_flag(int id, const char *flag, const char *v, run_spec *s, char *err,
                      size_t errlen) {
  const setting *st = &setting_table[id];
  char why[PSGD_ERRLEN];
  switch (id) {
    case SET_ALGORITHM:
      /* algorithm -> dispatcher + store (+ elastic) as algo.h defines it */
      if (algo_apply_name(s, v, why, sizeof why)) return psgd_err(err, errlen, "%s: %s", flag, why);
      return set_str(s->algorithm, sizeof s->algorithm, flag, v, err, errlen);
    case SET_STORE: {
      /* checked here, applied after all flags (cli_train_parse), so that it
       * overrides the store --algorithm implies in whatever order they come */
      run_spec scratch = *s;
      return setting_parse(st, flag, v, 0, &scratch, err, errlen);
    }
    case SET_STEP_TIME: {
      vclock_model m;
      if (vclock_model_parse(v, &m, why, sizeof why)) return psgd_err(err, errlen, "%s: %s", flag, why);
      break;
    }
    case SET_ENGINE: {
      /* nothing to set: every run uses the engine */
      run_spec scratch;
      return setting_parse(st, flag, v, 0, &scratch, err, errlen);
    }
    default: break;
  }
  return setting_parse(st, flag, v, config_n_cores(), s, err, errlen);
}

static void usage_section(FILE *f, int engine) {
  for (int i = 0; i < SETTING_COUNT; i++) {
    const setting *st = &setting_table[i];
    if (!st->flag || !(st->flags & SETTING_ENGINE) != !engine) continue;
    char left[48], help[400], names[200] = "";
    snprintf(left, sizeof left, "%s %s", st->flag, st->arg);
    if (st->names) st->names(names, sizeof names, " | ");
    const char *hole = strstr(st->help, "%s");
    if (hole)
      snprintf(help, sizeof help, "%.*s%s%s", (int)(hole - st->help), st->help, names, hole + 2);
    else
      snprintf(help, sizeof help, "%s", st->help);
    /* the default, unless the help says it ("0 = all") */
    if (st->dflt && !strstr(help, "default") && !(!strcmp(st->dflt, "0") && strstr(help, "0 ="))) {
      size_t len = strlen(help);
      const char *d = st->type == SETTING_BOOL ? (strcmp(st->dflt, "0") ? "yes" : "no") : st->dflt;
      snprintf(help + len, sizeof help - len, " (default %s)", d);
    }
    fprintf(f, "  %-24s %s\n", left, help);
  }
}

void cli_train_usage(FILE *f) {
  fprintf(f, "usage: psgd train [options]\n\n"
             "Trains one model and reports test loss and accuracy, through the engine\n"
             "that `psgd run` uses: by default one thread (async over hogwild, which is\n"
             "sequential SGD), more with --threads. It snapshots theta every\n"
             "--eval-every-s seconds (and every --eval-every steps) and evaluates the\n"
             "snapshots and the final theta after the run.\n"
             "The first stop condition met ends the run. Every option is also an\n"
             "experiment-file key (EXPERIMENTS.md, \"Keys\") with the same range.\n\noptions:\n");
  usage_section(f, 0);
  fprintf(f, "\nparallel options (threads, algorithm, placement, clock):\n");
  usage_section(f, 1);
  fprintf(f, "  %-24s %s\n", "--help", "this text");
}

/* The row of argument a ("--flag" or "--flag=value"), or -1. */
static int flag_of(const char *a) {
  const char *eq = strchr(a, '=');
  size_t len = eq ? (size_t)(eq - a) : strlen(a);
  for (int i = 0; i < SETTING_COUNT; i++) {
    const char *fl = setting_table[i].flag;
    if (fl && strlen(fl) == len && !strncmp(a, fl, len)) return i;
  }
  return -1;
}

int cli_train_wants_engine(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int id = flag_of(argv[i]);
    if (id >= 0 && (setting_table[id].flags & SETTING_ENGINE)) return 1;
  }
  return 0;
}

int cli_train_parse(int argc, char **argv, run_spec *s, char *err, size_t errlen) {
  spec_default(s);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
  }
  const char *store = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    int id = a[0] == '-' && a[1] == '-' ? flag_of(a) : -1;
    if (id < 0) {
      size_t len = eq ? (size_t)(eq - a) : strlen(a);
      return psgd_err(err, errlen, "unknown option '%.*s' (see psgd train --help)", (int)len, a);
    }
    const setting *st = &setting_table[id];
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return psgd_err(err, errlen, "%s: missing value %s", st->flag, st->arg);
    if (apply_flag(id, st->flag, v, s, err, errlen)) return -1;
    if (id == SET_STORE) store = v;
  }
  if (!(s->stop_epochs > 0 || s->stop_seconds > 0 || s->stop_steps > 0))
    return psgd_err(err, errlen, "no stop condition: give --epochs, --seconds or --steps > 0");
  if (store && set_str(s->store, sizeof s->store, "--store", store, err, errlen)) return -1;
  if (!strcmp(s->clock, "virtual") && !s->step_time[0])
    snprintf(s->step_time, sizeof s->step_time, "%s", VCLOCK_DEFAULT_STEP_TIME);
  if (s->step_time[0] && strcmp(s->clock, "virtual") != 0)
    return psgd_err(err, errlen, "--step-time applies only with --clock virtual");
  if (cli_train_wants_engine(argc, argv)) {
    engine_algo a;
    /* every compatibility rule: algo.c */
    if (engine_resolve(s, &a, err, errlen)) return -1;
  }
  return 0;
}

/* ----------------------------------------------------------- running ---- */

static void on_progress(void *ctx, const run_spec *s, const eval_rec *e, double steps_per_s) {
  (void)ctx;
  (void)s;
  printf("train: epoch %.2f steps %llu steps/s %.1f train_loss %.4f test_loss %.4f "
         "test_acc %.4f t %.2fs\n",
         e->epoch, (unsigned long long)e->steps_accepted, steps_per_s, e->train_loss,
         e->test_loss, e->test_acc, e->t_ns * 1e-9);
  fflush(stdout);
}

/* engine progress: live lines carry no test numbers (evaluated after the run) */
static void on_engine_progress(void *ctx, const run_spec *s, const eval_rec *e,
                               double steps_per_s) {
  (void)ctx;
  (void)s;
  if (isnan(e->test_acc)) {
    printf("train: live t %.2fs epoch %.2f steps %llu steps/s %.1f train_loss %.4f\n",
           e->t_ns * 1e-9, e->epoch, (unsigned long long)e->steps_accepted, steps_per_s,
           e->train_loss);
    fflush(stdout);
    return;
  }
  on_progress(ctx, s, e, steps_per_s);
}

/* What the arguments ask for that can be checked before training: the
 * dataset's files (data_check), batch <= training set, and the placement
 * on its topology. An error here is an argument error (exit
 * 2), like a bad flag value. */
static int precheck(const run_spec *s, char *err, size_t errlen) {
  data_opts o;
  data_opts_default(&o);
  if (s->data_dir[0]) o.data_dir = s->data_dir;
  o.train_limit = s->train_limit;
  o.test_limit = s->test_limit;
  int n_train = 0;
  if (data_check(s->dataset, &o, &n_train, NULL, err, errlen)) return -1;
  if (s->batch > n_train)
    return psgd_err(err, errlen, "--batch %d is larger than the training set of %s (%d samples)",
                    s->batch, s->dataset, n_train);
  if (!strcmp(s->placement, "os") && !s->topology[0]) return 0;
  hw_topo *t = hw_topo_load(s->topology[0] ? s->topology : NULL, err, errlen);
  if (!t) return -1;
  hw_plan plan;
  int flags = (s->keep_core_free ? HW_PLAN_KEEP_CORE_FREE : 0) |
              (s->placement_nearest ? HW_PLAN_NEAREST : 0);
  int bad = hw_plan_make(t, s->placement[0] ? s->placement : "os", s->threads, flags, &plan, err,
                         errlen);
  hw_topo_free(t);
  if (bad) return -1;
  hw_plan_free(&plan);
  return 0;
}

static int run_engine(const run_spec *s) {
  char err[PSGD_ERRLEN];
  engine_algo a;
  if (engine_resolve(s, &a, err, sizeof err) || precheck(s, err, sizeof err)) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 2;
  }
  printf("train: engine: %d threads, dispatcher %s, store %s, backoff %s", s->threads,
         a.disp->name, a.store->name, ps_backoff_name(a.backoff));
  if (a.disp->has_y) printf(", y0 %ld, y control %s", s->y0, s->y_control);
  if (a.store->has_ps_bound) printf(", ps %d", s->ps_bound);
  if (a.ctl_m) printf(", elastic (window %d, p %ld, x %ld)", s->probe_window, s->probe_steps,
                      s->exec_steps);
  if (!strcmp(s->clock, "virtual"))
    printf(", virtual clock (simulated %d-core machine, step time %s)", s->threads, s->step_time);
  printf("; %s %s batch %d lr %g mu %g seed %llu\n", s->dataset, s->model, s->batch, s->lr,
         s->momentum, (unsigned long long)s->seed);
  if (!strcmp(s->clock, "virtual"))
    printf("train: virtual clock: t, steps/s and wall_s below are virtual time; total_s is the "
           "real time the simulation took\n");
  fflush(stdout);
  engine_io io = {NULL, on_engine_progress, NULL, NULL}; /* records nothing */
  run_result res;
  uint64_t t0 = psgd_now_ns();
  if (engine_run(s, &io, &res, err, sizeof err)) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 1;
  }
  double total_s = (psgd_now_ns() - t0) * 1e-9;
  printf("train: placement %s\n", res.placement);
  printf("train: done status %s epochs %.2f steps %llu started %llu train_loss %.4f test_loss "
         "%.4f best_acc %.4f total_s %.2f test_acc %.4f wall_s %.2f\n",
         run_status_name(res.status), res.epochs, (unsigned long long)res.steps_accepted,
         (unsigned long long)res.steps_started, res.final_train_loss, res.final_test_loss,
         res.best_test_acc, total_s, res.final_test_acc, res.wall_s);
  return 0;
}

int cmd_train(int argc, char **argv) {
  run_spec s;
  char err[PSGD_ERRLEN];
  int rc = cli_train_parse(argc, argv, &s, err, sizeof err);
  if (rc == 1) {
    cli_train_usage(stdout);
    return 0;
  }
  if (rc) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 2;
  }
  /* one training loop: the engine's, m = 1 (the default) is the sequential case */
  return run_engine(&s);
}
