/* cfg_spec.c - one run's spec from its resolved settings, and the rules of
 * experiment files that combine settings: the algorithm (algo.c), the
 * virtual clock, stop conditions, timeouts, placements planned on their
 * topology, the model against the dataset's sample layout (data.c), the
 * dataset's files. */
#define _GNU_SOURCE
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include "algo.h"
#include "common.h"
#include "data.h"
#include "disp.h"
#include "hw.h"
#include "model.h"
#include "ps.h"
#include "vclock.h"

int config_n_cores(void) {
  /* Set by psgd slurm's job scripts: every task resolves "<f>x" as the
   * machine that wrote the script did, whatever CPUs it was given. */
  const char *env = getenv("PSGD_CORES");
  if (env && *env) {
    char *end;
    long n = strtol(env, &end, 10);
    if (!*end && n > 0 && n <= 1 << 20) return (int)n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Dataset checks of the current config_load, by (dataset, data dir,
 * train_limit): a sweep of many runs reads each dataset's headers once. */
#define DATA_CACHE 8
static struct {
  char dataset[SPEC_STR], data_dir[SPEC_PATH];
  int train_limit, n_train;
  int failed;
  char err[PSGD_ERRLEN];
} g_data_cache[DATA_CACHE];
static int g_n_data_cache;

static int check_dataset(const run_spec *s, int *n_train, char *err, size_t errlen) {
  for (int i = 0; i < g_n_data_cache; i++) {
    if (strcmp(g_data_cache[i].dataset, s->dataset) ||
        strcmp(g_data_cache[i].data_dir, s->data_dir) ||
        g_data_cache[i].train_limit != s->train_limit)
      continue;
    *n_train = g_data_cache[i].n_train;
    if (g_data_cache[i].failed) return psgd_err(err, errlen, "%s", g_data_cache[i].err);
    return 0;
  }
  data_opts o;
  data_opts_default(&o);
  if (s->data_dir[0]) o.data_dir = s->data_dir;
  o.train_limit = s->train_limit;
  *n_train = 0;
  char why[PSGD_ERRLEN];
  int rc = data_check(s->dataset, &o, n_train, NULL, why, sizeof why);
  if (rc) psgd_err(err, errlen, "dataset '%s': %s", s->dataset, why);
  if (g_n_data_cache < DATA_CACHE) {
    int i = g_n_data_cache++;
    snprintf(g_data_cache[i].dataset, sizeof g_data_cache[i].dataset, "%s", s->dataset);
    snprintf(g_data_cache[i].data_dir, sizeof g_data_cache[i].data_dir, "%s", s->data_dir);
    g_data_cache[i].train_limit = s->train_limit;
    g_data_cache[i].n_train = *n_train;
    g_data_cache[i].failed = rc != 0;
    snprintf(g_data_cache[i].err, sizeof g_data_cache[i].err, "%s", rc ? err : "");
  }
  return rc;
}

void cfg_data_cache_reset(void) { g_n_data_cache = 0; }

int config_check_dataset(const run_spec *s, char *err, size_t errlen) {
  int n;
  return check_dataset(s, &n, err, errlen);
}

static void apply_slot(run_spec *s, int ki, const cval *v, int n_cores) {
  const setting *k = &setting_table[ki];
  char *f = (char *)s + k->off;
  if (ki == SET_THREADS) {
    long t = v->rel ? lround(v->f * n_cores) : (long)v->i;
    s->threads = t < 1 ? 1 : (int)t;
    return;
  }
  switch (k->fk) {
    case FK_NONE: return;
    case FK_INT: *(int *)f = (int)v->i; return;
    case FK_LONG: *(long *)f = (long)v->i; return;
    case FK_U64: *(uint64_t *)f = (uint64_t)v->i; return;
    case FK_DOUBLE: *(double *)f = v->f; return;
    case FK_STR: snprintf(f, k->size, "%s", v->s); return;
    case FK_HIDDEN:
      s->n_hidden = v->n;
      memset(s->hidden, 0, sizeof s->hidden);
      for (int i = 0; i < v->n; i++) s->hidden[i] = v->h[i];
      return;
  }
}

/* Where a resolved field came from, for messages: the setting's line, else
 * the experiment file itself. */
typedef struct {
  const settings *st;
  const char *path;
} origin;

static int oerr(char *err, size_t errlen, const origin *o, int ki, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int oerr(char *err, size_t errlen, const origin *o, int ki, const char *fmt, ...) {
  char msg[PSGD_ERRLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const slot *sl = ki >= 0 ? &o->st->k[ki] : NULL;
  if (sl && sl->set) return cfg_err(err, errlen, sl->file, sl->line, "%s", msg);
  return cfg_err(err, errlen, o->path, 0, "%s", msg);
}

/* Builds the spec of one run from its resolved settings and checks what
 * single settings cannot: combinations. */
int cfg_build_spec(const settings *st, const char *path, const char *name, int n_cores,
                   int check_data, run_spec *s, char *err, size_t errlen) {
  origin o = {st, path};
  spec_default(s);
  snprintf(s->experiment, sizeof s->experiment, "%s", name);
  for (int i = 0; i < SETTING_COUNT; i++)
    if (st->k[i].set) apply_slot(s, i, &st->k[i].v, n_cores);
  if (!st->k[SET_LABEL].set) snprintf(s->label, sizeof s->label, "%s", s->algorithm);

  /* the algorithm resolves into dispatcher + store (+ elastic), a store key
   * overrides the store; algo.c checks every combination */
  {
    char msg[PSGD_ERRLEN];
    algo_choice ac;
    algo_setting bad;
    if (algo_apply_name(s, s->algorithm, msg, sizeof msg))
      return oerr(err, errlen, &o, SET_ALGORITHM, "%s", msg);
    if (st->k[SET_STORE].set) cfg_fmt(s->store, sizeof s->store, "%s", st->k[SET_STORE].v.s);
    if (algo_resolve(s, &ac, &bad, msg, sizeof msg)) {
      int ki = bad == ALGO_SET_STORE       ? SET_STORE
               : bad == ALGO_SET_BACKOFF   ? SET_BACKOFF
               : bad == ALGO_SET_Y_CONTROL ? SET_Y_CONTROL
               : bad == ALGO_SET_PS        ? SET_PS
               : bad == ALGO_SET_THREADS   ? SET_THREADS
                                           : SET_ALGORITHM;
      return oerr(err, errlen, &o, ki, "%s", msg);
    }
  }
  if (st->k[SET_STEP_TIME].set && strcmp(s->clock, "virtual") != 0)
    return oerr(err, errlen, &o, SET_STEP_TIME,
                "step_time applies only under clock = \"virtual\" (this run's clock is '%s')",
                s->clock);
  if (!strcmp(s->clock, "virtual")) {
    char why[PSGD_ERRLEN];
    vclock_model vm;
    if (vclock_model_parse(s->step_time, &vm, why, sizeof why))
      return oerr(err, errlen, &o, SET_STEP_TIME, "%s", why);
    if (!s->step_time[0])
      cfg_fmt(s->step_time, sizeof s->step_time, "%s", VCLOCK_DEFAULT_STEP_TIME);
    ps_backoff bo = PS_BACKOFF_NONE;
    (void)ps_backoff_parse(s->backoff[0] ? s->backoff : "none", &bo); /* checked above */
    if (vclock_check(disp_find(s->dispatcher), ps_find(s->store), bo, s->threads, s->step_time,
                     why, sizeof why))
      return oerr(err, errlen, &o, SET_CLOCK, "%s", why);
  }
  if (s->stop_seconds == 0 && s->stop_epochs == 0 && s->stop_steps == 0 && s->target_acc == 0 &&
      s->epsilon == 0) {
    int ki = SET_STOP_SECONDS;
    for (int i = SET_STOP_SECONDS; i <= SET_EPSILON; i++)
      if (st->k[i].set && st->k[i].line > (st->k[ki].set ? st->k[ki].line : 0)) ki = i;
    return oerr(err, errlen, &o, ki,
                "no stop condition: set one of stop.seconds, stop.epochs, stop.steps, "
                "stop.target_acc, stop.epsilon above 0");
  }
  if (s->timeout_s > 0 && s->stop_seconds > 0 && s->timeout_s <= s->stop_seconds)
    return oerr(err, errlen, &o, SET_TIMEOUT, "timeout = %g must be longer than stop.seconds = %g",
                s->timeout_s, s->stop_seconds);
  if (s->target_acc > 0 && s->eval_every_s == 0 && s->eval_every_steps == 0)
    return oerr(err, errlen, &o, SET_TARGET_ACC,
                "stop.target_acc needs periodic evaluation: set eval.every_s or eval.every_steps "
                "above 0");
  if (s->train_limit > 0 && s->train_limit < s->batch)
    return oerr(err, errlen, &o, SET_BATCH, "batch = %d is larger than train_limit = %d", s->batch,
                s->train_limit);
  if (!strncmp(s->placement, "list:", 5) && !s->topology[0] && !s->bind_best_effort) {
    int pus[1024], n;
    char why[160];
    cpu_set_t set;
    if (cfg_parse_pu_list(s->placement, pus, 1024, &n, why, sizeof why) == 0 &&
        sched_getaffinity(0, sizeof set, &set) == 0)
      for (int i = 0; i < n; i++)
        if (pus[i] >= CPU_SETSIZE || !CPU_ISSET(pus[i], &set))
          return oerr(err, errlen, &o, SET_PLACEMENT,
                      "placement '%s': PU %d is not available on this machine (set "
                      "bind_best_effort = true to run anyway)",
                      s->placement, pus[i]);
  }
  if (strcmp(s->placement, "os") != 0 || s->topology[0]) {
    /* plan the placement now, so a topology hwloc cannot read or a placement
     * the machine cannot give is reported at its line before anything runs */
    char why[PSGD_ERRLEN];
    hw_topo *t = hw_topo_load(s->topology[0] ? s->topology : NULL, why, sizeof why);
    if (!t) return oerr(err, errlen, &o, SET_TOPOLOGY, "%s", why);
    hw_plan plan;
    int flags = (s->keep_core_free ? HW_PLAN_KEEP_CORE_FREE : 0) |
                (s->placement_nearest ? HW_PLAN_NEAREST : 0);
    int bad = hw_plan_make(t, s->placement, s->threads, flags, &plan, why, sizeof why);
    hw_topo_free(t);
    if (bad)
      return oerr(err, errlen, &o, SET_PLACEMENT, "%s%s", why,
                  s->placement_nearest ? ""
                                       : " (placement_nearest = true runs the nearest "
                                         "equivalent)");
    hw_plan_free(&plan);
  }
  {
    /* the model must fit the dataset's sample shape (LeNet5 needs >= 16x16) */
    int c = 1, h = 1, w = 1, classes = 2;
    PSGD_CHECK(data_shape(s->dataset, NULL, &c, &h, &w, &classes) == 0); /* a checked name */
    model_spec ms = {s->model, c, h, w, classes, s->n_hidden, {0}};
    memcpy(ms.hidden, s->hidden, sizeof ms.hidden);
    char why[PSGD_ERRLEN];
    model *m = model_create(&ms, why, sizeof why);
    if (!m)
      return oerr(err, errlen, &o, st->k[SET_MODEL].set ? SET_MODEL : SET_DATASET,
                  "dataset '%s' (%dx%dx%d): %s", s->dataset, c, h, w, why);
    model_free(m);
  }
  if (check_data) {
    char why[PSGD_ERRLEN];
    int n_train;
    if (check_dataset(s, &n_train, why, sizeof why))
      return oerr(err, errlen, &o, st->k[SET_DATASET].set ? SET_DATASET : SET_DATA_DIR, "%s", why);
    if (s->batch > n_train)
      return oerr(err, errlen, &o, SET_BATCH,
                  "batch = %d is larger than the training set of "
                  "dataset '%s' (%d samples)",
                  s->batch, s->dataset, n_train);
  }
  return 0;
}
