/* cli_train.c - `psgd train`: flags -> run spec (one table, one parser),
 * then the sequential trainer or, when any parallel flag is given
 * (--threads, --algorithm, --store, ...), the parallel engine (engine.h),
 * printing a configuration line, one progress line per evaluation and a
 * final summary line:
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
#include "common.h"
#include "ctl.h"
#include "data.h"
#include "disp.h"
#include "engine.h"
#include "hw.h"
#include "model.h"
#include "optim.h"
#include "ps.h"
#include "train_seq.h"
#include "vclock.h"

/* ------------------------------------------------------------ values ---- */

static int parse_long(const char *flag, const char *v, long lo, long hi, long *out, char *err,
                      size_t errlen) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return psgd_err(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", flag, v, lo, hi);
  *out = x;
  return 0;
}

static int parse_double(const char *flag, const char *v, double lo, double hi, double *out,
                        char *err, size_t errlen) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi)
    return psgd_err(err, errlen, "%s: '%s' is not a number in [%g, %g]", flag, v, lo, hi);
  *out = x;
  return 0;
}

static int set_str(char *dst, size_t cap, const char *flag, const char *v, char *err,
                   size_t errlen) {
  if (strlen(v) >= cap)
    return psgd_err(err, errlen, "%s: '%s' is longer than %zu characters", flag, v, cap - 1);
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

/* ------------------------------------------------------------- flags ---- */

typedef int (*flag_fn)(run_spec *s, const char *flag, const char *v, char *err, size_t errlen);

static int f_dataset(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (data_name_ok(v, err, errlen)) return -1;
  return set_str(s->dataset, sizeof s->dataset, f, v, err, errlen);
}

static int f_model(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (model_name_ok(v, err, errlen)) return -1;
  return set_str(s->model, sizeof s->model, f, v, err, errlen);
}

static int f_hidden(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  int n = 0;
  const char *p = v;
  while (*p) {
    if (n == 8) return psgd_err(err, errlen, "%s: at most 8 hidden layers in '%s'", f, v);
    char *end;
    errno = 0;
    long w = strtol(p, &end, 10);
    if (errno || end == p || (*end && *end != ',') || w < 1 || w > 65536)
      return psgd_err(err, errlen, "%s: '%s' is not a list of widths in [1, 65536] like 128,128",
                      f, v);
    s->hidden[n++] = (int)w;
    p = *end ? end + 1 : end;
    if (*end == ',' && !*p) return psgd_err(err, errlen, "%s: trailing comma in '%s'", f, v);
  }
  if (n == 0) return psgd_err(err, errlen, "%s: empty list", f);
  s->n_hidden = n;
  for (int i = n; i < 8; i++) s->hidden[i] = 0;
  return 0;
}

static int f_batch(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 1, 65536, &x, err, errlen)) return -1;
  s->batch = (int)x;
  return 0;
}

static int f_lr(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (parse_double(f, v, 0, 1e6, &s->lr, err, errlen)) return -1;
  if (!(s->lr > 0)) return psgd_err(err, errlen, "%s: must be positive", f);
  return 0;
}

static int f_momentum(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (parse_double(f, v, 0, 1, &s->momentum, err, errlen)) return -1;
  if (s->momentum >= 1) return psgd_err(err, errlen, "%s: must be below 1", f);
  return 0;
}

static int f_optimizer(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  optim_kind k;
  if (optim_parse(v, &k)) {
    char names[96] = "";
    for (int i = 0; i < OPTIM_COUNT; i++) {
      strncat(names, optim_name((optim_kind)i), sizeof names - strlen(names) - 1);
      if (i + 1 < OPTIM_COUNT) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    return psgd_err(err, errlen, "%s: unknown optimizer '%s' (known: %s)", f, v, names);
  }
  return set_str(s->optimizer, sizeof s->optimizer, f, v, err, errlen);
}

static int f_epochs(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_double(f, v, 0, 1e6, &s->stop_epochs, err, errlen);
}

static int f_seconds(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_double(f, v, 0, 1e7, &s->stop_seconds, err, errlen);
}

static int f_steps(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 0, LONG_MAX, &s->stop_steps, err, errlen);
}

static int f_seed(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-')
    return psgd_err(err, errlen, "%s: '%s' is not a non-negative integer", f, v);
  s->seed = (uint64_t)x;
  return 0;
}

static int f_train_limit(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 0, INT_MAX, &x, err, errlen)) return -1;
  s->train_limit = (int)x;
  return 0;
}

static int f_test_limit(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 0, INT_MAX, &x, err, errlen)) return -1;
  s->test_limit = (int)x;
  return 0;
}

static int f_data_dir(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return set_str(s->data_dir, sizeof s->data_dir, f, v, err, errlen);
}

static int f_target(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_double(f, v, 0, 1, &s->target_acc, err, errlen);
}

static int f_eval_steps(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 0, LONG_MAX, &s->eval_every_steps, err, errlen);
}


/* ---- parallel engine flags (their names come from the registries) ---- */

static int f_threads(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 1, 4096, &x, err, errlen)) return -1;
  s->threads = (int)x;
  return 0;
}

/* algorithm -> dispatcher + store (+ elastic) as algo.h defines it; --store
 * is applied after all flags */
static int f_algorithm(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (set_str(s->algorithm, sizeof s->algorithm, f, v, err, errlen)) return -1;
  char why[PSGD_ERRLEN];
  if (algo_apply_name(s, v, why, sizeof why)) return psgd_err(err, errlen, "%s: %s", f, why);
  return 0;
}

/* --store is checked here and applied after all flags (so that it overrides
 * the store implied by --algorithm in whatever order they come) */
static int f_store(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  (void)s;
  if (!ps_find(v)) {
    char p[96];
    ps_names(p, sizeof p);
    return psgd_err(err, errlen, "%s: unknown param store '%s' (known: %s)", f, v, p);
  }
  return 0;
}

static int f_backoff(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  ps_backoff b;
  if (ps_backoff_parse(v, &b)) {
    char names[96] = "";
    for (int i = 0; i < PS_BACKOFF_COUNT; i++) {
      strncat(names, ps_backoff_name((ps_backoff)i), sizeof names - strlen(names) - 1);
      if (i + 1 < PS_BACKOFF_COUNT) strncat(names, ", ", sizeof names - strlen(names) - 1);
    }
    return psgd_err(err, errlen, "%s: unknown backoff '%s' (known: %s)", f, v, names);
  }
  return set_str(s->backoff, sizeof s->backoff, f, v, err, errlen);
}

static int f_ps(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (!strcmp(v, "inf")) x = -1;
  else if (parse_long(f, v, -1, 1000000, &x, err, errlen)) return -1;
  s->ps_bound = (int)x;
  return 0;
}

static int f_y0(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 1, DISP_Y_MAX, &s->y0, err, errlen);
}

static int f_y_control(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  const ctl_ops *c = ctl_find(v);
  if (!c || c->over_m) {
    char names[128];
    algo_y_control_names(names, sizeof names, ", ");
    return psgd_err(err, errlen, "%s: unknown y control '%s' (known: %s)", f, v, names);
  }
  return set_str(s->y_control, sizeof s->y_control, f, v, err, errlen);
}

static int f_decay_k(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 1, LONG_MAX, &s->y_decay_k, err, errlen);
}

static int f_window(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 1, 64, &x, err, errlen)) return -1;
  s->probe_window = (int)x;
  return 0;
}

static int f_probe_steps(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 2, LONG_MAX, &s->probe_steps, err, errlen);
}

static int f_exec_steps(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_long(f, v, 1, LONG_MAX, &s->exec_steps, err, errlen);
}

static int f_placement(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return set_str(s->placement, sizeof s->placement, f, v, err, errlen);
}

static int f_topology(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return set_str(s->topology, sizeof s->topology, f, v, err, errlen);
}

static int parse_bool(const char *f, const char *v, int *out, char *err, size_t errlen) {
  if (!strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true")) *out = 1;
  else if (!strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "false")) *out = 0;
  else return psgd_err(err, errlen, "%s: '%s' is not yes or no", f, v);
  return 0;
}

static int f_keep_core(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_bool(f, v, &s->keep_core_free, err, errlen);
}

static int f_nearest(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_bool(f, v, &s->placement_nearest, err, errlen);
}

static int f_best_effort(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_bool(f, v, &s->bind_best_effort, err, errlen);
}

static int f_interleave(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_bool(f, v, &s->mem_interleave, err, errlen);
}

static int f_eval_s(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_double(f, v, 0, 1e6, &s->eval_every_s, err, errlen);
}

static int f_epsilon(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  return parse_double(f, v, 0, 0.999999, &s->epsilon, err, errlen);
}

static int f_clock(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  if (strcmp(v, "real") != 0 && strcmp(v, "virtual") != 0)
    return psgd_err(err, errlen, "%s: '%s' is not real or virtual", f, v);
  return set_str(s->clock, sizeof s->clock, f, v, err, errlen);
}

static int f_step_time(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  vclock_model m;
  char why[PSGD_ERRLEN];
  if (vclock_model_parse(v, &m, why, sizeof why)) return psgd_err(err, errlen, "%s: %s", f, why);
  return set_str(s->step_time, sizeof s->step_time, f, v, err, errlen);
}

static int f_compute_threads(run_spec *s, const char *f, const char *v, char *err,
                             size_t errlen) {
  long x = 0;
  if (parse_long(f, v, 0, 1024, &x, err, errlen)) return -1;
  s->compute_threads = (int)x;
  return 0;
}

static int f_engine(run_spec *s, const char *f, const char *v, char *err, size_t errlen) {
  (void)s;
  (void)f;
  (void)v;
  (void)err;
  (void)errlen;
  return 0; /* only selects the engine path (cli_train_wants_engine) */
}

typedef struct {
  const char *name;
  const char *arg; /* value placeholder for the usage text */
  flag_fn set;
  const char *help;
  int engine;      /* 1: a parallel-engine flag (selects engine_run) */
} flag;

/* Flags whose help has one %s: the registry list it stands for (algo.h). */
static const struct {
  const char *flag;
  void (*names)(char *buf, size_t cap, const char *sep);
} flag_names[] = {
    {"--algorithm", algo_names},
    {"--store", algo_store_names},
    {"--y-control", algo_y_control_names},
};

#define N_FLAGS 39
static const flag flags[] = {
    {"--dataset", "NAME", f_dataset, "fashion-mnist | mnist | cifar10 | cifar100 | synthetic", 0},
    {"--model", "NAME", f_model, "mlp | lenet5", 0},
    {"--hidden", "W,W,..", f_hidden, "mlp hidden layer widths (default 128,128,128)", 0},
    {"--batch", "B", f_batch, "minibatch size (default 16)", 0},
    {"--lr", "X", f_lr, "step size (default 0.005)", 0},
    {"--momentum", "M", f_momentum, "momentum in [0, 1) (default 0.5)", 0},
    {"--optimizer", "NAME", f_optimizer, "sgd | momentum | mindthestep (default momentum)", 0},
    {"--epochs", "E", f_epochs, "stop after E epochs, fractions allowed (default 1)", 0},
    {"--seconds", "S", f_seconds, "stop after S seconds of training", 0},
    {"--steps", "N", f_steps, "stop after N steps", 0},
    {"--target-acc", "A", f_target, "stop once test accuracy >= A (0..1)", 0},
    {"--seed", "S", f_seed, "seed of initialization and batch order (default 1)", 0},
    {"--train-limit", "N", f_train_limit, "use only the first N training samples", 0},
    {"--test-limit", "N", f_test_limit, "use only the first N test samples", 0},
    {"--eval-every", "N", f_eval_steps, "also evaluate every N steps (default: per epoch)", 0},
    {"--data-dir", "DIR", f_data_dir, "root of mnist/ and cifar-* (default data)", 0},
    {"--epsilon", "E", f_epsilon, "stop once the train loss <= E x initial loss", 0},
    {"--engine", "yes", f_engine, "use the parallel engine even without other engine flags", 1},
    {"--threads", "M", f_threads, "parallel engine: M worker threads (default 1)", 1},
    {"--algorithm", "NAME", f_algorithm, "%s", 1},
    {"--store", "NAME", f_store, "param store: %s", 1},
    {"--backoff", "NAME", f_backoff, "none | linear | exponential | random (mutex/rwlock/leashed)",
     1},
    {"--ps", "N", f_ps, "leashed persistence bound: 0, 1, ... or -1/inf (default)", 1},
    {"--y0", "Y", f_y0, "interval: initial interval size (default 64)", 1},
    {"--y-control", "NAME", f_y_control, "interval: %s", 1},
    {"--y-decay-k", "K", f_decay_k, "decay: y -= 1 every K accepted steps (default 4096)", 1},
    {"--probe-window", "W", f_window, "probing/elastic: candidates per probe (default 3)", 1},
    {"--probe-steps", "P", f_probe_steps, "probing/elastic: steps per candidate (default 1024)",
     1},
    {"--exec-steps", "X", f_exec_steps, "probing/elastic: steps between probes (default 8192)",
     1},
    {"--placement", "P", f_placement,
     "os | uma | compact | numa | spread | numa:K | list:a,b,.. (psgd hw shows the plan)", 1},
    {"--topology", "T", f_topology, "plan on synthetic:DESC or an lstopo XML (binds nothing)", 1},
    {"--keep-core-free", "yes", f_keep_core, "leave the last core for evaluator/recorder", 1},
    {"--placement-nearest", "yes", f_nearest, "run an impossible placement as its nearest one",
     1},
    {"--bind-best-effort", "yes", f_best_effort, "record binding failures instead of failing", 1},
    {"--mem-interleave", "yes", f_interleave,
     "interleave shared state over the plan's NUMA nodes", 1},
    {"--eval-every-s", "S", f_eval_s, "parallel engine: snapshot every S seconds (default 1)", 1},
    {"--clock", "NAME", f_clock,
     "real (default) | virtual: simulate M cores in virtual time (same results every time)", 1},
    {"--step-time", "MODEL", f_step_time,
     "virtual: measured | constant:<us> | lognormal:<mean_us>,<cv>, then optionally "
     ",copy=F,apply=F,add=F (lock/CAS holds, sync's add; default "
     VCLOCK_DEFAULT_STEP_TIME ")",
     1},
    {"--compute-threads", "N", f_compute_threads,
     "virtual: real gradient threads (default 0 = all cores; never changes results)", 1},
};
static_assert(sizeof flags / sizeof flags[0] == N_FLAGS, "N_FLAGS matches the table");

void cli_train_usage(FILE *f) {
  fprintf(f, "usage: psgd train [options]\n\n"
             "Trains one model and reports test loss and accuracy. Without parallel-engine\n"
             "options: sequentially (one thread), evaluating after every epoch. With any of\n"
             "them (--threads, --algorithm, ...): the parallel engine, which snapshots theta\n"
             "every --eval-every-s seconds and evaluates the snapshots after the run.\n"
             "The first stop condition met ends the run.\n\noptions:\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char left[40];
    snprintf(left, sizeof left, "%s %s", flags[i].name, flags[i].arg);
    char help[256];
    snprintf(help, sizeof help, "%s", flags[i].help);
    const char *hole = strstr(flags[i].help, "%s");
    for (size_t k = 0; hole && k < sizeof flag_names / sizeof flag_names[0]; k++)
      if (!strcmp(flags[i].name, flag_names[k].flag)) {
        char names[200];
        flag_names[k].names(names, sizeof names, " | ");
        snprintf(help, sizeof help, "%.*s%s%s", (int)(hole - flags[i].help), flags[i].help, names,
                 hole + 2);
      }
    fprintf(f, "  %-22s %s\n", left, help);
  }
  fprintf(f, "  %-22s %s\n", "--help", "this text");
}

int cli_train_wants_engine(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    for (int k = 0; k < N_FLAGS; k++) {
      size_t len = strlen(flags[k].name);
      if (flags[k].engine && !strncmp(argv[i], flags[k].name, len) &&
          (argv[i][len] == '\0' || argv[i][len] == '='))
        return 1;
    }
  return 0;
}

int cli_train_parse(int argc, char **argv, run_spec *s, char *err, size_t errlen) {
  spec_default(s);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const flag *fl = NULL;
    for (int k = 0; k < N_FLAGS; k++)
      if (strlen(flags[k].name) == len && !strncmp(a, flags[k].name, len)) fl = &flags[k];
    if (!fl) return psgd_err(err, errlen, "unknown option '%.*s' (see psgd train --help)", (int)len, a);
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!v) return psgd_err(err, errlen, "%s: missing value %s", fl->name, fl->arg);
    if (fl->set(s, fl->name, v, err, errlen)) return -1;
  }
  if (!(s->stop_epochs > 0 || s->stop_seconds > 0 || s->stop_steps > 0))
    return psgd_err(err, errlen, "no stop condition: give --epochs, --seconds or --steps > 0");
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (!strcmp(argv[i], "--store") && i + 1 < argc) v = argv[i + 1];
    else if (!strncmp(argv[i], "--store=", 8)) v = argv[i] + 8;
    if (!v) continue;
    if (set_str(s->store, sizeof s->store, "--store", v, err, errlen)) return -1;
  }
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

static void on_started(void *ctx, const run_spec *s, const char *what) {
  (void)ctx;
  (void)s;
  printf("train: %s\n", what);
  fflush(stdout);
}

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
 * dataset's files (data_check), batch <= training set, and for the engine
 * the placement on its topology. An error here is an argument error (exit
 * 2), like a bad flag value. */
static int precheck(const run_spec *s, int engine, char *err, size_t errlen) {
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
  if (!engine || (!strcmp(s->placement, "os") && !s->topology[0])) return 0;
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
  if (engine_resolve(s, &a, err, sizeof err) || precheck(s, 1, err, sizeof err)) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 2;
  }
  printf("train: parallel engine: %d threads, dispatcher %s, store %s, backoff %s", s->threads,
         a.disp->name, a.store->name, ps_backoff_name(a.backoff));
  if (a.disp->has_y) printf(", y0 %ld, y control %s", s->y0, s->y_control);
  if (a.store->has_ps_bound) printf(", ps %d", s->ps_bound);
  if (a.ctl_m) printf(", elastic (window %d, p %ld, x %ld)", s->probe_window, s->probe_steps,
                      s->exec_steps);
  if (!strcmp(s->clock, "virtual"))
    printf(", virtual clock (simulated %d-core machine, step time %s)", s->threads, s->step_time);
  printf("; %s %s batch %d lr %g mu %g seed %llu\n", s->dataset, s->model, s->batch, s->lr,
         s->momentum, (unsigned long long)s->seed);
  fflush(stdout);
  engine_io io = {NULL, 0, on_engine_progress, NULL, NULL};
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
  if (cli_train_wants_engine(argc, argv)) return run_engine(&s);
  if (precheck(&s, 0, err, sizeof err)) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 2;
  }
  train_io io = {on_progress, on_started, NULL};
  run_result res;
  uint64_t t0 = psgd_now_ns();
  if (train_seq_run(&s, &io, &res, err, sizeof err)) {
    fprintf(stderr, "psgd train: %s\n", err);
    return 1;
  }
  double total_s = (psgd_now_ns() - t0) * 1e-9;
  printf("train: done status %s epochs %.2f steps %llu train_loss %.4f test_loss %.4f "
         "best_acc %.4f total_s %.2f test_acc %.4f wall_s %.2f\n",
         run_status_name(res.status), res.epochs, (unsigned long long)res.steps_accepted,
         res.final_train_loss, res.final_test_loss, res.best_test_acc, total_s,
         res.final_test_acc, res.wall_s);
  return 0;
}
