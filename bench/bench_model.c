/* bench_model.c - single-thread throughput of the trainer's inner step
 * (forward + backward + momentum update) for the two reference models:
 * LeNet5 batch 16 on 3x32x32 (the paper's CIFAR setting) and MLP
 * 784-128-128-128-10 batch 64 (the thesis' setting), against PyTorch and
 * against the model's own GEMM bound, all in one run.
 *
 * - PyTorch (bench/torch_ref.py --serve, one thread) runs as a child
 *   process; its windows and ours alternate (ours, its, ours, its, ...) so
 *   that both see the same load on a shared machine. Each window gives a
 *   wall-clock rate and a CPU-time rate (steps per second of the process's
 *   CPU time: what one core delivers, whatever else the machine runs). The
 *   ratio is of the medians; its spread is the min .. max of the ratios of
 *   the pairs of adjacent windows.
 * - The GEMM bound: every matrix product of one step is recorded (through
 *   gemm.h's hook) and each distinct product is timed on OpenBLAS and on
 *   libxsmm, alternating, minimum over repetitions; the bound is the step
 *   rate if the step did nothing but its products, each at the faster
 *   kernel's time. The fraction reached is our CPU-time rate over it (the
 *   minimum of short calls is their unpreempted time, like CPU time).
 *
 * Never pass/fail on time: it exits non-zero only if its own results are
 * wrong (non-finite loss, loss not decreasing, BLAS self-check failing).
 *
 * Usage: bench_model [--quick]   (--quick: fewer, shorter repetitions)
 *        bench_model --steps TAG SECONDS   (only TAG's steps for SECONDS, e.g.
 *                                           under `perf record`; TAG lenet5_b16
 *                                           or mlp_b64) */
#define _DEFAULT_SOURCE /* getloadavg */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "gemm.h"
#include "model.h"
#include "optim.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct {
  double median, min, max;
} stats;

static stats summarize(const double *in, int n) {
  double v[64];
  memcpy(v, in, sizeof *v * (size_t)n);
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
  return s;
}

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *p, size_t n, psgd_rng *r) {
  for (size_t i = 0; i < n; i++) p[i] = (float)psgd_rng_uniform(r) - 0.5f;
}

/* sgemm GFLOP/s at n^3 on OpenBLAS, median of reps. */
static stats sgemm_peak(int n, int reps) {
  float *a = psgd_alloc(sizeof(float) * n * n), *b = psgd_alloc(sizeof(float) * n * n),
        *c = psgd_alloc(sizeof(float) * n * n);
  PSGD_CHECK(a && b && c);
  psgd_rng r;
  psgd_rng_seed(&r, 7);
  fill(a, (size_t)n * n, &r);
  fill(b, (size_t)n * n, &r);
  double v[32];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
  for (int k = 0; k < reps; k++) {
    uint64_t t0 = psgd_now_ns();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    v[k] = 2.0 * n * n * (double)n / (double)(psgd_now_ns() - t0);
  }
  psgd_free(a);
  psgd_free(b);
  psgd_free(c);
  return summarize(v, reps);
}

/* ---------------------------------------------------- the GEMM bound ---- */

typedef struct {
  int ta, tb, M, N, K, lda, ldb, ldc;
  float beta;
  int count; /* calls per step */
} gemm_shape;

#define MAX_SHAPES 64
static gemm_shape g_shapes[MAX_SHAPES];
static int g_n_shapes;

/* The hook while one step is recorded: notes the product and computes it
 * on the kernels gemm_rm would use (libxsmm, else OpenBLAS). */
static void record_hook(int ta, int tb, int M, int N, int K, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
  gemm_shape s = {ta, tb, M, N, K, lda, ldb, ldc, beta, 1};
  int i = 0;
  for (; i < g_n_shapes; i++) {
    gemm_shape *o = &g_shapes[i];
    if (o->ta == ta && o->tb == tb && o->M == M && o->N == N && o->K == K && o->lda == lda &&
        o->ldb == ldb && o->ldc == ldc && o->beta == beta) {
      o->count++;
      break;
    }
  }
  if (i == g_n_shapes) {
    PSGD_CHECK(g_n_shapes < MAX_SHAPES);
    g_shapes[g_n_shapes++] = s;
  }
  if (gemm_rm_on(GEMM_LIBXSMM, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) != 0)
    gemm_rm_on(GEMM_OPENBLAS, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* Minimum seconds of one call of s on each kernel set (alternating calls);
 * t[GEMM_LIBXSMM] < 0 if libxsmm cannot compute it. */
static void time_shape(const gemm_shape *s, int reps, double t[2]) {
  size_t na = (size_t)(s->ta ? s->K : s->M) * s->lda, nb = (size_t)(s->tb ? s->N : s->K) * s->ldb;
  size_t nc = (size_t)s->M * s->ldc;
  float *A = psgd_alloc(na * 4), *B = psgd_alloc(nb * 4), *C = psgd_alloc(nc * 4);
  PSGD_CHECK(A && B && C);
  psgd_rng r;
  psgd_rng_seed(&r, 11);
  fill(A, na, &r);
  fill(B, nb, &r);
  fill(C, nc, &r);
  t[0] = t[1] = 1e30;
  for (int k = 0; k < reps; k++)
    for (int w = 0; w < 2; w++) {
      uint64_t t0 = psgd_now_ns();
      int rc = gemm_rm_on((gemm_kernels)w, s->ta, s->tb, s->M, s->N, s->K, A, s->lda, B, s->ldb,
                          s->beta, C, s->ldc);
      double dt = (double)(psgd_now_ns() - t0) * 1e-9;
      if (rc) t[w] = -1;
      else if (dt < t[w]) t[w] = dt;
    }
  psgd_free(A);
  psgd_free(B);
  psgd_free(C);
}

/* ------------------------------------------------------- one model ---- */

typedef struct {
  const char *tag;
  model_spec spec;
  int batch;
  /* state */
  model *m;
  model_ws *ws;
  float *theta, *grad, *v, *x;
  uint8_t *y;
  size_t d, dim;
  long step;
  float first, last;
  optim_spec o;
} runner;

#define N_BATCHES 8 /* a few distinct batches, cycled, so caches see realistic reuse */

static void step(runner *r) {
  int k = (int)(r->step++ % N_BATCHES);
  r->last = model_loss_grad(r->m, r->ws, r->theta, r->x + (size_t)k * r->batch * r->dim,
                            r->y + (size_t)k * r->batch, r->batch, r->grad);
  optim_apply(&r->o, r->o.lr, r->theta, r->v, r->grad, r->d);
}

static int runner_init(runner *r) {
  char err[PSGD_ERRLEN];
  r->m = model_create(&r->spec, err, sizeof err);
  if (!r->m) {
    fprintf(stderr, "bench_model: %s\n", err);
    return -1;
  }
  r->d = model_n_params(r->m);
  r->dim = (size_t)r->spec.c * r->spec.h * r->spec.w;
  size_t nx = (size_t)N_BATCHES * r->batch * r->dim;
  r->theta = psgd_alloc(r->d * sizeof(float));
  r->grad = psgd_alloc(r->d * sizeof(float));
  r->v = psgd_calloc(r->d * sizeof(float));
  r->x = psgd_alloc(nx * sizeof(float));
  r->y = malloc((size_t)N_BATCHES * r->batch);
  r->ws = model_ws_create(r->m, r->batch);
  PSGD_CHECK(r->theta && r->grad && r->v && r->x && r->y && r->ws);
  psgd_rng g;
  psgd_rng_seed(&g, 3);
  for (size_t i = 0; i < nx; i++) r->x[i] = (float)psgd_rng_normal(&g);
  for (int i = 0; i < N_BATCHES * r->batch; i++)
    r->y[i] = (uint8_t)psgd_rng_below(&g, (uint64_t)r->spec.n_classes);
  model_init(r->m, r->theta, 1);
  r->o = (optim_spec){OPTIM_MOMENTUM, 0.005f, 0.5f, 0};
  /* warm-up: page in, JIT the kernels, let the clock settle */
  step(r);
  r->first = r->last;
  uint64_t t0 = psgd_now_ns();
  while (psgd_now_ns() - t0 < (uint64_t)(0.3e9)) step(r);
  return 0;
}

static void runner_free(runner *r) {
  model_ws_free(r->ws);
  model_free(r->m);
  psgd_free(r->theta);
  psgd_free(r->grad);
  psgd_free(r->v);
  psgd_free(r->x);
  free(r->y);
}

/* One window of ~seconds: wall and CPU-time steps/s. */
static void window(runner *r, double seconds, double *wall, double *cpu) {
  long n = 0;
  double c0 = cpu_seconds();
  uint64_t s = psgd_now_ns(), e;
  do {
    for (int k = 0; k < 16; k++, n++) step(r);
    e = psgd_now_ns();
  } while (e - s < (uint64_t)(seconds * 1e9));
  double dc = cpu_seconds() - c0;
  *wall = (double)n / ((double)(e - s) * 1e-9);
  *cpu = (double)n / (dc > 1e-9 ? dc : 1e-9);
}

/* The GEMM bound of r's step in steps/s; prints the per-product table. */
static double gemm_bound(runner *r, int reps) {
  g_n_shapes = 0;
  gemm_set_hook(record_hook);
  step(r);
  gemm_set_hook(NULL);
  double total = 0, flops = 0;
  for (int i = 0; i < g_n_shapes; i++) {
    const gemm_shape *s = &g_shapes[i];
    double t[2];
    time_shape(s, reps, t);
    double best = t[1] > 0 && t[1] < t[0] ? t[1] : t[0];
    double f = 2.0 * s->M * s->N * (double)s->K;
    total += best * s->count;
    flops += f * s->count;
    char xs[32] = "n/a";
    if (t[1] > 0) snprintf(xs, sizeof xs, "%6.1f us %5.1f GF/s", t[1] * 1e6, f / t[1] * 1e-9);
    printf("config: %s gemm %s%s %5dx%5dx%5d beta %g x%d: openblas %6.1f us %5.1f GF/s, "
           "libxsmm %s -> %s\n",
           r->tag, s->ta ? "A^T" : "A", s->tb ? ".B^T" : ".B", s->M, s->N, s->K, s->beta,
           s->count, t[0] * 1e6, f / t[0] * 1e-9, xs,
           best == t[0] ? "openblas" : "libxsmm");
  }
  printf("config: %s gemm total %.1f us per step (%.2f MFLOP at %.1f GF/s)\n", r->tag,
         total * 1e6, flops * 1e-6, flops / total * 1e-9);
  return 1.0 / total;
}

/* ------------------------------------------------------- PyTorch ---- */

typedef struct {
  pid_t pid;
  FILE *to, *from;
} torch_proc;

/* Finds bench/torch_ref.py next to the sources: from the working directory
 * (make bench runs at the top) or relative to this binary (build/bench/). */
static int find_torch_script(const char *argv0, char *out, size_t cap) {
  if (access("bench/torch_ref.py", R_OK) == 0) {
    snprintf(out, cap, "bench/torch_ref.py");
    return 0;
  }
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", argv0);
  snprintf(out, cap, "%s/../../bench/torch_ref.py", dirname(tmp));
  return access(out, R_OK) == 0 ? 0 : -1;
}

/* Starts torch_ref.py --serve and waits for its "ready" (printing the lines
 * before it). Debian's python3-torch lives under /usr/bin/python3, which a
 * pyenv or venv `python3` on PATH may hide: that one is tried first. */
static int torch_start(const char *script, torch_proc *t) {
  static const char *const pys[] = {"/usr/bin/python3", "python3"};
  const char *py = NULL;
  for (int i = 0; i < 2 && !py; i++) {
    char probe[256];
    snprintf(probe, sizeof probe, "%s -c 'import torch' >/dev/null 2>&1", pys[i]);
    if (system(probe) == 0) py = pys[i];
  }
  if (!py) return -1;
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return -1;
  fflush(stdout);
  t->pid = fork();
  if (t->pid < 0) return -1;
  if (t->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    execlp(py, py, script, "--serve", (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  t->to = fdopen(in[1], "w");
  t->from = fdopen(out[0], "r");
  if (!t->to || !t->from) return -1;
  char line[512];
  while (fgets(line, sizeof line, t->from)) {
    if (!strncmp(line, "ready", 5)) return 0;
    fputs(line, stdout);
  }
  return -1;
}

static int torch_window(torch_proc *t, const char *tag, double seconds, double *wall,
                        double *cpu) {
  fprintf(t->to, "%s %.3f\n", tag, seconds);
  fflush(t->to);
  char line[512], got[64];
  double loss;
  if (!fgets(line, sizeof line, t->from)) return -1;
  if (sscanf(line, "%63s %lf %lf %lf", got, wall, cpu, &loss) != 4 || strcmp(got, tag)) {
    fprintf(stderr, "bench_model: torch_ref.py answered '%s'\n", line);
    return -1;
  }
  return 0;
}

static void torch_stop(torch_proc *t) {
  if (t->to) fclose(t->to); /* end of input: it exits */
  if (t->from) fclose(t->from);
  if (t->pid > 0) waitpid(t->pid, NULL, 0);
}

/* ---------------------------------------------------------- main ---- */

static void print_stats(const char *name, const double *v, int n, const char *unit) {
  stats s = summarize(v, n);
  printf("bench: %s %.2f %s\n", name, s.median, unit);
  printf("bench: %s_spread %.1f %%\n", name, 100 * (s.max - s.min) / s.median);
}

/* --steps: one model's step loop alone, for profilers. */
static int steps_only(runner *rs, int n, const char *tag, double seconds) {
  for (int i = 0; i < n; i++) {
    if (strcmp(rs[i].tag, tag)) continue;
    if (runner_init(&rs[i])) return 1;
    double wall, cpu;
    window(&rs[i], seconds, &wall, &cpu);
    printf("bench: %s_steps_per_s %.2f steps/s\nbench: %s_cpu_steps_per_s %.2f steps/s\n", tag,
           wall, tag, cpu);
    runner_free(&rs[i]);
    return 0;
  }
  fprintf(stderr, "bench_model: --steps: unknown model '%s' (lenet5_b16, mlp_b64)\n", tag);
  return 2;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && !strcmp(argv[1], "--quick");
  const char *only = NULL;
  double only_s = 0;
  if (argc > 1 && !strcmp(argv[1], "--steps")) {
    if (argc != 4 || !((only_s = atof(argv[3])) > 0)) {
      fprintf(stderr, "usage: bench_model [--quick] | --steps TAG SECONDS\n");
      return 2;
    }
    only = argv[2];
  }
  int reps = quick ? 3 : 9;
  double win = quick ? 0.2 : 0.5;
  signal(SIGPIPE, SIG_IGN);
  model_blas_init();
  char cpu[256] = "unknown";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "model name", 10)) {
        char *c = strchr(line, ':');
        if (c) snprintf(cpu, sizeof cpu, "%s", c + 2);
        cpu[strcspn(cpu, "\n")] = 0;
        break;
      }
    fclose(f);
  }
  char err[PSGD_ERRLEN];
  if (gemm_selfcheck(err, sizeof err)) {
    fprintf(stderr, "bench_model: %s\n", err);
    return 1;
  }
  const char *ct = getenv("OPENBLAS_CORETYPE");
  printf("config: cpu %s, %ld online CPUs; %s (OPENBLAS_CORETYPE %s); kernels: %s; 1 thread\n",
         cpu, sysconf(_SC_NPROCESSORS_ONLN), openblas_get_config(), ct ? ct : "unset",
         gemm_kernel_name());
  printf("config: step = forward + backward + momentum update (lr 0.005, mu 0.5); %d "
         "repetitions of %.1f s per model, ours and PyTorch's alternating, after 0.3 s "
         "warm-up; median, spread = (max - min) / median\n",
         reps, win);
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0) printf("config: load average at start %.2f %.2f %.2f\n", load[0], load[1], load[2]);

  runner rs[2] = {
      {.tag = "lenet5_b16", .spec = {"lenet5", 3, 32, 32, 10, 0, {0}}, .batch = 16},
      {.tag = "mlp_b64", .spec = {"mlp", 1, 28, 28, 10, 3, {128, 128, 128}}, .batch = 64},
  };
  if (only) return steps_only(rs, 2, only, only_s);

  stats peak = sgemm_peak(1024, quick ? 3 : 7);
  printf("bench: sgemm_1024_gflops %.1f GFLOP/s\n", peak.median);

  double bound[2];
  for (int i = 0; i < 2; i++) {
    if (runner_init(&rs[i])) return 1;
    bound[i] = gemm_bound(&rs[i], quick ? 20 : 60);
  }

  char script[1100];
  torch_proc tp = {0, NULL, NULL};
  int have_torch = 0;
  if (find_torch_script(argv[0], script, sizeof script) != 0)
    printf("config: bench/torch_ref.py not found: no PyTorch comparison\n");
  else if (torch_start(script, &tp) != 0)
    printf("config: python3 cannot import torch (make bench-deps installs python3-torch): "
           "no PyTorch comparison\n");
  else
    have_torch = 1;

  double ow[2][64], oc[2][64], tw[2][64], tc[2][64], rw[2][64], rc_[2][64];
  for (int rep = 0; rep < reps; rep++)
    for (int i = 0; i < 2; i++) {
      window(&rs[i], win, &ow[i][rep], &oc[i][rep]);
      if (have_torch && torch_window(&tp, rs[i].tag, win, &tw[i][rep], &tc[i][rep]) != 0) {
        printf("config: torch_ref.py stopped answering: no PyTorch comparison\n");
        have_torch = 0;
      }
      if (have_torch) {
        rw[i][rep] = ow[i][rep] / tw[i][rep];
        rc_[i][rep] = oc[i][rep] / tc[i][rep];
      }
    }
  torch_stop(&tp);
  if (getloadavg(load, 3) > 0) printf("config: load average at end %.2f %.2f %.2f\n", load[0], load[1], load[2]);

  int rc = 0;
  for (int i = 0; i < 2; i++) {
    runner *r = &rs[i];
    double fl = model_flops_per_sample(r->m) * r->batch;
    printf("config: %s: %s, batch %d, %.2f MFLOP/step, loss %.4f -> %.4f over %ld steps\n",
           r->tag, model_describe(r->m), r->batch, fl * 1e-6, r->first, r->last, r->step);
    if (!(isfinite(r->first) && isfinite(r->last) && r->last < r->first)) {
      fprintf(stderr, "bench_model: %s: loss did not decrease on its own batches\n", r->tag);
      rc = 1;
    }
    char name[96];
    stats w = summarize(ow[i], reps), c = summarize(oc[i], reps);
    snprintf(name, sizeof name, "%s_steps_per_s", r->tag);
    print_stats(name, ow[i], reps, "steps/s");
    snprintf(name, sizeof name, "%s_cpu_steps_per_s", r->tag);
    print_stats(name, oc[i], reps, "steps/s");
    printf("bench: %s_gflops %.2f GFLOP/s\n", r->tag, w.median * fl * 1e-9);
    printf("bench: %s_gemm_bound_steps_per_s %.1f steps/s\n", r->tag, bound[i]);
    printf("bench: %s_frac_of_gemm_bound %.3f fraction\n", r->tag, c.median / bound[i]);
    printf("bench: %s_frac_of_gemm_bound_wall %.3f fraction\n", r->tag, w.median / bound[i]);
    if (have_torch) {
      stats t = summarize(tw[i], reps), tcs = summarize(tc[i], reps);
      stats prw = summarize(rw[i], reps), prc = summarize(rc_[i], reps);
      snprintf(name, sizeof name, "torch_%s_steps_per_s", r->tag);
      print_stats(name, tw[i], reps, "steps/s");
      snprintf(name, sizeof name, "torch_%s_cpu_steps_per_s", r->tag);
      print_stats(name, tc[i], reps, "steps/s");
      printf("bench: %s_vs_torch %.2f x\n", r->tag, w.median / t.median);
      printf("bench: %s_vs_torch_pair_min %.2f x\n", r->tag, prw.min);
      printf("bench: %s_vs_torch_pair_max %.2f x\n", r->tag, prw.max);
      printf("bench: %s_vs_torch_cpu %.2f x\n", r->tag, c.median / tcs.median);
      printf("bench: %s_vs_torch_cpu_pair_min %.2f x\n", r->tag, prc.min);
      printf("bench: %s_vs_torch_cpu_pair_max %.2f x\n", r->tag, prc.max);
    }
    runner_free(r);
  }
  return rc;
}
