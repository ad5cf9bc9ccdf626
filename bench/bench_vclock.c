/* bench_vclock.c - the virtual clock against the real one, side by side in
 * one run (never pass/fail on absolute time):
 *   - validation at m = 2 on this machine: acceptance rate and mean tau of
 *     Async and interval y = 2, 4, 8, real 2-thread runs next to
 *     virtual-clock runs with step_time "measured" (MLP 784-128-128-128-10,
 *     batch 16, Fashion-MNIST or, if absent, the synthetic set); 3
 *     repetitions alternating real and virtual, medians and ranges, and the
 *     virtual/real ratio of the medians (goal: within 15 %)
 *   - the event loop's cost at m = 256: virtual steps per real second of an
 *     Async run (measured step times, all cores computing) against the raw
 *     gradient rate of all cores (every core computing gradients of the same
 *     model and batch, nothing else), same run; goal >= 0.9 (overhead < 10 %)
 * Exits non-zero only if a run fails.
 *
 * Usage: bench_vclock [--quick] [--only m2|loop] */
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
#include "vclock.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}


typedef struct {
  double acc_rate, mean_tau, real_s;
  uint64_t started;
} outcome;

typedef struct {
  double acc, tau;
  uint64_t n, n_acc;
} tally;

static int take(void *ctx, const step_rec *r, size_t n) {
  tally *t = ctx;
  for (size_t i = 0; i < n; i++) {
    t->n++;
    if (r[i].accepted) {
      t->n_acc++;
      t->tau += (double)r[i].staleness;
    }
  }
  return 0;
}

static int run_one(const par_problem *pb, const disp_ops *dop, int m, long y, uint64_t steps,
                   int virt, int record, outcome *o) {
  par_config c;
  par_config_default(&c);
  c.disp = dop;
  c.n_workers = m;
  c.m0 = m;
  c.y0 = y;
  c.opt.kind = OPTIM_MOMENTUM;
  /* the paper's lr at m = 2; at m = 256 a smaller one so the MLP does not
   * diverge (this part measures throughput only) */
  c.opt.lr = m > 16 ? 0.0002f : 0.005f;
  c.opt.momentum = 0.5f;
  c.max_steps = steps;
  c.max_seconds = virt ? 0 : 120;
  if (virt) {
    c.clock = PAR_CLOCK_VIRTUAL;
    c.step_time = "measured";
  }
  char err[PSGD_ERRLEN];
  steplog *l = NULL;
  if (record && !(l = steplog_create(virt ? 1 : m, steps * 3, err, sizeof err))) {
    fprintf(stderr, "bench_vclock: %s\n", err);
    return -1;
  }
  c.log = l;
  par_result r;
  uint64_t t0 = psgd_now_ns();
  if (par_run(pb, &c, &r, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_vclock: %s\n", err);
    steplog_free(l);
    return -1;
  }
  o->real_s = (double)(psgd_now_ns() - t0) * 1e-9;
  o->started = r.steps_started;
  tally t = {0, 0, 0, 0};
  if (l) steplog_drain(l, 1, take, &t);
  steplog_free(l);
  o->acc_rate = t.n ? (double)t.n_acc / (double)t.n : 0;
  o->mean_tau = t.n_acc ? t.tau / (double)t.n_acc : 0;
  int bad = !isfinite(r.final_train_loss);
  par_result_free(&r);
  return bad ? -1 : 0;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* raw gradient rate: every core computing gradients, nothing else; each
 * thread on one theta and one gradient buffer (warm), or (nbuf > 1) turn by
 * turn on nbuf of each, as the snapshots and gradients of m steps in flight
 * are (cold once m x 8d bytes exceed the caches) */
typedef struct {
  const par_problem *pb;
  double seconds;
  uint64_t n;
  int k, nbuf;
} raw_arg;

static void *raw_main(void *arg) {
  raw_arg *a = arg;
  const size_t d = a->pb->d;
  void *ws = a->pb->ws_create(a->pb->ctx, a->k);
  float **th = calloc((size_t)a->nbuf, sizeof *th), **g = calloc((size_t)a->nbuf, sizeof *g);
  PSGD_CHECK(ws && th && g);
  for (int b = 0; b < a->nbuf; b++) {
    th[b] = psgd_alloc(d * sizeof(float));
    g[b] = psgd_calloc(d * sizeof(float));
    PSGD_CHECK(th[b] && g[b]);
    memcpy(th[b], a->pb->theta0, d * sizeof(float));
  }
  uint64_t t0 = psgd_now_ns(), end = t0 + (uint64_t)(a->seconds * 1e9);
  uint64_t i = (uint64_t)a->k << 32;
  for (int b = 0; psgd_now_ns() < end; b = b + 1 < a->nbuf ? b + 1 : 0) {
    a->pb->grad(a->pb->ctx, ws, th[b], i++, g[b]);
    a->n++;
  }
  for (int b = 0; b < a->nbuf; b++) {
    psgd_free(th[b]);
    psgd_free(g[b]);
  }
  free(th);
  free(g);
  a->pb->ws_free(a->pb->ctx, ws);
  return NULL;
}

/* nbuf: buffers over all threads (1: one per thread) */
static double raw_rate(const par_problem *pb, int nt, int nbuf, double seconds,
                       double *cpu_per_grad) {
  pthread_t th[64];
  raw_arg a[64];
  if (nt > 64) nt = 64;
  double c0 = cpu_s();
  for (int k = 0; k < nt; k++) {
    a[k] = (raw_arg){pb, seconds, 0, k, nbuf / nt > 1 ? nbuf / nt : 1};
    PSGD_CHECK(pthread_create(&th[k], NULL, raw_main, &a[k]) == 0);
  }
  uint64_t n = 0;
  for (int k = 0; k < nt; k++) {
    PSGD_CHECK(pthread_join(th[k], NULL) == 0);
    n += a[k].n;
  }
  if (cpu_per_grad) *cpu_per_grad = (cpu_s() - c0) / (double)n;
  return (double)n / seconds;
}

/* ------------------------------------------------ the loop's cost ---- */

static double load_avg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

/* One Async run under the virtual clock at m (step_time st, compute
 * threads nt, 0: all cores; copy: par_config.vclock_copy): virtual steps
 * per real second and CPU seconds per step. */
static int vrun(const par_problem *pb, int m, uint64_t steps, const char *st, int nt, int copy,
                double *rate, double *cpu_per_step) {
  par_config c;
  par_config_default(&c);
  c.disp = &disp_async_ops;
  c.n_workers = m;
  c.m0 = m;
  c.y0 = 1;
  c.opt.kind = OPTIM_MOMENTUM;
  c.opt.lr = 0.0002f; /* throughput only: small enough not to diverge at m = 256 */
  c.opt.momentum = 0.5f;
  c.max_steps = steps;
  c.clock = PAR_CLOCK_VIRTUAL;
  c.step_time = st;
  c.compute_threads = nt;
  c.vclock_copy = copy;
  char err[PSGD_ERRLEN];
  par_result r;
  double c0 = cpu_s();
  uint64_t t0 = psgd_now_ns();
  if (par_run(pb, &c, &r, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_vclock: %s\n", err);
    return -1;
  }
  double real_s = (double)(psgd_now_ns() - t0) * 1e-9;
  *cpu_per_step = (cpu_s() - c0) / (double)r.steps_started;
  *rate = (double)r.steps_started / real_s;
  int bad = !isfinite(r.final_train_loss);
  par_result_free(&r);
  if (bad) fprintf(stderr, "bench_vclock: the m = %d run diverged\n", m);
  return bad ? -1 : 0;
}

static void med3(double *x, const char *name, const char *unit, const char *extra) {
  qsort(x, 3, sizeof *x, cmp_double);
  printf("bench: %s %.3f %s (range %.3f..%.3f%s)\n", name, x[1], unit, x[0], x[2], extra);
}

/* a problem with next to no gradient (d = 16, g = theta): what is left of a
 * step is the event loop, the dispatcher, the store and the hand-off */
static float null_grad(void *ctx, void *ws, const float *theta, uint64_t step, float *g) {
  (void)ctx;
  (void)ws;
  (void)step;
  float l = 0;
  for (int i = 0; i < 16; i++) {
    g[i] = theta[i];
    l += 0.5f * theta[i] * theta[i];
  }
  return l;
}

/* medians of 31 one-thread copy, gradient and apply times (us), after 3
 * rounds of warm-up; theta0 is left as it was */
static void step_medians(const par_problem *pb, void *ws, const optim_spec *os, double *c_us,
                         double *g_us, double *a_us) {
  const size_t d = pb->d;
  float *th = psgd_alloc(d * sizeof *th), *loc = psgd_alloc(d * sizeof *loc);
  float *g = psgd_calloc(d * sizeof *g), *v = psgd_calloc(d * sizeof *v);
  PSGD_CHECK(th && loc && g && v);
  memcpy(th, pb->theta0, d * sizeof *th);
  double tc[31], tg[31], ta[31];
  for (int i = -3; i < 31; i++) {
    uint64_t t0 = psgd_now_ns();
    memcpy(loc, th, d * sizeof *loc);
    uint64_t t1 = psgd_now_ns();
    pb->grad(pb->ctx, ws, loc, (uint64_t)(i + 3), g);
    uint64_t t2 = psgd_now_ns();
    ps_update(os, th, v, g, d, 0);
    uint64_t t3 = psgd_now_ns();
    if (i < 0) continue;
    tc[i] = (double)(t1 - t0) * 1e-3;
    tg[i] = (double)(t2 - t1) * 1e-3;
    ta[i] = (double)(t3 - t2) * 1e-3;
  }
  qsort(tc, 31, sizeof *tc, cmp_double);
  qsort(tg, 31, sizeof *tg, cmp_double);
  qsort(ta, 31, sizeof *ta, cmp_double);
  *c_us = tc[15];
  *g_us = tg[15];
  *a_us = ta[15];
  psgd_free(th);
  psgd_free(loc);
  psgd_free(g);
  psgd_free(v);
}

static const char *const form[] = {"versions", "copy"}; /* par_config.vclock_copy 0, 1 */

/* The event loop's own cost per step (ns): Async at m = 256 on the null
 * problem, both forms, with one compute thread and with all cores. */
static int loop_null(int quick, int ncpu) {
  float th0[16];
  for (int i = 0; i < 16; i++) th0[i] = 1.0f + 0.01f * (float)i;
  par_problem pb;
  memset(&pb, 0, sizeof pb);
  pb.d = 16;
  pb.theta0 = th0;
  pb.grad = null_grad;
  const uint64_t steps = quick ? 100000 : 400000;
  for (int nt = 1; nt <= ncpu; nt += ncpu > 1 ? ncpu - 1 : 1) {
    double ns[2][3];
    for (int r = 0; r < 3; r++)
      for (int h = 1; h >= 0; h--) {
        double rate, cps;
        if (vrun(&pb, 256, steps, "constant:100", nt, h, &rate, &cps)) return -1;
        ns[h][r] = cps * 1e9;
      }
    for (int h = 1; h >= 0; h--) {
      char name[96];
      snprintf(name, sizeof name, "vclock_null_m256_%dthreads_%s_cpu_ns_per_step", nt, form[h]);
      med3(ns[h], name, "ns", "");
    }
  }
  return 0;
}

/* The event loop's cost: virtual steps per real second of Async runs at
 * m = 16, 128, 256 (all cores computing) against the raw gradient rate of
 * all cores (every core computing gradients of the same model and batch,
 * nothing else), measured right before each pair of runs; goal >= 0.9 at
 * m = 256. Both forms (reads share versions: the default; reads copy: the
 * reference) side by side, alternating, per model (MLP and LeNet5 at the
 * quick scale's batch 16). The step-time model is the lognormal of this
 * machine's calibrated step (copy + gradient + apply, the gradient's cv),
 * calibrated once per model: "measured" would repeat the calibration (one
 * thread, 34 steps) in every run, a fixed cost of the run's start that is
 * printed on its own. Also the CPU time per step over the raw gradient's
 * and the bounds the step's own memory work sets: gradient / (copy +
 * gradient + apply) and gradient / (gradient + apply), from median times
 * (one thread, warm caches); and the rate over the raw rate on m theta and
 * gradient buffers in turn ("m_buffers": the cache misses m steps in flight
 * cost any schedule). */
static int loop_cost(int quick) {
  char err[PSGD_ERRLEN];
  data_opts o;
  data_opts_default(&o);
  o.syn_c = 1; /* without Fashion-MNIST: synthetic data of its shape */
  o.syn_h = o.syn_w = 28;
  dataset ds;
  const char *dname = "fashion-mnist";
  if (data_load(dname, &o, &ds, err, sizeof err)) {
    dname = "synthetic 1x28x28";
    if (data_load("synthetic", &o, &ds, err, sizeof err)) {
      fprintf(stderr, "bench_vclock: %s\n", err);
      return -1;
    }
  }
  const int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
  const double run_s = quick ? 0.7 : 2.0;
  printf("bench_vclock: loop cost on %s, %d online CPUs, load average %.2f, runs of about "
         "%.1f s, 3 repetitions alternating copy and versions\n", dname, ncpu, load_avg(), run_s);
  int rc = loop_null(quick, ncpu);
  static const char *const models[] = {"mlp", "lenet5"};
  static const int ms[] = {16, 128, 256};
  for (int k = 0; k < 2 && !rc; k++) {
    model_spec spec = {models[k], ds.train.c, ds.train.h, ds.train.w, ds.train.n_classes,
                       k == 0 ? 3 : 0, {128, 128, 128}};
    model *md = model_create(&spec, err, sizeof err);
    if (!md) {
      fprintf(stderr, "bench_vclock: %s\n", err);
      rc = -1;
      break;
    }
    const size_t d = model_n_params(md);
    float *th0 = psgd_alloc(d * sizeof(float));
    model_init(md, th0, 1);
    problem_model ctx = {&ds, md, 16, 1};
    par_problem pb = problem_model_make(&ctx, th0);
    void *ws = pb.ws_create(pb.ctx, 0);
    optim_spec os = {0};
    os.kind = OPTIM_MOMENTUM;
    os.lr = 0.0002f;
    os.momentum = 0.5f;
    vclock_model cal;
    uint64_t tc = psgd_now_ns();
    if (!ws || vclock_calibrate(&pb, ws, &os, 1, &cal, err, sizeof err)) {
      fprintf(stderr, "bench_vclock: calibration failed: %s\n", ws ? err : "no workspace");
      rc = -1;
    }
    double cal_ms = (double)(psgd_now_ns() - tc) * 1e-6;
    double tc_us, tg_us, ta_us; /* medians: robust to the other helpers' load */
    if (!rc) step_medians(&pb, ws, &os, &tc_us, &tg_us, &ta_us);
    if (ws) pb.ws_free(pb.ctx, ws);
    if (rc) {
      psgd_free(th0);
      model_free(md);
      break;
    }
    char st[64];
    snprintf(st, sizeof st, "lognormal:%.3f,0.3", tc_us + tg_us + ta_us);
    double raw0 = raw_rate(&pb, ncpu, 1, 0.5, NULL);
    const uint64_t steps = (uint64_t)(raw0 * run_s) + 1;
    printf("bench_vclock: %s batch 16, %llu steps per run, step_time %s (medians of one "
           "thread, warm: copy %.1f, gradient %.1f, apply %.1f us)\n", model_describe(md),
           (unsigned long long)steps, st, tc_us, tg_us, ta_us);
    printf("bench: vclock_%s_b16_calibration_ms %.1f ms (once per measured run)\n", models[k],
           cal_ms);
    printf("bench: vclock_%s_b16_bound_copy %.3f ratio (gradient / copy + gradient + apply)\n",
           models[k], tg_us / (tc_us + tg_us + ta_us));
    printf("bench: vclock_%s_b16_bound_versions %.3f ratio (gradient / gradient + apply)\n",
           models[k], tg_us / (tg_us + ta_us));
    for (int j = 0; j < 3 && !rc; j++) {
      double ratio[2][3], cold[2][3], cpu[2][3], raw[3], rawc[3], rcpu;
      for (int r = 0; r < 3 && !rc; r++) {
        raw[r] = raw_rate(&pb, ncpu, 1, run_s * 0.5, &rcpu);
        rawc[r] = raw_rate(&pb, ncpu, ms[j], run_s * 0.5, NULL);
        for (int h = 1; h >= 0 && !rc; h--) { /* before (copy), then after (versions) */
          double rate, cps;
          if (vrun(&pb, ms[j], steps, st, 0, h, &rate, &cps)) rc = -1;
          ratio[h][r] = rate / raw[r];
          cold[h][r] = rate / rawc[r];
          cpu[h][r] = cps / rcpu; /* CPU per step / CPU per raw gradient */
        }
      }
      if (rc) break;
      char name[96];
      for (int h = 1; h >= 0; h--) {
        snprintf(name, sizeof name, "vclock_%s_b16_m%d_%s_rate_over_raw", models[k], ms[j],
                 form[h]);
        med3(ratio[h], name, "ratio", ms[j] == 256 ? "; goal >= 0.9" : "");
        snprintf(name, sizeof name, "vclock_%s_b16_m%d_%s_rate_over_raw_m_buffers", models[k],
                 ms[j], form[h]);
        med3(cold[h], name, "ratio", "");
        snprintf(name, sizeof name, "vclock_%s_b16_m%d_%s_cpu_per_step_over_raw", models[k],
                 ms[j], form[h]);
        med3(cpu[h], name, "ratio", "");
      }
      snprintf(name, sizeof name, "vclock_%s_b16_m%d_raw_gradients_per_s_%dcpu", models[k],
               ms[j], ncpu);
      qsort(raw, 3, sizeof *raw, cmp_double);
      printf("bench: %s %.0f grads/s (range %.0f..%.0f)\n", name, raw[1], raw[0], raw[2]);
      snprintf(name, sizeof name, "vclock_%s_b16_m%d_raw_gradients_per_s_%dcpu_m_buffers",
               models[k], ms[j], ncpu);
      qsort(rawc, 3, sizeof *rawc, cmp_double);
      printf("bench: %s %.0f grads/s (range %.0f..%.0f)\n", name, rawc[1], rawc[0], rawc[2]);
      fflush(stdout);
    }
    psgd_free(th0);
    model_free(md);
  }
  printf("bench_vclock: load average %.2f at the end\n", load_avg());
  data_free(&ds);
  return rc;
}

int main(int argc, char **argv) {
  int quick = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "m2") || !strcmp(argv[i + 1], "loop")))
      only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_vclock [--quick] [--only m2|loop]\n");
      return 2;
    }
  }
  if (only && !strcmp(only, "loop")) {
    model_blas_init();
    return loop_cost(quick) ? 1 : 0;
  }
  char err[PSGD_ERRLEN];
  data_opts o;
  data_opts_default(&o);
  dataset ds;
  const char *dname = "fashion-mnist";
  if (data_load(dname, &o, &ds, err, sizeof err)) {
    dname = "synthetic";
    if (data_load(dname, &o, &ds, err, sizeof err)) {
      fprintf(stderr, "bench_vclock: %s\n", err);
      return 1;
    }
  }
  model_blas_init();
  model_spec ms = {"mlp", ds.train.c, ds.train.h, ds.train.w, ds.train.n_classes, 3,
                   {128, 128, 128}};
  model *m = model_create(&ms, err, sizeof err);
  if (!m) {
    fprintf(stderr, "bench_vclock: %s\n", err);
    return 1;
  }
  const size_t d = model_n_params(m);
  float *theta0 = psgd_alloc(d * sizeof(float));
  model_init(m, theta0, 1);
  problem_model ctx = {&ds, m, 16, 1};
  par_problem pb = problem_model_make(&ctx, theta0);
  const int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
  const int reps = 3;
  const uint64_t steps = quick ? 3000 : 20000;
  printf("bench_vclock: %s, %s batch 16, %d online CPUs, %llu steps per run, %d repetitions\n",
         dname, model_describe(m), ncpu, (unsigned long long)steps, reps);

  int rc = 0;
  static const long ys[] = {0, 2, 4, 8};
  for (int k = 0; k < 4; k++) {
    const disp_ops *dop = ys[k] ? &disp_interval_ops : &disp_async_ops;
    double ra[3], rt[3], va[3], vt[3];
    for (int r = 0; r < reps; r++) {
      outcome x = {0, 0, 0, 0};
      if (run_one(&pb, dop, 2, ys[k] ? ys[k] : 1, steps, 0, 1, &x)) rc = 1;
      ra[r] = x.acc_rate;
      rt[r] = x.mean_tau;
      if (run_one(&pb, dop, 2, ys[k] ? ys[k] : 1, steps, 1, 1, &x)) rc = 1;
      va[r] = x.acc_rate;
      vt[r] = x.mean_tau;
    }
    qsort(ra, 3, sizeof *ra, cmp_double);
    qsort(rt, 3, sizeof *rt, cmp_double);
    qsort(va, 3, sizeof *va, cmp_double);
    qsort(vt, 3, sizeof *vt, cmp_double);
    char name[32];
    if (ys[k]) snprintf(name, sizeof name, "interval_y%ld", ys[k]);
    else snprintf(name, sizeof name, "async");
    printf("bench: vclock_m2_%s_accept_real %.4f ratio (range %.4f..%.4f)\n", name, ra[1], ra[0],
           ra[2]);
    printf("bench: vclock_m2_%s_accept_virtual %.4f ratio (range %.4f..%.4f)\n", name, va[1],
           va[0], va[2]);
    printf("bench: vclock_m2_%s_tau_real %.4f steps (range %.4f..%.4f)\n", name, rt[1], rt[0],
           rt[2]);
    printf("bench: vclock_m2_%s_tau_virtual %.4f steps (range %.4f..%.4f)\n", name, vt[1], vt[0],
           vt[2]);
    printf("bench: vclock_m2_%s_accept_virtual_over_real %.3f ratio\n", name,
           ra[1] > 0 ? va[1] / ra[1] : NAN);
    printf("bench: vclock_m2_%s_tau_virtual_over_real %.3f ratio\n", name,
           rt[1] > 0 ? vt[1] / rt[1] : NAN);
    fflush(stdout);
  }

  if (!only && loop_cost(quick)) rc = 1;
  psgd_free(theta0);
  model_free(m);
  data_free(&ds);
  return rc;
}
