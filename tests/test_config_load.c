/* test_config_load.c - experiment files that load: expansion order and count,
 * layering (@include, scales, variants, sweep), algorithm resolution, thread
 * factors, deduplication, --only filters, and stable run keys. Each test
 * writes its files into a fresh temporary folder. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common.h"
#include "config.h"
#include "runner.h"

static char dir[256];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/psgd_cfgtest_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Writes dir/name and returns its path (static buffer per call site use). */
static const char *put(const char *name, const char *text) {
  static char path[8][320];
  static int k;
  char *p = path[k++ % 8];
  snprintf(p, 320, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static experiment *load(const char *path, const char *scale, int cores) {
  char err[PSGD_ERRLEN] = "";
  config_opts o = {scale, cores, 0};
  experiment *e = config_load(path, &o, err, sizeof err);
  if (!e) fail_msg("config_load(%s): %s", path, err);
  return e;
}

static void load_fails(const char *path, const char *scale, const char *needle) {
  char err[PSGD_ERRLEN] = "";
  config_opts o = {scale, 2, 0};
  experiment *e = config_load(path, &o, err, sizeof err);
  if (e) {
    config_free(e);
    fail_msg("%s loaded, expected an error containing '%s'", path, needle);
  }
  if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_defaults_single_run(void **state) {
  (void)state;
  experiment *e = load(put("empty.cfg", "# nothing\n"), NULL, 2);
  assert_int_equal(e->n_runs, 1);
  assert_string_equal(e->name, "empty");
  assert_string_equal(e->scale, "quick");
  run_spec d;
  spec_default(&d);
  snprintf(d.experiment, sizeof d.experiment, "empty");
  snprintf(d.label, sizeof d.label, "async");
  char a[8192], b[8192];
  spec_to_json(&d, a, sizeof a);
  spec_to_json(&e->runs[0].spec, b, sizeof b);
  assert_string_equal(a, b);
  assert_int_equal(e->runs[0].variant, -1);
  assert_string_equal(e->runs[0].swept, "");
  config_free(e);
}

static void test_product_order_and_repeat(void **state) {
  (void)state;
  const char *p = put("prod.cfg",
                      "algorithm = \"interval\";\n"
                      "seed = 10; repeat = 2;\n"
                      "sweep = { y0 = [1, 2, 4]; batch = [16, 64]; };\n"
                      "variants = ( { label = \"A\"; lr = 0.01; }, { label = \"B\"; lr = 0.02; } );\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 2 * 3 * 2 * 2);
  /* variants slowest, then y0, then batch, then repetition fastest */
  const exp_run *r = &e->runs[0];
  assert_string_equal(r->spec.label, "A");
  assert_int_equal(r->spec.y0, 1);
  assert_int_equal(r->spec.batch, 16);
  assert_int_equal(r->spec.repetition, 0);
  assert_int_equal(r->spec.seed, 10);
  assert_string_equal(r->swept, "y0=1 batch=16 rep=0");
  r = &e->runs[1];
  assert_int_equal(r->spec.repetition, 1);
  assert_int_equal(r->spec.seed, 11);
  r = &e->runs[2];
  assert_int_equal(r->spec.batch, 64);
  assert_int_equal(r->spec.y0, 1);
  r = &e->runs[4];
  assert_int_equal(r->spec.y0, 2);
  r = &e->runs[12];
  assert_string_equal(r->spec.label, "B");
  assert_true(r->spec.lr == 0.02);
  assert_int_equal(r->variant, 1);
  /* all keys distinct */
  for (int i = 0; i < e->n_runs; i++)
    for (int j = i + 1; j < e->n_runs; j++) assert_string_not_equal(e->runs[i].key, e->runs[j].key);
  config_free(e);
}

static void test_include_layers_and_groups_merge(void **state) {
  (void)state;
  put("base.cfg",
      "lr = 0.1; batch = 32;\n"
      "stop = { seconds = 10.0; epochs = 0.0; };\n"
      "sweep = { batch = [8, 16]; };\n"
      "scales = { quick = { threads = 3; }; paper = { threads = 64; stop = { seconds = 100.0; }; }; };\n");
  const char *p = put("exp.cfg",
                      "@include \"base.cfg\"\n"
                      "lr = 0.2;\n"
                      "stop = { steps = 500; };\n"
                      "sweep = { y0 = [5, 6]; };\n"
                      "algorithm = \"interval\";\n"
                      "scales = { paper = { stop = { epochs = 2.0; }; }; };\n");
  experiment *e = load(p, "quick", 2);
  assert_int_equal(e->n_runs, 4); /* batch sweep from base x y0 sweep from the file */
  const run_spec *s = &e->runs[0].spec;
  assert_true(s->lr == 0.2);           /* file overrides base */
  assert_true(s->stop_seconds == 10.0); /* stop merges key by key */
  assert_int_equal(s->stop_steps, 500);
  assert_int_equal(s->threads, 3);     /* base's quick scale */
  assert_string_equal(e->runs[0].swept, "batch=8 y0=5");
  config_free(e);

  e = load(p, "paper", 2);
  s = &e->runs[0].spec;
  assert_int_equal(s->threads, 64);
  assert_true(s->stop_seconds == 100.0); /* base's paper scale */
  assert_true(s->stop_epochs == 2.0);    /* the file's paper scale merges on top */
  assert_int_equal(s->stop_steps, 500);
  config_free(e);
}

static void test_include_relative_to_file_not_cwd(void **state) {
  (void)state;
  char sub[300], cwd[512];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  put("sub/b.cfg", "batch = 48;\n");
  put("sub/exp.cfg", "@include \"b.cfg\"\nlr = 0.5;\n");
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  experiment *e = load("sub/exp.cfg", NULL, 2);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(e->runs[0].spec.batch, 48);
  assert_string_equal(e->name, "exp");
  config_free(e);
}

static void test_scale_replaces_variants_and_unknown_scale(void **state) {
  (void)state;
  const char *p = put("sc.cfg",
                      "variants = ( { label = \"A\"; }, { label = \"B\"; } );\n"
                      "scales = { tiny = { variants = ( { label = \"C\"; } ); }; };\n");
  experiment *e = load(p, "tiny", 2);
  assert_int_equal(e->n_runs, 1);
  assert_string_equal(e->runs[0].spec.label, "C");
  config_free(e);
  e = load(p, "paper", 2); /* a standard scale the file does not define: no overrides */
  assert_int_equal(e->n_runs, 2);
  config_free(e);
  load_fails(p, "tiyn", "unknown scale 'tiyn' (known: quick, paper, tiny) (did you mean 'tiny'?)");
}

static void test_variant_fixes_swept_key(void **state) {
  (void)state;
  const char *p = put("vf.cfg",
                      "algorithm = \"interval\";\n"
                      "sweep = { y0 = [1, 2, 4]; };\n"
                      "variants = ( { label = \"swept\"; },\n"
                      "             { label = \"decay64\"; y_control = \"decay\"; y0 = 64; },\n"
                      "             { label = \"async\"; algorithm = \"async\"; sweep = { y0 = [64]; }; } );\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 3 + 1 + 1);
  assert_int_equal(e->runs[3].spec.y0, 64);
  assert_string_equal(e->runs[3].spec.y_control, "decay");
  assert_string_equal(e->runs[3].swept, "");
  assert_string_equal(e->runs[4].spec.dispatcher, "async");
  assert_int_equal(e->runs[4].spec.y0, 64);
  config_free(e);
}

static void test_algorithm_resolution(void **state) {
  (void)state;
  const char *p = put("alg.cfg",
                      "sweep = { algorithm = [\"sync\", \"async\", \"interval\", \"elastic\", "
                      "\"hogwild\", \"mutex\", \"rwlock\", \"leashed\"]; };\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 8);
  const char *disp[] = {"sync", "async", "interval", "async", "async", "async", "async", "async"};
  const char *store[] = {"hogwild", "hogwild", "hogwild", "hogwild",
                         "hogwild", "mutex",   "rwlock",  "leashed"};
  for (int i = 0; i < 8; i++) {
    assert_string_equal(e->runs[i].spec.dispatcher, disp[i]);
    assert_string_equal(e->runs[i].spec.store, store[i]);
    assert_int_equal(e->runs[i].spec.elastic, i == 3);
    assert_string_equal(e->runs[i].spec.label, e->runs[i].spec.algorithm); /* default label */
  }
  config_free(e);
  e = load(put("st.cfg", "algorithm = \"interval\"; store = \"leashed\"; ps = 0; "
                         "backoff = \"exponential\";\n"),
           NULL, 2);
  assert_string_equal(e->runs[0].spec.dispatcher, "interval");
  assert_string_equal(e->runs[0].spec.store, "leashed");
  assert_int_equal(e->runs[0].spec.ps_bound, 0);
  config_free(e);
}

static void test_threads_factor_and_dedupe(void **state) {
  (void)state;
  const char *p = put("thr.cfg", "sweep = { threads = [\"0.5x\", \"1x\", \"2x\", \"0.1x\"]; };\n");
  experiment *e = load(p, NULL, 4);
  assert_int_equal(e->n_runs, 4);
  assert_int_equal(e->runs[0].spec.threads, 2);
  assert_int_equal(e->runs[1].spec.threads, 4);
  assert_int_equal(e->runs[2].spec.threads, 8);
  assert_int_equal(e->runs[3].spec.threads, 1); /* rounded, at least 1 */
  assert_int_equal(e->n_cores, 4);
  config_free(e);
  /* "1x" and 2 on a 2-core machine are the same run: kept once */
  p = put("dup.cfg", "sweep = { threads = (\"1x\", 2, 1); };\n");
  e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 2);
  assert_int_equal(e->n_duplicates, 1);
  assert_int_equal(e->runs[0].spec.threads, 2);
  assert_int_equal(e->runs[1].spec.threads, 1);
  config_free(e);
}

static void test_hidden_sweep_and_autoconvert(void **state) {
  (void)state;
  const char *p = put("hid.cfg", "lr = 1; momentum = 0;\n"
                                 "sweep = { hidden = ([64], [32, 16]); };\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 2);
  assert_true(e->runs[0].spec.lr == 1.0); /* an int where a float is expected */
  assert_int_equal(e->runs[0].spec.n_hidden, 1);
  assert_int_equal(e->runs[1].spec.n_hidden, 2);
  assert_int_equal(e->runs[1].spec.hidden[1], 16);
  assert_string_equal(e->runs[1].swept, "hidden=32x16");
  assert_true(config_run_matches(e, 1, "hidden=32x16"));
  assert_true(config_run_matches(e, 1, "hidden=32,16"));
  assert_false(config_run_matches(e, 0, "hidden=32,16"));
  config_free(e);
}

static void test_filters(void **state) {
  (void)state;
  const char *p = put("flt.cfg",
                      "sweep = { threads = [1, 2]; lr = [0.005, 0.01]; };\n"
                      "variants = ( { label = \"Async\"; }, { label = \"Int\"; algorithm = \"interval\"; } );\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 8);
  char err[PSGD_ERRLEN];
  assert_int_equal(config_filter_check("3-5", err, sizeof err), 0);
  assert_int_equal(config_filter_check("1,4,6-7", err, sizeof err), 0);
  assert_int_equal(config_filter_check("label=Async", err, sizeof err), 0);
  assert_int_equal(config_filter_check("stop.seconds=5", err, sizeof err), 0);
  assert_int_equal(config_filter_check("stop_seconds=5", err, sizeof err), 0);
  assert_int_equal(config_filter_check("5-3", err, sizeof err), -1);
  assert_int_equal(config_filter_check("thraeds=2", err, sizeof err), -1);
  assert_string_equal(err, "--only 'thraeds=2': unknown field 'thraeds' (did you mean 'threads'?)");
  assert_int_equal(config_filter_check("nonsense", err, sizeof err), -1);
  int n = 0;
  for (int i = 0; i < e->n_runs; i++) n += config_run_matches(e, i, "3-5");
  assert_int_equal(n, 3);
  assert_false(config_run_matches(e, 2, "3-5"));
  assert_true(config_run_matches(e, 6, "1,4,6-7"));
  assert_false(config_run_matches(e, 5, "1,4,6-7"));
  n = 0;
  for (int i = 0; i < e->n_runs; i++) n += config_run_matches(e, i, "label=Async");
  assert_int_equal(n, 4);
  for (int i = 0; i < e->n_runs; i++) {
    assert_int_equal(config_run_matches(e, i, "threads=2"), e->runs[i].spec.threads == 2);
    assert_int_equal(config_run_matches(e, i, "lr=0.0100"), e->runs[i].spec.lr == 0.01);
    assert_int_equal(config_run_matches(e, i, "dispatcher=interval"), i >= 4);
  }
  char f[40];
  snprintf(f, sizeof f, "key=%s", e->runs[5].key);
  for (int i = 0; i < e->n_runs; i++) assert_int_equal(config_run_matches(e, i, f), i == 5);
  config_free(e);
}

/* Issue 6, must show 4 (first half): the same file gives the same keys, in
 * any working directory; a different seed gives different keys. */
static void test_stable_keys(void **state) {
  (void)state;
  const char *p = put("keys.cfg", "seed = 7; repeat = 3; sweep = { batch = [16, 32]; };\n");
  experiment *a = load(p, NULL, 2);
  char cwd[512];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir("/"), 0);
  experiment *b = load(p, NULL, 2);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(a->n_runs, b->n_runs);
  for (int i = 0; i < a->n_runs; i++) assert_string_equal(a->runs[i].key, b->runs[i].key);
  p = put("keys.cfg", "seed = 8; repeat = 3; sweep = { batch = [16, 32]; };\n");
  experiment *c = load(p, NULL, 2);
  /* seed 8 rep 0 == seed 7 rep 1 in seed but not in repetition: still distinct keys */
  for (int i = 0; i < a->n_runs; i++) assert_string_not_equal(a->runs[i].key, c->runs[i].key);
  config_free(a);
  config_free(b);
  config_free(c);
}

/* A run's time estimate and its default limit: stop.seconds under the real
 * clock; under the virtual clock stop.seconds is virtual time, so only the
 * timeout counts (an upper bound) and there is no default limit. */
static void test_estimates_by_clock(void **state) {
  (void)state;
  const char *p = put("est.cfg", "stop = { seconds = 2.0; epochs = 0.0; };\n"
                                 "variants = ({ label = \"r\"; }, { label = \"v\"; clock = \"virtual\"; },\n"
                                 "  { label = \"vt\"; clock = \"virtual\"; timeout = 90.0; });\n");
  experiment *e = load(p, NULL, 2);
  assert_int_equal(e->n_runs, 3);
  const exp_run *r = &e->runs[0], *v = &e->runs[1], *vt = &e->runs[2];
  assert_true(r->est_s == 2.0 && !r->est_bound);
  assert_true(runner_limit_s(&r->spec, 0) == 64.0);
  assert_true(v->est_s == 0.0);
  assert_true(runner_limit_s(&v->spec, 0) == 0.0);
  assert_true(vt->est_s == 90.0 && vt->est_bound);
  assert_true(runner_limit_s(&vt->spec, 0) == 90.0);
  assert_true(runner_limit_s(&v->spec, 30.0) == 30.0);
  config_free(e);
}

static void test_paths_in_messages(void **state) {
  (void)state;
  put("inc.cfg", "bacth = 3;\n");
  const char *p = put("main.cfg", "\n@include \"inc.cfg\"\n");
  char want[400];
  snprintf(want, sizeof want, "%s/inc.cfg:1: unknown key 'bacth' (did you mean 'batch'?)", dir);
  load_fails(p, NULL, want);
  p = put("combo.cfg", "variants = ( { algorithm = \"async\"; },\n"
                       "{ algorithm = \"interval\"; y_control = \"decay\"; } );\n"
                       "y_control = \"probing\";\n");
  snprintf(want, sizeof want, "%s/combo.cfg:3: y_control 'probing' needs algorithm 'interval'", dir);
  load_fails(p, NULL, want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults_single_run, setup, teardown),
      cmocka_unit_test_setup_teardown(test_product_order_and_repeat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_include_layers_and_groups_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_include_relative_to_file_not_cwd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scale_replaces_variants_and_unknown_scale, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_variant_fixes_swept_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_algorithm_resolution, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads_factor_and_dedupe, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hidden_sweep_and_autoconvert, setup, teardown),
      cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stable_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_paths_in_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_estimates_by_clock, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
