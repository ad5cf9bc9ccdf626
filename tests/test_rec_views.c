/* test_rec_views.c - every view of plots/views.sql returns what a direct
 * computation in C over the same records returns. Two finished runs with
 * random steps and evals (one NaN accuracy among them), one run still
 * 'running' and one crashed: those two must not appear in any view but
 * v_runs. Two tiny runs with distinct taus (9 and 11 accepted steps) make an
 * off-by-one rank in any quartile visible. Thresholds come from the runs (target_acc, epsilon) and from the
 * acc_thresholds table. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"
#include "test_rec_util.h"

#define NW 4
#define MAXTAU 32
#define NE 24

typedef struct {
  int64_t id;
  size_t n;
  step_rec *s;
  eval_rec e[NE];
  double target, epsilon, initial_loss, wall_s, epochs;
  uint64_t steps_accepted;
} run_data;

static void make_run(rec *r, run_data *d, const char *label, size_t n, int maxtau, double pacc,
                     double target, double epsilon, uint64_t seed, int finish) {
  char err[512] = "", key[17];
  psgd_rng g;
  psgd_rng_seed(&g, seed);
  run_spec sp;
  test_spec(&sp, label, 0, key);
  sp.target_acc = target;
  sp.epsilon = epsilon;
  spec_key(&sp, key);
  assert_int_equal(rec_run_begin(r, &sp, key, NULL, NULL, &d->id, err, sizeof err), 0);
  d->n = n;
  d->target = target;
  d->epsilon = epsilon;
  d->s = calloc(n, sizeof *d->s);
  uint64_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    step_rec *s = &d->s[i];
    s->step = i;
    s->finish = i;
    s->worker = (int32_t)psgd_rng_below(&g, NW);
    s->staleness = (int64_t)psgd_rng_below(&g, (uint64_t)maxtau + 1);
    /* a tiny run gets distinct taus (a permutation of 1..n): an off-by-one
     * rank in a quartile changes the value */
    if (n <= 16) s->staleness = (int64_t)((i * 5) % n + 1);
    s->accepted = psgd_rng_uniform(&g) < pacc;
    s->t_start_ns = i * 1000;
    s->t_end_ns = i * 1000 + 800;
    s->loss = (float)psgd_rng_uniform(&g);
    acc += s->accepted;
  }
  assert_int_equal(rec_steps(r, d->id, d->s, n, err, sizeof err), 0);
  double a = 0.2, loss = 2.3;
  for (int k = 0; k < NE; k++) {
    eval_rec *e = &d->e[k];
    a += 0.06 * (psgd_rng_uniform(&g) - 0.3);
    loss *= 0.6 + 0.5 * psgd_rng_uniform(&g);
    e->t_ns = (uint64_t)k * 100000000ull + psgd_rng_below(&g, 1000);
    e->steps_accepted = acc * (uint64_t)(k + 1) / NE;
    e->epoch = 0.01 * (k + 1);
    e->train_loss = loss;
    e->test_loss = loss * 1.1;
    e->test_acc = (k == 5) ? NAN : a; /* one NaN: stored as NULL */
  }
  /* stored out of time order: the views must order by t_ns themselves */
  eval_rec shuffled[NE];
  for (int k = 0; k < NE; k++) shuffled[k] = d->e[(k * 7) % NE];
  assert_int_equal(rec_evals(r, d->id, shuffled, NE, err, sizeof err), 0);
  d->initial_loss = 2.3;
  d->wall_s = 1.0 + psgd_rng_uniform(&g);
  d->epochs = 0.5 + psgd_rng_uniform(&g);
  d->steps_accepted = acc;
  if (finish) {
    run_result res;
    memset(&res, 0, sizeof res);
    res.status = RUN_OK;
    res.wall_s = d->wall_s;
    res.epochs = d->epochs;
    res.steps_accepted = acc;
    res.steps_started = n;
    res.initial_loss = d->initial_loss;
    assert_int_equal(rec_run_end(r, d->id, &res, err, sizeof err), 0);
  }
}

/* Reads one row of sql into v[0..n) (NaN for NULL); returns the row count. */
static int q_row(const char *db, const char *sql, double *v, int n) {
  sqlite3 *h;
  int rows = 0;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(h));
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (rows++ == 0)
      for (int c = 0; c < n; c++)
        v[c] = sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}

static void near(double got, double want, const char *what) {
  if (isnan(want) && isnan(got)) return;
  if (isnan(want) || isnan(got) || fabs(got - want) > 1e-9 * (1 + fabs(want)))
    fail_msg("%s: view gives %.17g, C gives %.17g", what, got, want);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void check_steps_views(const char *db, const run_data *d) {
  char sql[512];
  double v[8];
  size_t acc = 0;
  for (size_t i = 0; i < d->n; i++) acc += d->s[i].accepted;
  /* v_acceptance */
  snprintf(sql, sizeof sql, "SELECT steps, accepted, rate FROM v_acceptance WHERE run_id = %lld",
           (long long)d->id);
  assert_int_equal(q_row(db, sql, v, 3), 1);
  near(v[0], (double)d->n, "acceptance.steps");
  near(v[1], (double)acc, "acceptance.accepted");
  near(v[2], (double)acc / (double)d->n, "acceptance.rate");

  /* v_staleness_hist: one row per tau present among the run's steps */
  long h_acc[MAXTAU + 1] = {0}, h_all[MAXTAU + 1] = {0};
  for (size_t i = 0; i < d->n; i++) {
    h_all[d->s[i].staleness]++;
    h_acc[d->s[i].staleness] += d->s[i].accepted;
  }
  int present = 0;
  for (int tau = 0; tau <= MAXTAU; tau++) {
    if (!h_all[tau]) continue;
    present++;
    snprintf(sql, sizeof sql,
             "SELECT accepted, steps, frac FROM v_staleness_hist WHERE run_id = %lld AND "
             "staleness = %d", (long long)d->id, tau);
    assert_int_equal(q_row(db, sql, v, 3), 1);
    near(v[0], (double)h_acc[tau], "hist.accepted");
    near(v[1], (double)h_all[tau], "hist.steps");
    near(v[2], (double)h_acc[tau] / (double)acc, "hist.frac");
  }
  snprintf(sql, sizeof sql, "SELECT count(*) FROM v_staleness_hist WHERE run_id = %lld",
           (long long)d->id);
  assert_int_equal(q_int(db, sql), present);

  /* v_staleness_summary: nearest-rank quartiles of accepted steps' tau */
  int64_t *t = malloc(sizeof *t * (acc + 1));
  size_t k = 0;
  double sum = 0;
  for (size_t i = 0; i < d->n; i++)
    if (d->s[i].accepted) {
      t[k++] = d->s[i].staleness;
      sum += (double)d->s[i].staleness;
    }
  qsort(t, k, sizeof *t, cmp_i64);
  snprintf(sql, sizeof sql,
           "SELECT n_accepted, tau_mean, tau_min, tau_q1, tau_median, tau_q3, tau_max "
           "FROM v_staleness_summary WHERE run_id = %lld", (long long)d->id);
  assert_int_equal(q_row(db, sql, v, 7), 1);
  near(v[0], (double)k, "summary.n");
  near(v[1], sum / (double)k, "summary.mean");
  near(v[2], (double)t[0], "summary.min");
  near(v[3], (double)t[(k + 3) / 4 - 1], "summary.q1");      /* rank ceil(k/4) */
  near(v[4], (double)t[(k + 1) / 2 - 1], "summary.median");  /* rank ceil(k/2) */
  near(v[5], (double)t[(3 * k + 3) / 4 - 1], "summary.q3");  /* rank ceil(3k/4) */
  near(v[6], (double)t[k - 1], "summary.max");
  free(t);

  /* v_staleness_worker */
  for (int w = 0; w < NW; w++) {
    double wa = 0, ws = 0, wt = 0;
    for (size_t i = 0; i < d->n; i++) {
      if (d->s[i].worker != w) continue;
      ws++;
      if (d->s[i].accepted) {
        wa++;
        wt += (double)d->s[i].staleness;
      }
    }
    snprintf(sql, sizeof sql,
             "SELECT accepted, steps, tau_mean FROM v_staleness_worker WHERE run_id = %lld AND "
             "worker = %d", (long long)d->id, w);
    assert_int_equal(q_row(db, sql, v, 3), 1);
    near(v[0], wa, "worker.accepted");
    near(v[1], ws, "worker.steps");
    near(v[2], wa > 0 ? wt / wa : NAN, "worker.tau_mean");
  }
}

/* First eval (in time) satisfying pred, or -1. */
static int first_eval(const run_data *d, int (*pred)(const eval_rec *, double), double x) {
  for (int k = 0; k < NE; k++)
    if (pred(&d->e[k], x)) return k;
  return -1;
}
static int acc_ge(const eval_rec *e, double x) { return !isnan(e->test_acc) && e->test_acc >= x; }
static int loss_le(const eval_rec *e, double x) { return e->train_loss <= x; }

static void check_eval_views(const char *db, const run_data *d, const double *acc_th, int n_acc,
                             const double *loss_fr, int n_loss) {
  char sql[512];
  double v[8];
  /* v_acc_curve: running best, ignoring NaN (NULL) */
  double best = NAN;
  for (int k = 0; k < NE; k++) {
    const eval_rec *e = &d->e[k];
    if (!isnan(e->test_acc) && (isnan(best) || e->test_acc > best)) best = e->test_acc;
    snprintf(sql, sizeof sql,
             "SELECT t_s, epoch, steps_accepted, test_acc, train_loss, best_acc FROM v_acc_curve"
             " WHERE run_id = %lld AND t_s = %.17g", (long long)d->id, (double)e->t_ns / 1e9);
    assert_int_equal(q_row(db, sql, v, 6), 1);
    near(v[1], e->epoch, "curve.epoch");
    near(v[2], (double)e->steps_accepted, "curve.steps_accepted");
    near(v[3], e->test_acc, "curve.test_acc");
    near(v[4], e->train_loss, "curve.train_loss");
    near(v[5], best, "curve.best_acc");
    snprintf(sql, sizeof sql,
             "SELECT frac FROM v_loss_curve WHERE run_id = %lld AND t_s = %.17g",
             (long long)d->id, (double)e->t_ns / 1e9);
    assert_int_equal(q_row(db, sql, v, 1), 1);
    near(v[0], e->train_loss / d->initial_loss, "loss_curve.frac");
  }
  /* v_best_acc */
  int kb = first_eval(d, acc_ge, best);
  snprintf(sql, sizeof sql,
           "SELECT best_acc, t_best_s, final_acc, n_evals FROM v_best_acc WHERE run_id = %lld",
           (long long)d->id);
  assert_int_equal(q_row(db, sql, v, 4), 1);
  near(v[0], best, "best.best_acc");
  near(v[1], (double)d->e[kb].t_ns / 1e9, "best.t_best_s");
  near(v[2], d->e[NE - 1].test_acc, "best.final_acc");
  near(v[3], NE, "best.n_evals");

  /* v_time_to_acc: exactly the given thresholds */
  for (int i = 0; i < n_acc; i++) {
    int kk = first_eval(d, acc_ge, acc_th[i]);
    snprintf(sql, sizeof sql,
             "SELECT t_s, epoch, steps_accepted FROM v_time_to_acc WHERE run_id = %lld AND "
             "threshold = %.17g", (long long)d->id, acc_th[i]);
    assert_int_equal(q_row(db, sql, v, 3), 1);
    near(v[0], kk < 0 ? NAN : (double)d->e[kk].t_ns / 1e9, "time_to_acc.t_s");
    near(v[1], kk < 0 ? NAN : d->e[kk].epoch, "time_to_acc.epoch");
    near(v[2], kk < 0 ? NAN : (double)d->e[kk].steps_accepted, "time_to_acc.steps");
  }
  snprintf(sql, sizeof sql, "SELECT count(*) FROM v_time_to_acc WHERE run_id = %lld",
           (long long)d->id);
  assert_int_equal(q_int(db, sql), n_acc);
  /* v_time_to_loss */
  for (int i = 0; i < n_loss; i++) {
    int kk = first_eval(d, loss_le, loss_fr[i] * d->initial_loss);
    snprintf(sql, sizeof sql,
             "SELECT t_s, epoch FROM v_time_to_loss WHERE run_id = %lld AND frac = %.17g",
             (long long)d->id, loss_fr[i]);
    assert_int_equal(q_row(db, sql, v, 2), 1);
    near(v[0], kk < 0 ? NAN : (double)d->e[kk].t_ns / 1e9, "time_to_loss.t_s");
    near(v[1], kk < 0 ? NAN : d->e[kk].epoch, "time_to_loss.epoch");
  }
  snprintf(sql, sizeof sql, "SELECT count(*) FROM v_time_to_loss WHERE run_id = %lld",
           (long long)d->id);
  assert_int_equal(q_int(db, sql), n_loss);
  /* v_epoch_time */
  snprintf(sql, sizeof sql,
           "SELECT epochs, wall_s, steps_accepted, epoch_s, steps_per_s FROM v_epoch_time "
           "WHERE run_id = %lld", (long long)d->id);
  assert_int_equal(q_row(db, sql, v, 5), 1);
  near(v[0], d->epochs, "epoch_time.epochs");
  near(v[1], d->wall_s, "epoch_time.wall_s");
  near(v[2], (double)d->steps_accepted, "epoch_time.steps_accepted");
  near(v[3], d->wall_s / d->epochs, "epoch_time.epoch_s");
  near(v[4], (double)d->steps_accepted / d->wall_s, "epoch_time.steps_per_s");
}

static void test_views_match_c(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_data a, b, c, d, e, f;
  make_run(r, &a, "A", 20000, 24, 0.55, 0.3, 0, 11, 1);
  make_run(r, &e, "E", 9, 9, 1.0, 0, 0, 15, 1);
  make_run(r, &f, "F", 11, 11, 1.0, 0, 0, 16, 1);
  make_run(r, &b, "B", 7001, 5, 0.9, 0, 0.05, 12, 1);
  make_run(r, &c, "C running", 3000, 8, 0.5, 0.3, 0.1, 13, 0);
  make_run(r, &d, "D crashed", 3000, 8, 0.5, 0.3, 0.1, 14, 0);
  run_spec sp;
  test_spec(&sp, "D crashed", 0, key);
  sp.target_acc = 0.3;
  sp.epsilon = 0.1;
  spec_key(&sp, key);
  assert_int_equal(rec_run_mark(r, key, RUN_CRASHED, "test", err, sizeof err), 0);
  rec_close(r);
  assert_int_equal(q_exec(t.db, "INSERT INTO acc_thresholds VALUES (0.25), (0.3), (0.99)"),
                   SQLITE_OK);

  check_steps_views(t.db, &a);
  check_steps_views(t.db, &b);
  check_steps_views(t.db, &e);
  check_steps_views(t.db, &f);
  const double acc_a[] = {0.25, 0.3, 0.99}; /* A's target 0.3 is also in the table */
  const double acc_b[] = {0.25, 0.3, 0.99};
  const double loss_a[] = {0.02, 0.05, 0.10};
  const double loss_b[] = {0.02, 0.05, 0.10}; /* B's epsilon 0.05 is one of them */
  check_eval_views(t.db, &a, acc_a, 3, loss_a, 3);
  check_eval_views(t.db, &b, acc_b, 3, loss_b, 3);
  check_eval_views(t.db, &e, acc_b, 3, loss_b, 3);

  /* only A, B, E and F are in the views; v_runs lists all six */
  const char *views[] = {"v_done",         "v_acceptance",  "v_staleness_hist",
                         "v_staleness_summary", "v_staleness_worker", "v_acc_curve",
                         "v_loss_curve",   "v_time_to_acc", "v_time_to_loss",
                         "v_epoch_time",   "v_best_acc"};
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM %s WHERE run_id NOT IN (%lld, %lld, %lld, %lld)", views[i],
             (long long)a.id, (long long)b.id, (long long)e.id, (long long)f.id);
    if (q_int(t.db, sql) != 0) fail_msg("%s shows a run that has no result", views[i]);
  }
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM v_runs"), 6);
  /* runs.sync holds the spec's dispatcher; v_runs calls it dispatcher */
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM v_runs v JOIN runs r USING (run_id) WHERE "
                               "v.dispatcher = r.sync AND r.sync = json_extract(r.spec, "
                               "'$.dispatcher') AND r.sync IN ('async', 'interval', 'sync')"),
                   6);
  /* the running run's data is there, just not in the views */
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)c.id);
  assert_int_equal(q_int(t.db, sql), 3000);
  /* a threshold given by a query (Table 1's common accuracy) */
  snprintf(sql, sizeof sql,
           "SELECT min(t_s) * 1e9 FROM v_acc_curve WHERE run_id = %lld AND test_acc >= 0.25",
           (long long)a.id);
  int k = first_eval(&a, acc_ge, 0.25);
  if (k >= 0) assert_int_equal(q_int(t.db, sql), (int64_t)a.e[k].t_ns);
  free(a.s);
  free(b.s);
  free(c.s);
  free(d.s);
  free(e.s);
  free(f.s);
  tmp_remove(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_views_match_c),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
