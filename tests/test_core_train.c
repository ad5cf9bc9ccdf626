/* test_core_train.c - `psgd train`'s training path (the engine at m = 1,
 * default settings: one thread, async over hogwild, the real clock) and its
 * flag parser: a short training on the synthetic set whose loss goes down
 * and whose accuracy beats chance, bit-for-bit determinism for a seed, the
 * stop conditions (steps, fractional epochs, target accuracy, divergence),
 * errors for settings that cannot run, and the parser's accepted forms and
 * its error messages. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_train.h"
#include "common.h"
#include "engine.h"

typedef struct {
  int n;
  eval_rec e[256];
} trace;

static void record(void *ctx, const run_spec *s, const eval_rec *e, double steps_per_s) {
  (void)s;
  trace *t = ctx;
  assert_true(steps_per_s >= 0);
  /* full: the newest report replaces the last slot, so that the final
   * evaluation is always kept (a slow build, e.g. under TSan, reports more
   * than 256 times at eval_every_s = 0.005) */
  if (t->n < 256) t->e[t->n++] = *e;
  else t->e[255] = *e;
}

static void synth_spec(run_spec *s) {
  spec_default(s);
  snprintf(s->dataset, sizeof s->dataset, "synthetic");
  snprintf(s->model, sizeof s->model, "mlp");
  s->n_hidden = 1;
  s->hidden[0] = 32;
  s->batch = 16;
  s->lr = 0.05;
  s->momentum = 0.5;
  s->stop_epochs = 3;
}

/* psgd train's call: engine_run with a progress printer and nothing recorded */
static int train(const run_spec *s, trace *t, run_result *r, char *err) {
  engine_io io;
  memset(&io, 0, sizeof io);
  io.progress = t ? record : NULL;
  io.progress_ctx = t;
  return engine_run(s, &io, r, err, PSGD_ERRLEN);
}

static void test_loss_goes_down(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  s.eval_every_s = 0.005;
  trace t = {0};
  run_result r;
  char err[PSGD_ERRLEN];
  int rc = train(&s, &t, &r, err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(r.status, RUN_OK);
  assert_int_equal(r.steps_accepted, 3 * 2048 / 16);
  assert_int_equal(r.steps_started, 3 * 2048 / 16);
  assert_true(fabs(r.epochs - 3.0) < 1e-9);
  /* the last report is the final evaluation, after the last step */
  assert_true(t.n >= 1);
  const eval_rec *last = &t.e[t.n - 1];
  assert_int_equal(last->steps_accepted, 3 * 2048 / 16);
  assert_true(last->test_loss == r.final_test_loss && last->test_acc == r.final_test_acc);
  /* 10 classes: chance is 0.1 and ln 10 = 2.30 */
  assert_true(r.initial_loss > 1.5);
  assert_true(r.final_test_loss < 0.6 * r.initial_loss);
  assert_true(r.final_test_acc > 0.6);
  assert_true(r.best_test_acc >= r.final_test_acc);
  for (int i = 0; i < t.n; i++) assert_true(t.e[i].steps_accepted <= r.steps_accepted);

  /* the default synthetic shape 1x8x8 is too small for LeNet5: an error */
  snprintf(s.model, sizeof s.model, "lenet5");
  assert_int_equal(train(&s, NULL, &r, err), -1);
  assert_non_null(strstr(err, "lenet5: input 8x8 too small"));
}

/* LeNet5 on the first 2000 Fashion-MNIST images (when the Debian package is
 * installed): one epoch lifts test accuracy far above chance. */
static void test_lenet5_learns(void **state) {
  (void)state;
  if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", R_OK) != 0 &&
      !getenv("PSGD_FASHION_DIR")) {
    fprintf(stderr, "dataset-fashion-mnist not installed: skipped\n");
    skip();
  }
  run_spec s;
  spec_default(&s);
  snprintf(s.model, sizeof s.model, "lenet5");
  s.batch = 16;
  s.lr = 0.01;
  s.momentum = 0.9;
  s.stop_epochs = 1;
  s.train_limit = 2000;
  s.test_limit = 500;
  run_result r;
  char err[PSGD_ERRLEN];
  int rc = train(&s, NULL, &r, err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(r.steps_accepted, 125);
  assert_true(r.final_test_loss < 0.5 * r.initial_loss);
  assert_true(r.final_test_acc > 0.6);
}

static void test_deterministic(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  s.stop_epochs = 0;
  s.stop_steps = 150; /* crosses an epoch end (128 steps) */
  run_result a, b, c;
  char err[PSGD_ERRLEN];
  assert_int_equal(train(&s, NULL, &a, err), 0);
  assert_int_equal(train(&s, NULL, &b, err), 0);
  assert_int_equal(a.steps_accepted, 150);
  assert_true(a.final_test_loss == b.final_test_loss);
  assert_true(a.final_test_acc == b.final_test_acc);
  s.seed = 2;
  assert_int_equal(train(&s, NULL, &c, err), 0);
  assert_true(a.final_test_loss != c.final_test_loss);
}

static void test_stop_conditions(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  run_result r;
  char err[PSGD_ERRLEN];
  /* a fractional epoch: ceil(0.5 * 2048 / 16) = 64 steps */
  s.stop_epochs = 0.5;
  assert_int_equal(train(&s, NULL, &r, err), 0);
  assert_int_equal(r.steps_accepted, 64);
  assert_int_equal(r.status, RUN_OK);
  /* target accuracy, checked at every evaluation point (online) */
  s.stop_epochs = 50;
  s.target_acc = 0.5;
  s.eval_every_steps = 10;
  assert_int_equal(train(&s, NULL, &r, err), 0);
  assert_int_equal(r.status, RUN_CONVERGED);
  assert_true(r.best_test_acc >= 0.5 && r.epochs < 50);
  /* a huge step size diverges and says so */
  s.target_acc = 0;
  s.eval_every_steps = 0;
  s.lr = 1e5;
  s.momentum = 0.9;
  assert_int_equal(train(&s, NULL, &r, err), 0);
  assert_int_equal(r.status, RUN_DIVERGED);
  assert_true(r.steps_accepted < 200);
  /* settings that cannot run */
  synth_spec(&s);
  s.stop_epochs = 0;
  assert_int_equal(train(&s, NULL, &r, err), -1);
  assert_non_null(strstr(err, "no usable stop condition"));
  synth_spec(&s);
  snprintf(s.optimizer, sizeof s.optimizer, "adam");
  assert_int_equal(train(&s, NULL, &r, err), -1);
  assert_non_null(strstr(err, "unknown optimizer 'adam'"));
  synth_spec(&s);
  snprintf(s.dataset, sizeof s.dataset, "mnist");
  snprintf(s.data_dir, sizeof s.data_dir, "/nonexistent");
  assert_int_equal(train(&s, NULL, &r, err), -1);
  assert_non_null(strstr(err, "make data"));
}

/* MindTheStep with one thread is momentum exactly (tau0 = 0, tau = 0). */
static void test_mindthestep_sequential(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  s.stop_epochs = 1;
  run_result a, b;
  char err[PSGD_ERRLEN];
  assert_int_equal(train(&s, NULL, &a, err), 0);
  snprintf(s.optimizer, sizeof s.optimizer, "mindthestep");
  assert_int_equal(train(&s, NULL, &b, err), 0);
  assert_true(a.final_test_loss == b.final_test_loss);
}

/* ------------------------------------------------------------ parser ---- */

static int parse(run_spec *s, char *err, const char *args) {
  static char buf[1024];
  char *argv[64];
  int argc = 0;
  snprintf(buf, sizeof buf, "train %s", args);
  for (char *p = strtok(buf, " "); p && argc < 64; p = strtok(NULL, " ")) argv[argc++] = p;
  return cli_train_parse(argc, argv, s, err, PSGD_ERRLEN);
}

static void test_parse_ok(void **state) {
  (void)state;
  run_spec s;
  char err[PSGD_ERRLEN];
  assert_int_equal(parse(&s, err,
                         "--dataset cifar10 --model lenet5 --batch 32 --lr=0.01 --momentum 0.9 "
                         "--optimizer sgd --epochs 2.5 --seconds 10 --steps 100 --seed 77 "
                         "--train-limit 500 --test-limit 100 --data-dir /d --hidden 64,32 "
                         "--target-acc 0.9 --eval-every 50"),
                   0);
  assert_string_equal(s.dataset, "cifar10");
  assert_string_equal(s.model, "lenet5");
  assert_int_equal(s.batch, 32);
  assert_true(s.lr == 0.01 && s.momentum == 0.9);
  assert_string_equal(s.optimizer, "sgd");
  assert_true(s.stop_epochs == 2.5 && s.stop_seconds == 10 && s.stop_steps == 100);
  assert_int_equal(s.seed, 77);
  assert_int_equal(s.train_limit, 500);
  assert_int_equal(s.test_limit, 100);
  assert_string_equal(s.data_dir, "/d");
  assert_int_equal(s.n_hidden, 2);
  assert_int_equal(s.hidden[1], 32);
  assert_int_equal(s.hidden[2], 0);
  assert_true(s.target_acc == 0.9);
  assert_int_equal(s.eval_every_steps, 50);
  /* defaults are the spec's */
  assert_int_equal(parse(&s, err, ""), 0);
  run_spec d;
  spec_default(&d);
  assert_memory_equal(&s, &d, sizeof s);
  assert_int_equal(parse(&s, err, "--lr 1 --help"), 1);
}

static void test_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *args, *expect;
  } cases[] = {
      {"--bogus 3", "unknown option '--bogus'"},
      {"--lr", "--lr: missing value X"},
      {"--lr abc", "--lr: 'abc' is not a number"},
      {"--lr -1", "--lr: '-1' is not a number in (0, 100]"},
      {"--lr 0", "--lr: '0' is not a number in (0, 100]"},
      {"--momentum 1", "--momentum: '1' is not a number in [0, 1)"},
      {"--batch 0", "--batch: '0' is not an integer in [1, 65536]"},
      {"--batch 2x", "--batch: '2x' is not an integer"},
      {"--dataset imagenet", "unknown dataset 'imagenet' (known: fashion-mnist"},
      {"--model vgg", "unknown model 'vgg' (known: mlp, lenet5)"},
      {"--optimizer adam", "unknown optimizer 'adam' (known: sgd, momentum, mindthestep)"},
      {"--hidden 128,,3", "--hidden: '128,,3' is not a list"},
      {"--hidden 128,", "--hidden: '128,' is not a list"},
      {"--hidden 1,2,3,4,5,6,7,8,9", "is not a list of 1 to 8 widths"},
      {"--seed -4", "--seed: '-4' is not an integer in [0, 4e+18]"},
      {"--epochs 0", "no stop condition"},
      {"--target-acc 2", "--target-acc: '2' is not a number in [0, 1]"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    run_spec s;
    char err[PSGD_ERRLEN] = "";
    int rc = parse(&s, err, cases[k].args);
    if (rc != -1 || !strstr(err, cases[k].expect)) {
      fprintf(stderr, "'%s': rc %d, '%s'\n", cases[k].args, rc, err);
      fail();
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loss_goes_down),   cmocka_unit_test(test_lenet5_learns),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_stop_conditions),  cmocka_unit_test(test_mindthestep_sequential),
      cmocka_unit_test(test_parse_ok),         cmocka_unit_test(test_parse_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
