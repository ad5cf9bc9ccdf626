/* cli_train.c - `psgd train`: flags -> run spec (one table, one parser),
 * then the sequential trainer, printing a configuration line, one progress
 * line per evaluation and a final summary line:
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
#include "common.h"
#include "data.h"
#include "model.h"
#include "optim.h"
#include "train_seq.h"

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

typedef struct {
  const char *name;
  const char *arg; /* value placeholder for the usage text */
  flag_fn set;
  const char *help;
} flag;

#define N_FLAGS 16
static const flag flags[] = {
    {"--dataset", "NAME", f_dataset, "fashion-mnist | mnist | cifar10 | cifar100 | synthetic"},
    {"--model", "NAME", f_model, "mlp | lenet5"},
    {"--hidden", "W,W,..", f_hidden, "mlp hidden layer widths (default 128,128,128)"},
    {"--batch", "B", f_batch, "minibatch size (default 16)"},
    {"--lr", "X", f_lr, "step size (default 0.005)"},
    {"--momentum", "M", f_momentum, "momentum in [0, 1) (default 0.5)"},
    {"--optimizer", "NAME", f_optimizer, "sgd | momentum | mindthestep (default momentum)"},
    {"--epochs", "E", f_epochs, "stop after E epochs, fractions allowed (default 1)"},
    {"--seconds", "S", f_seconds, "stop after S seconds of training"},
    {"--steps", "N", f_steps, "stop after N steps"},
    {"--target-acc", "A", f_target, "stop once test accuracy >= A (0..1)"},
    {"--seed", "S", f_seed, "seed of initialization and batch order (default 1)"},
    {"--train-limit", "N", f_train_limit, "use only the first N training samples"},
    {"--test-limit", "N", f_test_limit, "use only the first N test samples"},
    {"--eval-every", "N", f_eval_steps, "also evaluate every N steps (default: per epoch)"},
    {"--data-dir", "DIR", f_data_dir, "root of mnist/ and cifar-* (default data)"},
};
static_assert(sizeof flags / sizeof flags[0] == N_FLAGS, "N_FLAGS matches the table");

void cli_train_usage(FILE *f) {
  fprintf(f, "usage: psgd train [options]\n\n"
             "Trains one model sequentially (one thread) and reports test loss and accuracy\n"
             "after every epoch. The first stop condition met ends the run.\n\noptions:\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char left[40];
    snprintf(left, sizeof left, "%s %s", flags[i].name, flags[i].arg);
    fprintf(f, "  %-22s %s\n", left, flags[i].help);
  }
  fprintf(f, "  %-22s %s\n", "--help", "this text");
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
