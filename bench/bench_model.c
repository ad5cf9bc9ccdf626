/* bench_model.c - single-thread throughput of the trainer's inner step
 * (forward + backward + momentum update) for the two reference models:
 * LeNet5 batch 16 on 3x32x32 (the paper's CIFAR setting) and MLP
 * 784-128-128-128-10 batch 64 (the thesis' setting). Reports median and
 * spread over repetitions, the effective GFLOP/s, this machine's single-core
 * sgemm peak measured in the same run, and, when python3 can import torch,
 * the ratio against PyTorch running the same models on one thread
 * (bench/torch_ref.py). Never pass/fail on absolute time: it exits non-zero
 * only if its own results are wrong (non-finite loss, loss not decreasing).
 *
 * Usage: bench_model [--quick]   (--quick: fewer, shorter repetitions) */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "model.h"
#include "optim.h"

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

/* sgemm GFLOP/s at n^3, median of reps. */
static stats sgemm_peak(int n, int reps) {
  float *a = psgd_alloc(sizeof(float) * n * n), *b = psgd_alloc(sizeof(float) * n * n),
        *c = psgd_alloc(sizeof(float) * n * n);
  PSGD_CHECK(a && b && c);
  psgd_rng r;
  psgd_rng_seed(&r, 7);
  for (long i = 0; i < (long)n * n; i++) {
    a[i] = (float)psgd_rng_uniform(&r) - 0.5f;
    b[i] = (float)psgd_rng_uniform(&r) - 0.5f;
  }
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

typedef struct {
  const char *tag;
  model_spec spec;
  int batch;
} config;

/* Steps/s of one model: warm up, then `reps` timed windows of ~window_s.
 * Returns -1 if the model's own results look wrong. */
static int bench_one(const config *cf, int reps, double window_s, stats *out, double *flops) {
  char err[PSGD_ERRLEN];
  model *m = model_create(&cf->spec, err, sizeof err);
  if (!m) {
    fprintf(stderr, "bench_model: %s\n", err);
    return -1;
  }
  size_t d = model_n_params(m), dim = (size_t)cf->spec.c * cf->spec.h * cf->spec.w;
  int nb = 8; /* a few distinct batches, cycled, so caches see realistic reuse */
  float *theta = psgd_alloc(d * sizeof(float)), *grad = psgd_alloc(d * sizeof(float)),
        *v = psgd_calloc(d * sizeof(float)), *x = psgd_alloc(nb * cf->batch * dim * sizeof(float));
  uint8_t *y = malloc((size_t)nb * cf->batch);
  model_ws *ws = model_ws_create(m, cf->batch);
  PSGD_CHECK(theta && grad && v && x && y && ws);
  psgd_rng r;
  psgd_rng_seed(&r, 3);
  for (size_t i = 0; i < nb * cf->batch * dim; i++) x[i] = (float)psgd_rng_normal(&r);
  for (int i = 0; i < nb * cf->batch; i++)
    y[i] = (uint8_t)psgd_rng_below(&r, (uint64_t)cf->spec.n_classes);
  model_init(m, theta, 1);
  optim_spec o = {OPTIM_MOMENTUM, 0.005f, 0.5f, 0};
  float first = 0, last = 0;
  long step = 0;
#define STEP()                                                                              \
  do {                                                                                      \
    int k = (int)(step++ % nb);                                                             \
    last = model_loss_grad(m, ws, theta, x + (size_t)k * cf->batch * dim,                   \
                           y + (size_t)k * cf->batch, cf->batch, grad);                     \
    optim_apply(&o, o.lr, theta, v, grad, d);                                               \
  } while (0)
  /* warm-up: page in, let the clock and OpenBLAS buffers settle */
  uint64_t t0 = psgd_now_ns();
  STEP();
  first = last;
  while (psgd_now_ns() - t0 < (uint64_t)(0.3e9)) STEP();
  double rate[64];
  for (int rep = 0; rep < reps; rep++) {
    long n = 0;
    uint64_t s = psgd_now_ns(), e;
    do {
      for (int k = 0; k < 16; k++, n++) STEP();
      e = psgd_now_ns();
    } while (e - s < (uint64_t)(window_s * 1e9));
    rate[rep] = (double)n / ((double)(e - s) * 1e-9);
  }
#undef STEP
  *out = summarize(rate, reps);
  *flops = model_flops_per_sample(m) * cf->batch;
  printf("config: %s: %s, batch %d, %.2f MFLOP/step, loss %.4f -> %.4f over %ld steps\n",
         cf->tag, model_describe(m), cf->batch, *flops * 1e-6, first, last, step);
  int ok = isfinite(first) && isfinite(last) && last < first;
  if (!ok) fprintf(stderr, "bench_model: %s: loss did not decrease on its own batches\n", cf->tag);
  model_ws_free(ws);
  model_free(m);
  psgd_free(theta);
  psgd_free(grad);
  psgd_free(v);
  psgd_free(x);
  free(y);
  return ok ? 0 : -1;
}

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

/* Runs the PyTorch reference; fills rates (steps/s) by tag. 0 if it ran.
 * Debian's python3-torch lives under /usr/bin/python3, which a pyenv or venv
 * `python3` on PATH may hide: try that one first. */
static int run_torch(const char *script, int quick, double *lenet, double *mlp) {
  static const char *const pys[] = {"/usr/bin/python3", "python3"};
  const char *py = NULL;
  for (int i = 0; i < 2 && !py; i++) {
    char probe[256];
    snprintf(probe, sizeof probe, "%s -c 'import torch' >/dev/null 2>&1", pys[i]);
    if (system(probe) == 0) py = pys[i];
  }
  if (!py) return -1;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "%s %s%s", py, script, quick ? " --quick" : "");
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char line[512];
  *lenet = *mlp = 0;
  while (fgets(line, sizeof line, p)) {
    double val;
    fputs(line, stdout);
    if (sscanf(line, "torch: lenet5_b16_steps_per_s %lf", &val) == 1) *lenet = val;
    if (sscanf(line, "torch: mlp_b64_steps_per_s %lf", &val) == 1) *mlp = val;
  }
  int rc = pclose(p);
  return rc == 0 && *lenet > 0 && *mlp > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  int quick = argc > 1 && !strcmp(argv[1], "--quick");
  int reps = quick ? 3 : 9;
  double window = quick ? 0.2 : 0.5;
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
  printf("config: cpu %s; OpenBLAS %s (core %s), 1 thread\n", cpu, openblas_get_config(),
         openblas_get_corename());
  printf("config: step = forward + backward + momentum update (lr 0.005, mu 0.5); "
         "%d repetitions of %.1f s after 0.3 s warm-up; median, spread = (max - min) / median\n",
         reps, window);

  stats peak = sgemm_peak(1024, quick ? 3 : 7);
  printf("bench: sgemm_1024_gflops %.1f GFLOP/s\n", peak.median);
  printf("bench: sgemm_1024_spread %.1f %%\n", 100 * (peak.max - peak.min) / peak.median);

  config cfs[2] = {
      {"lenet5_b16", {"lenet5", 3, 32, 32, 10, 0, {0}}, 16},
      {"mlp_b64", {"mlp", 1, 28, 28, 10, 3, {128, 128, 128}}, 64},
  };
  double ours[2] = {0, 0};
  int rc = 0;
  for (int i = 0; i < 2; i++) {
    stats s = {0, 0, 0};
    double fl = 0;
    if (bench_one(&cfs[i], reps, window, &s, &fl)) rc = 1;
    ours[i] = s.median;
    printf("bench: %s_steps_per_s %.1f steps/s\n", cfs[i].tag, s.median);
    printf("bench: %s_spread %.1f %%\n", cfs[i].tag, 100 * (s.max - s.min) / s.median);
    printf("bench: %s_gflops %.2f GFLOP/s\n", cfs[i].tag, s.median * fl * 1e-9);
    printf("bench: %s_frac_of_peak %.3f fraction\n", cfs[i].tag, s.median * fl * 1e-9 / peak.median);
  }

  char script[1100];
  double tl, tm;
  if (find_torch_script(argv[0], script, sizeof script) != 0) {
    printf("config: bench/torch_ref.py not found: no PyTorch comparison\n");
  } else if (run_torch(script, quick, &tl, &tm) != 0) {
    printf("config: python3 cannot import torch (make bench-deps installs python3-torch): "
           "no PyTorch comparison\n");
  } else {
    printf("bench: lenet5_b16_vs_torch %.2f x\n", ours[0] / tl);
    printf("bench: mlp_b64_vs_torch %.2f x\n", ours[1] / tm);
  }
  return rc;
}
