/* bench_engine.c - the parallel engine's own costs, measured side by side in
 * one run (never pass/fail on absolute time):
 *   - async steps/s at 1 and 2 threads on a real model (LeNet5, batch 16,
 *     Fashion-MNIST 28x28) and their ratio (target >= 1.9 on 2 free cores),
 *     next to the parallelism the machine offers right now (two threads of
 *     pure arithmetic against one: a shared machine may give less than 2)
 *   - the dispatcher's own cost per step, in CPU ns, for async and interval
 *     (y = 64) at 2 and 64 threads: workers that only call try_start /
 *     finish / done, CPU time of the process divided by the steps; and that
 *     cost as a percentage of one LeNet5-b16 step (target < 1 %)
 *   - logging overhead: throughput with one step record per step (steplog)
 *     against no records, 2 threads, MLP 784-128-128-128-10 batch 16 (a
 *     faster step than LeNet5: the stricter case), target <= 2 %
 * Repetitions alternate the variants (A B A B ...) so drifting machine load
 * hits both alike; medians and spreads are reported. Exits non-zero only if
 * its own results are wrong (a run fails, non-finite loss).
 *
 * Usage: bench_engine [--quick] */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "data.h"
#include "disp.h"
#include "model.h"
#include "optim.h"
#include "par.h"
#include "problem.h"
#include "steplog.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  double median, min, max;
} stats;

static stats summarize(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
  return s;
}

static double spread_pct(stats s) { return 100 * (s.max - s.min) / s.median; }

/* ------------------------------------------------------ model problem --- */

/* Fashion-MNIST, batch 16, seed 1; the MLP is 784-128-128-128-10. */
static void bench_spec(run_spec *s, const char *model) {
  spec_default(s);
  snprintf(s->dataset, sizeof s->dataset, "fashion-mnist");
  snprintf(s->model, sizeof s->model, "%s", model);
  s->n_hidden = 3;
  for (int i = 0; i < 3; i++) s->hidden[i] = 128;
  s->batch = 16;
  s->seed = 1;
}

/* accepted steps per second of one run of `seconds` */
static double run_steps_per_s(const par_problem *pb, const disp_ops *dop, int threads,
                              double seconds, steplog *log, int *bad) {
  par_config c;
  par_config_default(&c);
  c.disp = dop;
  c.n_workers = threads;
  c.m0 = threads;
  c.opt.kind = OPTIM_MOMENTUM;
  c.opt.lr = 0.005f;
  c.opt.momentum = 0.5f;
  c.max_seconds = seconds;
  c.log = log;
  par_result r;
  char err[PSGD_ERRLEN];
  if (par_run(pb, &c, &r, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_engine: %s\n", err);
    *bad = 1;
    return 0;
  }
  if (r.status != RUN_OK || !isfinite(r.final_train_loss)) *bad = 1;
  double v = r.steps_accepted / r.wall_s;
  par_result_free(&r);
  return v;
}

/* ------------------------------------------- available parallelism ---- */

/* The machine may be shared: how much faster do 2 threads of pure
 * arithmetic run than 1, right now? The async ratio is judged against it. */
static void *burn(void *arg) {
  volatile double x = 1.0;
  uint64_t n = *(uint64_t *)arg;
  for (uint64_t i = 0; i < n; i++) x = x * 1.0000001 + 1e-9;
  return NULL;
}

static double parallelism(void) {
  uint64_t n = 40000000;
  uint64_t t = psgd_now_ns();
  burn(&n);
  double one = (double)(psgd_now_ns() - t);
  pthread_t a, b;
  t = psgd_now_ns();
  PSGD_CHECK(pthread_create(&a, NULL, burn, &n) == 0);
  PSGD_CHECK(pthread_create(&b, NULL, burn, &n) == 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  double two = (double)(psgd_now_ns() - t);
  return 2 * one / two;
}

/* --------------------------------------------------- dispatcher cost ---- */

typedef struct {
  disp *d;
  int w;
  uint64_t n;
  _Atomic int *stop;
} dworker;

static void *disp_loop(void *arg) {
  dworker *x = arg;
  disp_ticket t;
  uint64_t n = 0;
  while (!atomic_load_explicit(x->stop, memory_order_relaxed)) {
    if (!disp_try_start(x->d, x->w, &t)) break;
    if (disp_finish(x->d, x->w, &t) == DISP_APPLY) disp_done(x->d, x->w, &t);
    n++;
  }
  x->n = n;
  return NULL;
}

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* CPU ns per step of `threads` workers doing nothing but the dispatcher */
static double disp_cost_ns(const disp_ops *ops, int threads, double seconds) {
  disp_cfg dc = {threads, threads, 64, NULL, NULL};
  char err[PSGD_ERRLEN];
  disp *d = disp_create(ops, &dc, err, sizeof err);
  PSGD_CHECK(d != NULL);
  _Atomic int stop = 0;
  dworker *w = calloc((size_t)threads, sizeof *w);
  pthread_t *th = calloc((size_t)threads, sizeof *th);
  double c0 = cpu_ns();
  for (int i = 0; i < threads; i++) {
    w[i] = (dworker){d, i, 0, &stop};
    PSGD_CHECK(pthread_create(&th[i], NULL, disp_loop, &w[i]) == 0);
  }
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
  atomic_store(&stop, 1);
  disp_stop(d);
  uint64_t n = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    n += w[i].n;
  }
  double c = cpu_ns() - c0;
  free(w);
  free(th);
  disp_free(d);
  return n ? c / (double)n : NAN;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && !strcmp(argv[1], "--quick");
  const int reps = quick ? 3 : 5;
  const double run_s = quick ? 0.6 : 1.5;
  char err[PSGD_ERRLEN];
  int bad = 0;

  /* the two problems as a run spec builds them (problem.h): Fashion-MNIST,
   * batch 16, seed 1 */
  run_spec sl, sm;
  bench_spec(&sl, "lenet5");
  bench_spec(&sm, "mlp");
  problem_setup Pl, Pm;
  if (problem_setup_make(&Pl, &sl, err, sizeof err) ||
      problem_setup_make(&Pm, &sm, err, sizeof err)) {
    fprintf(stderr, "bench_engine: %s\n", err);
    return 1;
  }
  const model *lenet = Pl.m, *mlp = Pm.m;
  par_problem bl = problem_setup_par(&Pl);
  par_problem bm = problem_setup_par(&Pm);

  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  double load[1] = {0};
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &load[0]) != 1) load[0] = -1;
    fclose(f);
  }
  printf("bench_engine: %ld CPUs online, load average %.2f; %s; %s; batch 16; %d reps of "
         "%.1f s, alternating\n",
         ncpu, load[0], model_describe(lenet), model_describe(mlp), reps, run_s);

  /* async scaling on LeNet5-b16: 1 vs 2 threads, alternating */
  double v1[8], v2[8], r12[8], par[8], eff[8];
  for (int k = 0; k < reps; k++) {
    par[k] = parallelism();
    v1[k] = run_steps_per_s(&bl, &disp_async_ops, 1, run_s, NULL, &bad);
    v2[k] = run_steps_per_s(&bl, &disp_async_ops, 2, run_s, NULL, &bad);
    r12[k] = v2[k] / v1[k];
    eff[k] = r12[k] / par[k];
  }
  stats s1 = summarize(v1, reps), s2 = summarize(v2, reps), sr = summarize(r12, reps);
  stats sp = summarize(par, reps), se = summarize(eff, reps);
  printf("bench: cpu_parallelism_2t %.2f x\n", sp.median);
  printf("bench: async_lenet5_b16_1t_steps_per_s %.1f steps/s\n", s1.median);
  printf("bench: async_lenet5_b16_1t_spread %.1f %%\n", spread_pct(s1));
  printf("bench: async_lenet5_b16_2t_steps_per_s %.1f steps/s\n", s2.median);
  printf("bench: async_lenet5_b16_2t_spread %.1f %%\n", spread_pct(s2));
  printf("bench: async_2t_over_1t %.2f x\n", sr.median);
  printf("bench: async_2t_over_1t_per_available %.2f fraction\n", se.median);
  double lenet_step_ns = 1e9 / s1.median;

  /* the dispatcher alone */
  const disp_ops *dops[] = {&disp_async_ops, &disp_interval_ops};
  const int tcount[] = {2, 64};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      double v[8];
      for (int k = 0; k < reps; k++) v[k] = disp_cost_ns(dops[i], tcount[j], quick ? 0.2 : 0.5);
      stats s = summarize(v, reps);
      if (!isfinite(s.median)) bad = 1;
      printf("bench: disp_%s_%dt_cpu_ns_per_step %.1f ns\n", dops[i]->name, tcount[j], s.median);
      printf("bench: disp_%s_%dt_pct_of_lenet5_b16_step %.4f %%\n", dops[i]->name, tcount[j],
             100 * s.median / lenet_step_ns);
    }

  /* logging overhead on the MLP, 2 threads: records on vs off, alternating */
  double on[8], off[8], ov[8];
  for (int k = 0; k < reps; k++) {
    steplog *l = steplog_create(2, (size_t)(run_s * 20000), err, sizeof err);
    if (!l) {
      fprintf(stderr, "bench_engine: %s\n", err);
      return 1;
    }
    off[k] = run_steps_per_s(&bm, &disp_async_ops, 2, run_s, NULL, &bad);
    on[k] = run_steps_per_s(&bm, &disp_async_ops, 2, run_s, l, &bad);
    ov[k] = 100 * (off[k] - on[k]) / off[k];
    steplog_free(l);
  }
  stats son = summarize(on, reps), soff = summarize(off, reps), sov = summarize(ov, reps);
  printf("bench: mlp_b16_2t_log_off_steps_per_s %.1f steps/s\n", soff.median);
  printf("bench: mlp_b16_2t_log_on_steps_per_s %.1f steps/s\n", son.median);
  printf("bench: logging_overhead_pct %.2f %%\n", sov.median);
  printf("bench: logging_overhead_spread %.2f %% (min %.2f, max %.2f)\n", sov.max - sov.min,
         sov.min, sov.max);

  problem_teardown(&Pl);
  problem_teardown(&Pm);
  if (bad) fprintf(stderr, "bench_engine: a run failed or gave a non-finite loss\n");
  return bad;
}
