/* setting.c - the table of run settings (setting.h) and the value parsing
 * every text path shares (flags of `psgd train`, defaults). */
#define _POSIX_C_SOURCE 200809L
#include "setting.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo.h"
#include "common.h"
#include "data.h"
#include "disp.h"
#include "model.h"
#include "optim.h"
#include "ps.h"

static void optim_names(char *buf, size_t cap, const char *sep) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < OPTIM_COUNT && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "", optim_name((optim_kind)i));
}

static void backoff_names(char *buf, size_t cap, const char *sep) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < PS_BACKOFF_COUNT && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? sep : "",
                            ps_backoff_name((ps_backoff)i));
}

#define F(f) offsetof(run_spec, f), sizeof(((run_spec *)0)->f)
#define NOF 0, 0
#define SW SETTING_SWEEP
#define EN SETTING_ENGINE

/* The order is the JSON's: changing it changes every run key. */
const setting setting_table[] = {
    [SET_EXPERIMENT] = {NULL, "experiment", NULL, NULL, SETTING_STR, 0, 0, 0, NULL, NULL, NULL,
                        "experiment name (file stem); \"\" for psgd train", FK_STR, F(experiment), 0},
    [SET_LABEL] = {"label", "label", "--label", "TEXT", SETTING_STR, 0, 0, 0, NULL, NULL, NULL,
                   "legend text of the run (files: default the algorithm)", FK_STR, F(label), 0},
    [SET_REPETITION] = {NULL, "repetition", NULL, NULL, SETTING_INT, 0, 1000, 0, NULL, NULL, NULL,
                        "0-based repetition (files: from repeat)", FK_INT, F(repetition), 0},
    [SET_SEED] = {"seed", "seed", "--seed", "S", SETTING_INT, 0, 4e18, 0, NULL, NULL, "1",
                  "seed of initialization and batch order (repetition r: seed + r)", FK_U64,
                  F(seed), SW},
    [SET_ALGORITHM] = {"algorithm", "algorithm", "--algorithm", "NAME", SETTING_STR, 0, 0, 0, NULL,
                       algo_names, "async", "%s", FK_STR, F(algorithm), SW | EN},
    [SET_DISPATCHER] = {NULL, "dispatcher", NULL, NULL, SETTING_STR, 0, 0, 0, NULL, NULL, "async",
                        "dispatcher the algorithm resolves to", FK_STR, F(dispatcher), 0},
    [SET_STORE] = {"store", "store", "--store", "NAME", SETTING_STR, 0, 0, 0, NULL,
                   algo_store_names, "hogwild", "param store: %s (default: the algorithm's)",
                   FK_STR, F(store), SW | EN},
    [SET_BACKOFF] = {"backoff", "backoff", "--backoff", "NAME", SETTING_STR, 0, 0, 0, NULL,
                     backoff_names, "none", "%s (mutex/rwlock/leashed)", FK_STR, F(backoff),
                     SW | EN},
    [SET_PS] = {"ps", "ps", "--ps", "N", SETTING_INT, -1, 1000000, 0, NULL, NULL, "-1",
                "leashed persistence bound: 0, 1, ... or -1 (CLI also inf) = unbounded", FK_INT,
                F(ps_bound), SW | EN | SETTING_INF},
    [SET_Y_CONTROL] = {"y_control", "y_control", "--y-control", "NAME", SETTING_STR, 0, 0, 0, NULL,
                       algo_y_control_names, "const", "interval: %s", FK_STR, F(y_control),
                       SW | EN},
    [SET_Y0] = {"y0", "y0", "--y0", "Y", SETTING_INT, 1, DISP_Y_MAX, 0, NULL, NULL, "64",
                "interval: initial interval size", FK_LONG, F(y0), SW | EN},
    [SET_Y_DECAY_K] = {"y_decay_k", "y_decay_k", "--y-decay-k", "K", SETTING_INT, 1, 1e12, 0, NULL,
                       NULL, "4096", "decay: y -= 1 every K accepted steps", FK_LONG, F(y_decay_k),
                       SW | EN},
    [SET_PROBE_WINDOW] = {"probe_window", "probe_window", "--probe-window", "W", SETTING_INT, 1, 64,
                          0, NULL, NULL, "3", "probing/elastic: candidates per probe", FK_INT,
                          F(probe_window), SW | EN},
    [SET_PROBE_STEPS] = {"probe_steps", "probe_steps", "--probe-steps", "P", SETTING_INT, 2, 1e12,
                         0, NULL, NULL, "1024", "probing/elastic: accepted steps per candidate",
                         FK_LONG, F(probe_steps), SW | EN},
    [SET_EXEC_STEPS] = {"exec_steps", "exec_steps", "--exec-steps", "X", SETTING_INT, 1, 1e12, 0,
                        NULL, NULL, "8192", "probing/elastic: accepted steps between probes",
                        FK_LONG, F(exec_steps), SW | EN},
    [SET_ELASTIC] = {NULL, "elastic", NULL, NULL, SETTING_BOOL, 0, 1, 0, NULL, NULL, NULL,
                     "1: elastic controller over m (the algorithm resolves it)", FK_INT,
                     F(elastic), 0},
    [SET_THREADS] = {"threads", "threads", "--threads", "M", SETTING_THREADS, 1, 4096, 0, NULL,
                     NULL, "1", "parallel engine: M worker threads, or \"<f>x\" f times the cores",
                     FK_INT, F(threads), SW | EN},
    [SET_PLACEMENT] = {"placement", "placement", "--placement", "P", SETTING_PLACEMENT, 0, 0, 0,
                       NULL, NULL, "os",
                       "os | uma | compact | numa | spread | numa:K | list:a,b,.. (psgd hw shows "
                       "the plan)",
                       FK_STR, F(placement), SW | EN},
    [SET_TOPOLOGY] = {"topology", "topology", "--topology", "T", SETTING_TOPOLOGY, 0, 0, 0, NULL,
                      NULL, NULL, "plan on synthetic:DESC or an lstopo XML (binds nothing)",
                      FK_STR, F(topology), SW | EN},
    [SET_BIND_BEST_EFFORT] = {"bind_best_effort", "bind_best_effort", "--bind-best-effort", "yes",
                              SETTING_BOOL, 0, 1, 0, NULL, NULL, "0",
                              "record binding failures instead of failing", FK_INT,
                              F(bind_best_effort), SW | EN},
    [SET_KEEP_CORE_FREE] = {"keep_core_free", "keep_core_free", "--keep-core-free", "yes",
                            SETTING_BOOL, 0, 1, 0, NULL, NULL, "0",
                            "leave the last core for evaluator/recorder", FK_INT,
                            F(keep_core_free), SW | EN},
    [SET_PLACEMENT_NEAREST] = {"placement_nearest", "placement_nearest", "--placement-nearest",
                               "yes", SETTING_BOOL, 0, 1, 0, NULL, NULL, "0",
                               "run an impossible placement as its nearest one", FK_INT,
                               F(placement_nearest), SW | EN | SETTING_JSON_IF_SET},
    [SET_MEM_INTERLEAVE] = {"mem_interleave", "mem_interleave", "--mem-interleave", "yes",
                            SETTING_BOOL, 0, 1, 0, NULL, NULL, "0",
                            "interleave shared state over the plan's NUMA nodes", FK_INT,
                            F(mem_interleave), SW | EN | SETTING_JSON_IF_SET},
    [SET_DATASET] = {"dataset", "dataset", "--dataset", "NAME", SETTING_STR, 0, 0, 0, NULL,
                     data_names, "fashion-mnist", "%s", FK_STR, F(dataset), SW},
    [SET_DATA_DIR] = {"data_dir", "data_dir", "--data-dir", "DIR", SETTING_STR, 0, 0, 0, NULL, NULL,
                      "data", "root of mnist/ and cifar-*", FK_STR, F(data_dir), SW},
    [SET_TRAIN_LIMIT] = {"train_limit", "train_limit", "--train-limit", "N", SETTING_INT, 0,
                         INT_MAX, 0, NULL, NULL, "0",
                         "use only the first N training samples (0 = all)", FK_INT,
                         F(train_limit), SW},
    [SET_TEST_LIMIT] = {"test_limit", "test_limit", "--test-limit", "N", SETTING_INT, 0, INT_MAX, 0,
                        NULL, NULL, "0", "use only the first N test samples (0 = all)", FK_INT,
                        F(test_limit), SW},
    [SET_MODEL] = {"model", "model", "--model", "NAME", SETTING_STR, 0, 0, 0, NULL, model_names,
                   "mlp", "%s", FK_STR, F(model), SW},
    [SET_HIDDEN] = {"hidden", "hidden", "--hidden", "W,W,..", SETTING_HIDDEN, 1, 65536, 0, NULL,
                    NULL, "128,128,128", "mlp hidden layer widths", FK_HIDDEN, NOF, SW},
    [SET_BATCH] = {"batch", "batch", "--batch", "B", SETTING_INT, 1, 65536, 0, NULL, NULL, "16",
                   "minibatch size", FK_INT, F(batch), SW},
    [SET_OPTIMIZER] = {"optimizer", "optimizer", "--optimizer", "NAME", SETTING_STR, 0, 0, 0, NULL,
                       optim_names, "momentum", "%s", FK_STR, F(optimizer), SW},
    [SET_LR] = {"lr", "lr", "--lr", "X", SETTING_FLOAT, 0, 100, SETTING_MIN_EXCL, NULL, NULL,
                "0.005", "step size", FK_DOUBLE, F(lr), SW},
    [SET_MOMENTUM] = {"momentum", "momentum", "--momentum", "M", SETTING_FLOAT, 0, 1,
                      SETTING_MAX_EXCL, NULL, NULL, "0.5", "momentum mu", FK_DOUBLE, F(momentum),
                      SW},
    [SET_STOP_SECONDS] = {"stop.seconds", "stop_seconds", "--seconds", "S", SETTING_FLOAT, 0, 1e7,
                          0, NULL, NULL, "0", "stop after S seconds of training (0 = unused)",
                          FK_DOUBLE, F(stop_seconds), SW},
    [SET_STOP_EPOCHS] = {"stop.epochs", "stop_epochs", "--epochs", "E", SETTING_FLOAT, 0, 1e6, 0,
                         NULL, NULL, "1", "stop after E epochs, fractions allowed (0 = unused)",
                         FK_DOUBLE, F(stop_epochs), SW},
    [SET_STOP_STEPS] = {"stop.steps", "stop_steps", "--steps", "N", SETTING_INT, 0, 1e15, 0, NULL,
                        NULL, "0", "stop after N accepted steps (0 = unused)", FK_LONG,
                        F(stop_steps), SW},
    [SET_TARGET_ACC] = {"stop.target_acc", "target_acc", "--target-acc", "A", SETTING_FLOAT, 0, 1,
                        0, NULL, NULL, "0", "stop once test accuracy >= A (0 = unused)",
                        FK_DOUBLE, F(target_acc), SW},
    [SET_EPSILON] = {"stop.epsilon", "epsilon", "--epsilon", "E", SETTING_FLOAT, 0, 1,
                     SETTING_MAX_EXCL, NULL, NULL, "0",
                     "stop once the train loss <= E x initial loss (0 = unused)", FK_DOUBLE,
                     F(epsilon), SW},
    [SET_TIMEOUT] = {"timeout", "timeout_s", NULL, NULL, SETTING_FLOAT, 0, 1e7, 0, NULL, NULL, "0",
                     "psgd run's hard wall-clock limit per run (s)", FK_DOUBLE, F(timeout_s), SW},
    [SET_EVAL_EVERY_S] = {"eval.every_s", "eval_every_s", "--eval-every-s", "S", SETTING_FLOAT, 0,
                          1e6, 0, NULL, NULL, "1",
                          "parallel engine: snapshot every S seconds (0 = at the end)", FK_DOUBLE,
                          F(eval_every_s), SW | EN},
    [SET_EVAL_EVERY_STEPS] = {"eval.every_steps", "eval_every_steps", "--eval-every", "N",
                              SETTING_INT, 0, 1e15, 0, NULL, NULL, "0",
                              "also snapshot every N accepted steps (0 = off)",
                              FK_LONG, F(eval_every_steps), SW},
    [SET_EVAL_TEST_LIMIT] = {"eval.test_limit", "eval_test_limit", "--eval-test-limit", "N",
                             SETTING_INT, 0, INT_MAX, 0, NULL, NULL, "0",
                             "evaluate on the first N test samples (0 = all)", FK_INT,
                             F(eval_test_limit), SW},
    [SET_RECORD_STEPS] = {"record_steps", "record_steps", NULL, NULL, SETTING_BOOL, 0, 1, 0, NULL,
                          NULL, "1", "psgd run: one steps row per SGD step", FK_INT,
                          F(record_steps), SW},
    [SET_CLOCK] = {"clock", "clock", "--clock", "NAME", SETTING_STR, 0, 0, 0, "real|virtual", NULL,
                   "real", "real | virtual: simulate M cores in virtual time (same results every "
                   "time)",
                   FK_STR, F(clock), SW | EN | SETTING_JSON_IF_VIRTUAL},
    [SET_STEP_TIME] = {"step_time", "step_time", "--step-time", "MODEL", SETTING_STR, 0, 0, 0, NULL,
                       NULL, NULL,
                       "virtual: measured | constant:<us> | lognormal:<mean_us>,<cv> | run:<key>, "
                       "then optionally ,copy=F,apply=F,add=F (lock/CAS holds, sync's add; "
                       "default measured)",
                       FK_STR, F(step_time), SW | EN | SETTING_JSON_IF_VIRTUAL},
    [SET_COMPUTE_THREADS] = {"compute_threads", NULL, "--compute-threads", "N", SETTING_INT, 0,
                             1024, 0, NULL, NULL, "0",
                             "virtual: real gradient threads (0 = all cores; never changes "
                             "results)",
                             FK_INT, F(compute_threads), EN},
    [SET_REPEAT] = {"repeat", NULL, NULL, NULL, SETTING_INT, 1, 1000, 0, NULL, NULL, "1",
                    "repetitions of every run (files only: expansion)", FK_NONE, NOF, 0},
    [SET_ENGINE] = {NULL, NULL, "--engine", "yes", SETTING_BOOL, 0, 1, 0, NULL, NULL, NULL,
                    "accepted for old scripts: every run uses the engine", FK_NONE, NOF, EN},
};
/* The last id needs its row; a row left out in the middle would be all
 * zeros (no key, JSON name or flag), which tests/test_setting.c refuses. */
static_assert(sizeof setting_table / sizeof setting_table[0] == SETTING_COUNT,
              "one row per SET_* id");

int setting_by_key(const char *key) {
  for (int i = 0; i < SETTING_COUNT; i++)
    if (setting_table[i].key && !strcmp(setting_table[i].key, key)) return i;
  return -1;
}

int setting_by_json(const char *json) {
  for (int i = 0; i < SETTING_COUNT; i++)
    if (setting_table[i].json && !strcmp(setting_table[i].json, json)) return i;
  return -1;
}

int setting_by_flag(const char *flag) {
  for (int i = 0; i < SETTING_COUNT; i++)
    if (setting_table[i].flag && !strcmp(setting_table[i].flag, flag)) return i;
  return -1;
}

void setting_choices(const setting *st, char *buf, size_t cap) {
  if (st->choices) snprintf(buf, cap, "%s", st->choices);
  else if (st->names) st->names(buf, cap, "|");
  else if (cap) buf[0] = '\0';
}

void setting_range_text(const setting *st, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%.15g, %.15g%s", (st->bounds & SETTING_MIN_EXCL) ? "(" : "[", st->min,
           st->max, (st->bounds & SETTING_MAX_EXCL) ? ")" : "]");
}

int setting_in_range(const setting *st, double v) {
  if ((st->bounds & SETTING_MIN_EXCL) ? !(v > st->min) : !(v >= st->min)) return 0;
  if ((st->bounds & SETTING_MAX_EXCL) ? !(v < st->max) : !(v <= st->max)) return 0;
  return 1;
}

int setting_in_choices(const char *word, const char *list) {
  size_t n = strlen(word);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, '|');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, word, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* Stores an already checked value. */
static void put_int(const setting *st, run_spec *s, long long v) {
  char *f = (char *)s + st->off;
  switch (st->fk) {
    case FK_INT: *(int *)f = (int)v; break;
    case FK_LONG: *(long *)f = (long)v; break;
    case FK_U64: *(uint64_t *)f = (uint64_t)v; break;
    case FK_DOUBLE: *(double *)f = (double)v; break;
    default: break;
  }
}

/* Hidden sizes "128,128" (or "128x128"): count, or -1. */
static int parse_hidden(const setting *st, const char *text, int h[8]) {
  int n = 0;
  const char *p = text;
  while (*p) {
    if (n == 8) return -1;
    char *end;
    errno = 0;
    long w = strtol(p, &end, 10);
    if (errno || end == p || (*end && *end != ',' && *end != 'x') || !setting_in_range(st, w))
      return -1;
    h[n++] = (int)w;
    p = *end ? end + 1 : end;
    if (*end && !*p) return -1;
  }
  return n;
}

void setting_put_default(const setting *st, run_spec *s) {
  if (st->fk == FK_NONE || !st->dflt) return;
  char *f = (char *)s + st->off;
  switch (st->fk) {
    case FK_STR: snprintf(f, st->size, "%s", st->dflt); break;
    case FK_DOUBLE: *(double *)f = strtod(st->dflt, NULL); break;
    case FK_HIDDEN: {
      int h[8] = {0};
      int n = parse_hidden(st, st->dflt, h);
      PSGD_CHECK(n > 0);
      s->n_hidden = n;
      memcpy(s->hidden, h, sizeof s->hidden);
      break;
    }
    default: put_int(st, s, strtoll(st->dflt, NULL, 10)); break;
  }
}

/* An integer row (SETTING_INF: also "inf" = -1). */
static int parse_int(const setting *st, const char *what, const char *v, run_spec *s, char *err,
                     size_t errlen) {
  char rng[96];
  setting_range_text(st, rng, sizeof rng);
  long long x = -1;
  if (!(st->flags & SETTING_INF) || strcmp(v, "inf") != 0) {
    char *end;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || end == v || *end || !setting_in_range(st, (double)x))
      return psgd_err(err, errlen, "%s: '%s' is not an integer in %s", what, v, rng);
  }
  put_int(st, s, x);
  return 0;
}

/* What a value of a STR row is called in messages. */
static const char *noun_of(const setting *st) {
  if (st == &setting_table[SET_STORE]) return "param store";
  if (st == &setting_table[SET_Y_CONTROL]) return "y control";
  return st->key ? st->key : st->flag + 2;
}

int setting_parse(const setting *st, const char *what, const char *v, int n_cores, run_spec *s,
                  char *err, size_t errlen) {
  char rng[96];
  setting_range_text(st, rng, sizeof rng);
  char *f = (char *)s + st->off;
  switch (st->type) {
    case SETTING_STR:
    case SETTING_PLACEMENT:
    case SETTING_TOPOLOGY: {
      char list[512];
      setting_choices(st, list, sizeof list);
      if (list[0] && !setting_in_choices(v, list)) {
        char shown[512];
        st->names ? st->names(shown, sizeof shown, ", ") : (void)snprintf(shown, sizeof shown,
                                                                          "%s", list);
        return psgd_err(err, errlen, "%s: unknown %s '%s' (known: %s)", what, noun_of(st), v,
                        shown);
      }
      if (st->fk != FK_STR) return 0;
      if (strlen(v) >= st->size)
        return psgd_err(err, errlen, "%s: '%s' is longer than %zu characters", what, v,
                        st->size - 1);
      memcpy(f, v, strlen(v) + 1);
      return 0;
    }
    case SETTING_THREADS: {
      char *end;
      errno = 0;
      double x = strtod(v, &end);
      if (end != v && !errno && end[0] == 'x' && !end[1]) {
        if (!(x > 0 && x <= 256))
          return psgd_err(err, errlen, "%s: '%s': the factor must be in (0, 256] times the cores",
                          what, v);
        long t = lround(x * (n_cores > 0 ? n_cores : 1));
        put_int(st, s, t < 1 ? 1 : t);
        return 0;
      }
      return parse_int(st, what, v, s, err, errlen);
    }
    case SETTING_INT: return parse_int(st, what, v, s, err, errlen);
    case SETTING_FLOAT: {
      char *end;
      errno = 0;
      double x = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(x) || !setting_in_range(st, x))
        return psgd_err(err, errlen, "%s: '%s' is not a number in %s", what, v, rng);
      *(double *)f = x;
      return 0;
    }
    case SETTING_BOOL: {
      int b;
      if (!strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "true")) b = 1;
      else if (!strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "false")) b = 0;
      else return psgd_err(err, errlen, "%s: '%s' is not yes or no", what, v);
      put_int(st, s, b);
      return 0;
    }
    case SETTING_HIDDEN: {
      int h[8] = {0};
      int n = parse_hidden(st, v, h);
      if (n <= 0)
        return psgd_err(err, errlen, "%s: '%s' is not a list of 1 to 8 widths in %s like 128,128",
                        what, v, rng);
      s->n_hidden = n;
      memcpy(s->hidden, h, sizeof s->hidden);
      return 0;
    }
  }
  return psgd_err(err, errlen, "%s: internal error (setting type)", what);
}

void setting_format(const setting *st, const run_spec *s, char *buf, size_t cap) {
  const char *f = (const char *)s + st->off;
  switch (st->fk) {
    case FK_NONE: snprintf(buf, cap, "%s", ""); break;
    case FK_INT: snprintf(buf, cap, "%d", *(const int *)f); break;
    case FK_LONG: snprintf(buf, cap, "%ld", *(const long *)f); break;
    case FK_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case FK_DOUBLE: snprintf(buf, cap, "%.17g", *(const double *)f); break;
    case FK_STR: snprintf(buf, cap, "%s", f); break;
    case FK_HIDDEN: {
      size_t len = 0;
      buf[0] = '\0';
      for (int i = 0; i < s->n_hidden && i < 8 && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", s->hidden[i]);
      break;
    }
  }
}
