/* test_setting.c - the table of run settings (core/setting.h) against every
 * part that uses it: the run spec's JSON and run key (every field reaches
 * the key; the JSON of before the table, byte for byte), the experiment-file
 * path and the `psgd train` path (every key and flag accepted, the same
 * value from both, the same range ends accepted and refused by both),
 * EXPERIMENTS.md's key reference, and par_config_default's copies of the
 * controller defaults. Run from the repository top (make test does). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_train.h"
#include "common.h"
#include "config.h"
#include "par.h"
#include "setting.h"
#include "spec.h"
#include "vclock.h"

/* ------------------------------------------------------------ table ---- */

static void test_rows_well_formed(void **state) {
  (void)state;
  for (int i = 0; i < SETTING_COUNT; i++) {
    const setting *st = &setting_table[i];
    /* a row left out of the designated initializers is all zeros */
    assert_true(st->key || st->json || st->flag);
    assert_non_null(st->help);
    if (st->flag) {
      assert_true(!strncmp(st->flag, "--", 2));
      assert_non_null(st->arg);
      assert_int_equal(setting_by_flag(st->flag), i);
    }
    if (st->key) assert_int_equal(setting_by_key(st->key), i);
    /* a flag is "--" and its key with '-' for '_' (EXPERIMENTS.md says so);
     * the keys inside stop and eval are named as listed there */
    if (st->key && st->flag) {
      static const char *const named[][2] = {
          {"stop.seconds", "--seconds"},         {"stop.epochs", "--epochs"},
          {"stop.steps", "--steps"},             {"stop.target_acc", "--target-acc"},
          {"stop.epsilon", "--epsilon"},         {"eval.every_s", "--eval-every-s"},
          {"eval.every_steps", "--eval-every"}, {"eval.test_limit", "--eval-test-limit"},
      };
      char want[64];
      snprintf(want, sizeof want, "--%s", st->key);
      for (char *q = want; *q; q++)
        if (*q == '_') *q = '-';
      for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (!strcmp(st->key, named[k][0])) snprintf(want, sizeof want, "%s", named[k][1]);
      assert_string_equal(st->flag, want);
    }
    if (st->json) assert_int_equal(setting_by_json(st->json), i);
    if (st->fk != FK_NONE && st->fk != FK_HIDDEN) assert_true(st->size > 0);
    /* the default is a value of its own row */
    if (st->dflt && st->fk != FK_NONE) {
      run_spec a, b;
      char err[PSGD_ERRLEN], fa[256], fb[256];
      spec_default(&a);
      memset(&b, 0, sizeof b);
      b = a;
      if (setting_parse(st, st->key ? st->key : st->flag, st->dflt, 2, &b, err, sizeof err))
        fail_msg("row %d: default '%s': %s", i, st->dflt, err);
      setting_format(st, &a, fa, sizeof fa);
      setting_format(st, &b, fb, sizeof fb);
      assert_string_equal(fa, fb);
    }
  }
}

/* Every byte of run_spec is some row's field, or padding: a new field
 * without a row shows up here as uncovered bytes. */
static void test_rows_cover_the_spec(void **state) {
  (void)state;
  unsigned char cov[sizeof(run_spec)] = {0};
  for (int i = 0; i < SETTING_COUNT; i++) {
    const setting *st = &setting_table[i];
    if (st->fk == FK_NONE) continue;
    if (st->fk == FK_HIDDEN) {
      memset(cov + offsetof(run_spec, n_hidden), 1, sizeof(int));
      memset(cov + offsetof(run_spec, hidden), 1, sizeof(((run_spec *)0)->hidden));
      continue;
    }
    memset(cov + st->off, 1, st->size);
  }
  /* padding is fewer than 8 bytes before an 8-byte aligned field (or the
   * end): any other uncovered byte is a field without a row */
  size_t gap = 0;
  for (size_t i = 0; i < sizeof cov; i++) {
    gap = cov[i] ? 0 : gap + 1;
    int run_ends = i + 1 == sizeof cov || cov[i + 1];
    if (gap && run_ends && (gap >= 8 || (i + 1) % 8 != 0))
      fail_msg("run_spec bytes %zu..%zu are no setting row's field", i + 1 - gap, i);
  }
}

/* ------------------------------------------------------ JSON and key ---- */

/* recorded from spec.c before the table existed */
static const char json_default[] =
    "{\"experiment\":\"\",\"label\":\"\",\"repetition\":0,\"seed\":1,\"algorithm\":\"async\","
    "\"dispatcher\":\"async\",\"store\":\"hogwild\",\"backoff\":\"none\",\"ps\":-1,"
    "\"y_control\":\"const\",\"y0\":64,\"y_decay_k\":4096,\"probe_window\":3,\"probe_steps\":1024,"
    "\"exec_steps\":8192,\"elastic\":0,\"threads\":1,\"placement\":\"os\",\"topology\":\"\","
    "\"bind_best_effort\":0,\"keep_core_free\":0,\"dataset\":\"fashion-mnist\","
    "\"data_dir\":\"data\",\"train_limit\":0,\"test_limit\":0,\"model\":\"mlp\","
    "\"hidden\":[128,128,128],\"batch\":16,\"optimizer\":\"momentum\","
    "\"lr\":0.0050000000000000001,\"momentum\":0.5,\"stop_seconds\":0,\"stop_epochs\":1,"
    "\"stop_steps\":0,\"target_acc\":0,\"epsilon\":0,\"timeout_s\":0,\"eval_every_s\":1,"
    "\"eval_every_steps\":0,\"eval_test_limit\":0,\"record_steps\":1}";
static const char json_virtual[] =
    "{\"experiment\":\"\",\"label\":\"\",\"repetition\":0,\"seed\":1,\"algorithm\":\"async\","
    "\"dispatcher\":\"async\",\"store\":\"hogwild\",\"backoff\":\"none\",\"ps\":-1,"
    "\"y_control\":\"const\",\"y0\":64,\"y_decay_k\":4096,\"probe_window\":3,\"probe_steps\":1024,"
    "\"exec_steps\":8192,\"elastic\":0,\"threads\":1,\"placement\":\"os\",\"topology\":\"\","
    "\"bind_best_effort\":0,\"keep_core_free\":0,\"placement_nearest\":1,\"mem_interleave\":1,"
    "\"dataset\":\"fashion-mnist\",\"data_dir\":\"data\",\"train_limit\":0,\"test_limit\":0,"
    "\"model\":\"mlp\",\"hidden\":[128,128,128],\"batch\":16,\"optimizer\":\"momentum\","
    "\"lr\":0.0050000000000000001,\"momentum\":0.5,\"stop_seconds\":0,\"stop_epochs\":1,"
    "\"stop_steps\":0,\"target_acc\":0,\"epsilon\":0,\"timeout_s\":0,\"eval_every_s\":1,"
    "\"eval_every_steps\":0,\"eval_test_limit\":0,\"record_steps\":1,\"clock\":\"virtual\","
    "\"step_time\":\"constant:100\"}";

static void test_json_as_before(void **state) {
  (void)state;
  run_spec s;
  char buf[8192], key[17];
  spec_default(&s);
  assert_true(spec_to_json(&s, buf, sizeof buf) > 0);
  assert_string_equal(buf, json_default);
  spec_key(&s, key);
  assert_string_equal(key, "2103d6ebf2abee3d");
  snprintf(s.clock, sizeof s.clock, "virtual");
  snprintf(s.step_time, sizeof s.step_time, "constant:100");
  s.placement_nearest = s.mem_interleave = 1;
  s.compute_threads = 3; /* never part of the JSON */
  assert_true(spec_to_json(&s, buf, sizeof buf) > 0);
  assert_string_equal(buf, json_virtual);
  spec_key(&s, key);
  assert_string_equal(key, "bbf959b635955f04");
}

/* Another value of the row's field than the one in s. */
static void mutate(const setting *st, run_spec *s) {
  char *f = (char *)s + st->off;
  switch (st->fk) {
    case FK_INT: {
      int *p = (int *)f;
      *p = *p + 1 <= st->max ? *p + 1 : *p - 1;
      break;
    }
    case FK_LONG: {
      long *p = (long *)f;
      *p = *p + 1 <= st->max ? *p + 1 : *p - 1;
      break;
    }
    case FK_U64: *(uint64_t *)f += 1; break;
    case FK_DOUBLE: *(double *)f += 0.25; break;
    case FK_STR: {
      char list[512];
      setting_choices(st, list, sizeof list);
      if (list[0]) {
        /* another allowed name */
        char *save, *tok;
        for (tok = strtok_r(list, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
          if (strcmp(tok, f)) break;
        assert_non_null(tok);
        snprintf(f, st->size, "%s", tok);
      } else {
        snprintf(f, st->size, "%s", f[0] ? "" : "x");
      }
      break;
    }
    case FK_HIDDEN: s->hidden[0] = 64; break;
    case FK_NONE: break;
  }
}

static void test_every_field_reaches_the_key(void **state) {
  (void)state;
  int n_json = 0;
  for (int i = 0; i < SETTING_COUNT; i++) {
    const setting *st = &setting_table[i];
    if (st->fk == FK_NONE) continue;
    run_spec s;
    spec_default(&s);
    /* the rows written only under the virtual clock, from a virtual spec */
    if ((st->flags & SETTING_JSON_IF_VIRTUAL) && i != SET_CLOCK) {
      snprintf(s.clock, sizeof s.clock, "virtual");
      snprintf(s.step_time, sizeof s.step_time, "%s", VCLOCK_DEFAULT_STEP_TIME);
    }
    char k0[17], k1[17];
    spec_key(&s, k0);
    mutate(st, &s);
    spec_key(&s, k1);
    /* only compute_threads stays out of the key: it never changes results */
    if (!st->json && i != SET_COMPUTE_THREADS) fail_msg("row %d has a field but no JSON name", i);
    if (st->json) {
      n_json++;
      if (!strcmp(k0, k1)) fail_msg("changing '%s' leaves the run key as it was", st->json);
    } else if (strcmp(k0, k1)) {
      fail_msg("row %d has no JSON name but changes the run key", i);
    }
  }
  assert_true(n_json >= 44);
}

/* ------------------------------------------- file path and CLI path ---- */

typedef struct {
  int id;
  const char *value;    /* as a flag gives it */
  const char *literal;  /* as a file writes it; NULL: value as is */
  const char *ctx_file; /* other settings it needs ("store = \"mutex\";") */
  const char *ctx_flag; /* the same as flags, space-separated */
} probe;

/* One non-default value of every key and flag. */
static const probe probes[] = {
    {SET_LABEL, "L", "\"L\"", NULL, NULL},
    {SET_SEED, "7", NULL, NULL, NULL},
    {SET_ALGORITHM, "interval", "\"interval\"", NULL, NULL},
    {SET_STORE, "mutex", "\"mutex\"", NULL, NULL},
    {SET_BACKOFF, "linear", "\"linear\"", "store = \"mutex\";", "--store mutex"},
    {SET_PS, "1", NULL, "algorithm = \"leashed\";", "--algorithm leashed"},
    {SET_Y_CONTROL, "decay", "\"decay\"", "algorithm = \"interval\";", "--algorithm interval"},
    {SET_Y0, "5", NULL, NULL, NULL},
    {SET_Y_DECAY_K, "7", NULL, NULL, NULL},
    {SET_PROBE_WINDOW, "5", NULL, NULL, NULL},
    {SET_PROBE_STEPS, "2", NULL, NULL, NULL},
    {SET_EXEC_STEPS, "9", NULL, NULL, NULL},
    {SET_THREADS, "2", NULL, NULL, NULL},
    {SET_PLACEMENT, "compact", "\"compact\"", "topology = \"synthetic:pack:1 core:4 pu:1\";",
     "--topology synthetic:pack:1_core:4_pu:1"},
    {SET_TOPOLOGY, "synthetic:pack:1 core:4 pu:1", "\"synthetic:pack:1 core:4 pu:1\"", NULL, NULL},
    {SET_BIND_BEST_EFFORT, "yes", "true", NULL, NULL},
    {SET_KEEP_CORE_FREE, "yes", "true", "topology = \"synthetic:pack:1 core:4 pu:1\";",
     "--topology synthetic:pack:1_core:4_pu:1"},
    {SET_PLACEMENT_NEAREST, "yes", "true", NULL, NULL},
    {SET_MEM_INTERLEAVE, "yes", "true", NULL, NULL},
    {SET_DATASET, "synthetic", "\"synthetic\"", NULL, NULL},
    {SET_DATA_DIR, "d2", "\"d2\"", NULL, NULL},
    {SET_TRAIN_LIMIT, "100", NULL, NULL, NULL},
    {SET_TEST_LIMIT, "50", NULL, NULL, NULL},
    {SET_MODEL, "lenet5", "\"lenet5\"", NULL, NULL},
    {SET_HIDDEN, "64,32", "[64, 32]", NULL, NULL},
    {SET_BATCH, "8", NULL, NULL, NULL},
    {SET_OPTIMIZER, "sgd", "\"sgd\"", NULL, NULL},
    {SET_LR, "0.25", NULL, NULL, NULL},
    {SET_MOMENTUM, "0.25", NULL, NULL, NULL},
    {SET_STOP_SECONDS, "5", NULL, NULL, NULL},
    {SET_STOP_EPOCHS, "2", NULL, NULL, NULL},
    {SET_STOP_STEPS, "10", NULL, NULL, NULL},
    {SET_TARGET_ACC, "0.5", NULL, NULL, NULL},
    {SET_EPSILON, "0.5", NULL, NULL, NULL},
    {SET_TIMEOUT, "100", NULL, NULL, NULL},
    {SET_EVAL_EVERY_S, "0.5", NULL, NULL, NULL},
    {SET_EVAL_EVERY_STEPS, "10", NULL, NULL, NULL},
    {SET_EVAL_TEST_LIMIT, "10", NULL, NULL, NULL},
    {SET_RECORD_STEPS, "no", "false", NULL, NULL},
    {SET_CLOCK, "virtual", "\"virtual\"", NULL, NULL},
    {SET_STEP_TIME, "constant:100", "\"constant:100\"", "clock = \"virtual\";", "--clock virtual"},
    {SET_COMPUTE_THREADS, "2", NULL, NULL, NULL},
    {SET_REPEAT, "2", NULL, NULL, NULL},
    {SET_ENGINE, "yes", NULL, NULL, NULL},
};
#define N_PROBES ((int)(sizeof probes / sizeof probes[0]))

static char g_dir[64];

/* Loads a file of `ctx` plus key = literal (a "group.key" inside its group)
 * and gives the first run's spec; the number of runs, or -1 with err. */
static int load_one(const char *ctx, const char *key, const char *literal, run_spec *out,
                    char *err, size_t errlen) {
  char path[128], body[1024];
  snprintf(path, sizeof path, "%s/t.cfg", g_dir);
  const char *dot = strchr(key, '.');
  if (dot)
    snprintf(body, sizeof body, "%s\n%.*s = { %s = %s; };\n", ctx ? ctx : "", (int)(dot - key),
             key, dot + 1, literal);
  else
    snprintf(body, sizeof body, "%s\n%s = %s;\n", ctx ? ctx : "", key, literal);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(body, f);
  assert_int_equal(fclose(f), 0);
  config_opts o = {"quick", 2, 0};
  experiment *e = config_load(path, &o, err, errlen);
  if (!e) return -1;
  int n = e->n_runs;
  *out = e->runs[0].spec;
  config_free(e);
  return n;
}

/* Parses ctx flags (spaces inside a value written as '_') plus flag value. */
static int parse_flags(const char *ctx, const char *flag, const char *value, run_spec *out,
                       int *engine, char *err, size_t errlen) {
  char buf[512], vals[8][128];
  char *argv[16];
  int argc = 0;
  argv[argc++] = "train";
  snprintf(buf, sizeof buf, "%s", ctx ? ctx : "");
  char *save;
  int nv = 0;
  for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
    snprintf(vals[nv], sizeof vals[nv], "%s", t);
    for (char *q = vals[nv]; *q; q++)
      if (*q == '_') *q = ' ';
    argv[argc++] = vals[nv++];
  }
  argv[argc++] = (char *)flag;
  argv[argc++] = (char *)value;
  argv[argc] = NULL;
  if (engine) *engine = cli_train_wants_engine(argc, argv);
  return cli_train_parse(argc, argv, out, err, errlen);
}

static void test_every_key_and_flag_accepted(void **state) {
  (void)state;
  int seen[SETTING_COUNT] = {0};
  for (int p = 0; p < N_PROBES; p++) {
    const probe *pr = &probes[p];
    const setting *st = &setting_table[pr->id];
    seen[pr->id] = 1;
    char err[PSGD_ERRLEN], want[256], got_file[256] = "", got_cli[256] = "";
    run_spec d, sf, sc;
    spec_default(&d);
    setting_format(st, &d, want, sizeof want);
    if (st->key) {
      int n = load_one(pr->ctx_file, st->key, pr->literal ? pr->literal : pr->value, &sf, err,
                       sizeof err);
      if (n < 0) fail_msg("file key %s = %s refused: %s", st->key, pr->value, err);
      if (pr->id == SET_REPEAT) assert_int_equal(n, 2);
      setting_format(st, &sf, got_file, sizeof got_file);
      if (st->fk != FK_NONE && !strcmp(got_file, want))
        fail_msg("file key %s = %s left the default %s", st->key, pr->value, want);
    }
    if (st->flag) {
      int engine = 0;
      if (parse_flags(pr->ctx_flag, st->flag, pr->value, &sc, &engine, err, sizeof err))
        fail_msg("flag %s %s refused: %s", st->flag, pr->value, err);
      assert_int_equal(engine, !!(st->flags & SETTING_ENGINE));
      setting_format(st, &sc, got_cli, sizeof got_cli);
      if (st->fk != FK_NONE && !strcmp(got_cli, want))
        fail_msg("flag %s %s left the default %s", st->flag, pr->value, want);
    }
    if (st->key && st->flag && strcmp(got_file, got_cli))
      fail_msg("%s / %s %s: file gives '%s', CLI '%s'", st->key, st->flag, pr->value, got_file,
               got_cli);
  }
  for (int i = 0; i < SETTING_COUNT; i++)
    if ((setting_table[i].key || setting_table[i].flag) && !seen[i])
      fail_msg("row %d (%s) has no probe", i,
               setting_table[i].key ? setting_table[i].key : setting_table[i].flag);
}

/* A number as a file writes it: 64-bit integers with libconfig's L suffix. */
static void literal_of(const setting *st, double v, char *buf, size_t cap) {
  if (st->type == SETTING_FLOAT) snprintf(buf, cap, "%.17g", v);
  else if (v > 2147483647.0 || v < -2147483648.0) snprintf(buf, cap, "%.0fL", v);
  else snprintf(buf, cap, "%.0f", v);
}

static void text_of(const setting *st, double v, char *buf, size_t cap) {
  if (st->type == SETTING_FLOAT) snprintf(buf, cap, "%.17g", v);
  else snprintf(buf, cap, "%.0f", v);
}

/* Both paths accept `v` (want 1) or both refuse it (want 0). */
static void both(const probe *pr, double v, int want) {
  const setting *st = &setting_table[pr->id];
  char lit[64], txt[64], err[PSGD_ERRLEN];
  run_spec s;
  literal_of(st, v, lit, sizeof lit);
  text_of(st, v, txt, sizeof txt);
  /* stop.epochs = 0 is in range, but then another stop condition is needed */
  const char *ctx_file = pr->id == SET_STOP_EPOCHS ? "sweep = { stop = { steps = [10]; }; };"
                                                   : pr->ctx_file;
  const char *ctx_flag = pr->id == SET_STOP_EPOCHS ? "--steps 10" : pr->ctx_flag;
  int file_ok = load_one(ctx_file, st->key, lit, &s, err, sizeof err) >= 0;
  if (file_ok != want) fail_msg("file: %s = %s %s (%s)", st->key, lit, want ? "refused" : "accepted",
                                file_ok ? "" : err);
  int cli_ok = parse_flags(ctx_flag, st->flag, txt, &s, NULL, err, sizeof err) == 0;
  if (cli_ok != want) fail_msg("CLI: %s %s %s (%s)", st->flag, txt, want ? "refused" : "accepted",
                               cli_ok ? "" : err);
}

static void test_same_range_in_file_and_cli(void **state) {
  (void)state;
  int n = 0;
  for (int p = 0; p < N_PROBES; p++) {
    const probe *pr = &probes[p];
    const setting *st = &setting_table[pr->id];
    if (!st->key || !st->flag) continue;
    if (st->type != SETTING_INT && st->type != SETTING_FLOAT && st->type != SETTING_THREADS)
      continue;
    double step = st->type == SETTING_FLOAT ? (st->max - st->min) * 1e-3 : 1;
    n++;
    if (st->bounds & SETTING_MIN_EXCL) {
      both(pr, st->min, 0);
      both(pr, st->min + step, 1);
    } else {
      both(pr, st->min, 1);
      both(pr, st->min - step, 0);
    }
    /* ranges that end far out (up to 1e15) are checked at the low end only:
     * a value there is accepted, but would make a test run forever */
    if (st->max > 1e7 && st->type != SETTING_FLOAT) continue;
    if (st->bounds & SETTING_MAX_EXCL) {
      both(pr, st->max, 0);
      both(pr, st->max - step, 1);
    } else {
      both(pr, st->max, 1);
      both(pr, st->max + (st->type == SETTING_FLOAT ? st->max * 1e-3 : 1), 0);
    }
  }
  assert_true(n >= 20);
  /* the disagreements this table removed */
  assert_int_equal(setting_table[SET_PROBE_STEPS].min, 2);
  assert_int_equal(setting_table[SET_PS].min, -1);
  assert_true(setting_table[SET_PS].max >= 1000000);
}

/* ------------------------------------------------- par_config_default ---- */

static void test_par_defaults_agree(void **state) {
  (void)state;
  run_spec s;
  par_config c;
  spec_default(&s);
  par_config_default(&c);
  assert_int_equal(c.y0, s.y0);
  assert_int_equal(c.decay_k, s.y_decay_k);
  assert_int_equal(c.window, s.probe_window);
  assert_int_equal(c.probe_steps, s.probe_steps);
  assert_int_equal(c.exec_steps, s.exec_steps);
  assert_int_equal(c.ps_bound, s.ps_bound);
  assert_int_equal(c.seed, s.seed);
  assert_int_equal(c.n_workers, s.threads);
}

/* ---------------------------------------------- EXPERIMENTS.md keys ---- */

/* "`a`, `b`" -> the names in backticks, '\n'-separated, into out. */
static void names_in(const char *cell, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  for (const char *p = strchr(cell, '`'); p; p = strchr(p, '`')) {
    const char *e = strchr(p + 1, '`');
    if (!e) break;
    len += (size_t)snprintf(out + len, cap - len, "%.*s\n", (int)(e - p - 1), p + 1);
    p = e + 1;
    while (*p == ' ') p++;
    if (*p != ',') break;
  }
}

/* The default cell normalized: no backticks, quotes or spaces; true/false
 * as 1/0; an array as "a,b". */
static void norm(const char *cell, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = cell; *p && n + 1 < cap; p++)
    if (!strchr("`\"[] ", *p)) out[n++] = *p;
  out[n] = '\0';
  if (!strcmp(out, "true")) snprintf(out, cap, "1");
  if (!strcmp(out, "false")) snprintf(out, cap, "0");
}

static void test_experiments_md_keys(void **state) {
  (void)state;
  FILE *f = fopen("EXPERIMENTS.md", "r");
  assert_non_null(f);
  char line[4096];
  int in = 0, documented[SETTING_COUNT] = {0};
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "### Keys", 8)) in = 1;
    else if (in && !strncmp(line, "###", 3)) break;
    if (!in || strncmp(line, "| `", 3)) continue;
    /* | key(s) | type, range | default | meaning | */
    char *cells[5] = {0};
    int nc = 0;
    for (char *p = line; *p && nc < 5; p++)
      if (*p == '|') {
        *p = '\0';
        cells[nc++] = p + 1;
      }
    assert_true(nc >= 5);
    char names[256];
    names_in(cells[0], names, sizeof names);
    char *save;
    for (char *nm = strtok_r(names, "\n", &save); nm; nm = strtok_r(NULL, "\n", &save)) {
      if (!strcmp(nm, "description")) continue;
      int id = setting_by_key(nm);
      if (id < 0) fail_msg("EXPERIMENTS.md documents key '%s' the table does not have", nm);
      const setting *st = &setting_table[id];
      documented[id] = 1;
      assert_int_equal(strstr(cells[3], "*sweep*") != NULL, !!(st->flags & SETTING_SWEEP));
      char doc[256], tab[256];
      norm(cells[2], doc, sizeof doc);
      /* defaults the resolution fills in */
      if (id == SET_LABEL) assert_string_equal(doc, "thealgorithm");
      else if (id == SET_STORE) assert_string_equal(doc, "byalgorithm");
      else if (id == SET_STEP_TIME) assert_string_equal(doc, VCLOCK_DEFAULT_STEP_TIME);
      else {
        norm(st->dflt ? st->dflt : "", tab, sizeof tab);
        char *e1, *e2;
        double a = strtod(doc, &e1), b = strtod(tab, &e2);
        int same = !strcmp(doc, tab) || (e1 != doc && !*e1 && e2 != tab && !*e2 && a == b);
        if (!same) fail_msg("EXPERIMENTS.md: %s default '%s', the table '%s'", nm, doc, tab);
      }
      /* the lower end of a number's range is stated */
      if (st->type == SETTING_INT || st->type == SETTING_FLOAT || st->type == SETTING_THREADS) {
        char lo[32];
        snprintf(lo, sizeof lo, "%.15g", st->min);
        if (!strstr(cells[1], lo)) fail_msg("EXPERIMENTS.md: %s's range '%s' lacks %s", nm, cells[1], lo);
        snprintf(lo, sizeof lo, "%.15g", st->max);
        if (st->max < 1e5 && !strstr(cells[1], lo))
          fail_msg("EXPERIMENTS.md: %s's range '%s' lacks %s", nm, cells[1], lo);
      }
    }
  }
  fclose(f);
  for (int i = 0; i < SETTING_COUNT; i++)
    if (setting_table[i].key && !documented[i])
      fail_msg("EXPERIMENTS.md's key reference lacks '%s'", setting_table[i].key);
}

static int setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/psgd_test_setting.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/t.cfg", g_dir);
  unlink(path);
  rmdir(g_dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_well_formed),
      cmocka_unit_test(test_rows_cover_the_spec),
      cmocka_unit_test(test_json_as_before),
      cmocka_unit_test(test_every_field_reaches_the_key),
      cmocka_unit_test(test_every_key_and_flag_accepted),
      cmocka_unit_test(test_same_range_in_file_and_cli),
      cmocka_unit_test(test_par_defaults_agree),
      cmocka_unit_test(test_experiments_md_keys),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
