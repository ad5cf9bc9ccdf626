/* test_engine.c - the parallel engine end to end into a temporary database:
 * interval invariants (exactly y accepted per completed interval, no step
 * accepted that read theta before its interval opened, tau <= y - 1),
 * async accepts all, sync has tau 0, y-decay lowers y, m = 1 under every
 * dispatcher equals the sequential oracle (seq_oracle.h) bit for bit, and 256 threads on
 * this small machine finish under every dispatcher and store. These check the
 * invariants on the rows the recorder stored, i.e. on what figures read. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "disp.h"
#include "engine.h"
#include "ps.h"
#include "rec.h"
#include "spec.h"
#include "seq_oracle.h"

static char db_path[256];

/* Sanitizers make every thread many times slower (TSan with 64 threads x 9
 * configurations exceeded 400 s here): 16 threads and fewer steps there; the
 * full 256 runs in the plain build, which `make test` and CI use, and
 * test_engine_run.c covers 64 threads under the sanitizers. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define MANY_THREADS 16
#define MANY_STEPS 40
#else
#define MANY_THREADS 256
#define MANY_STEPS 400
#endif

static void tiny_spec(run_spec *s, const char *dispatcher, const char *store, int threads) {
  spec_default(s);
  snprintf(s->experiment, sizeof s->experiment, "test_engine");
  snprintf(s->dataset, sizeof s->dataset, "synthetic");
  snprintf(s->dispatcher, sizeof s->dispatcher, "%s", dispatcher);
  snprintf(s->algorithm, sizeof s->algorithm, "%s", dispatcher);
  snprintf(s->store, sizeof s->store, "%s", store);
  s->n_hidden = 1;
  s->hidden[0] = 16;
  s->threads = threads;
  s->stop_epochs = 0;
  s->stop_steps = 600;
  s->eval_every_s = 0;
  s->record_steps = 1;
}

/* Runs the spec into db_path; returns the run id. */
static int64_t run_into_db(run_spec *s, run_result *res) {
  char err[512] = "", key[17];
  static int rep = 0;
  s->repetition = rep++;
  spec_key(s, key);
  rec *r = rec_open(db_path, err, sizeof err);
  assert_non_null(r);
  int64_t id = 0;
  assert_int_equal(rec_run_begin(r, s, key, NULL, NULL, &id, err, sizeof err), 0);
  engine_rec_sink rs;
  engine_sink sink = engine_sink_rec(&rs, r, id);
  engine_io io = {&sink, NULL, NULL, NULL};
  int rc = engine_run(s, &io, res, err, sizeof err);
  if (rc != 0) fail_msg("engine_run: %s", err);
  assert_int_equal(rec_run_end(r, id, res, err, sizeof err), 0);
  rec_close(r);
  return id;
}

static long long q1(const char *sql, int64_t id) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(db));
  sqlite3_bind_int64(st, 1, id);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void test_interval_invariants(void **state) {
  (void)state;
  const int threads[] = {2, 8, 64};
  for (int si = 0; si < PS_COUNT; si++)
    for (int ti = 0; ti < 3; ti++) {
      run_spec s;
      run_result res;
      tiny_spec(&s, "interval", ps_registry[si]->name, threads[ti]);
      s.y0 = 5;
      int64_t id = run_into_db(&s, &res);
      /* rows = steps started; accepted rows = steps accepted */
      assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=?", id), (long long)res.steps_started);
      assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted", id),
                       (long long)res.steps_accepted);
      /* tau <= y - 1 for every accepted step */
      assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted AND staleness > y-1", id), 0);
      /* every interval but the last (possibly cut by the stop) accepted exactly y */
      assert_int_equal(q1("SELECT count(*) FROM (SELECT interval, count(*) c FROM steps WHERE run_id=?1 "
                          "AND accepted GROUP BY interval HAVING interval < (SELECT max(interval) FROM "
                          "steps WHERE run_id=?1 AND accepted) AND c != 5)", id), 0);
      /* no accepted step read theta before its interval opened: its read saw
       * all updates of the earlier intervals (y constant = 5) */
      assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted AND version_read < interval*5", id), 0);
      assert_true(res.steps_accepted >= 600);
    }
}

static void test_async_accepts_all_sync_tau_zero(void **state) {
  (void)state;
  run_spec s;
  run_result res;
  tiny_spec(&s, "async", "hogwild", 4);
  int64_t id = run_into_db(&s, &res);
  assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND NOT accepted", id), 0);
  assert_int_equal(res.steps_started, res.steps_accepted);
  tiny_spec(&s, "sync", "hogwild", 4);
  id = run_into_db(&s, &res);
  assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND staleness != 0", id), 0);
  assert_true(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted", id) >= 600);
}

static void test_interval_limits(void **state) {
  (void)state;
  run_spec s;
  run_result res;
  /* y >= total steps: behaves as async (nothing rejected) */
  tiny_spec(&s, "interval", "hogwild", 4);
  s.y0 = 100000;
  int64_t id = run_into_db(&s, &res);
  assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND NOT accepted", id), 0);
  /* y = 1: sequential in effect, tau = 0 for every accepted step */
  tiny_spec(&s, "interval", "hogwild", 4);
  s.y0 = 1;
  id = run_into_db(&s, &res);
  assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted AND staleness != 0", id), 0);
  assert_true(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted", id) >= 600);
}

static void test_decay_lowers_y(void **state) {
  (void)state;
  run_spec s;
  run_result res;
  tiny_spec(&s, "interval", "hogwild", 4);
  snprintf(s.y_control, sizeof s.y_control, "decay");
  s.y0 = 6;
  s.y_decay_k = 100;
  int64_t id = run_into_db(&s, &res);
  /* 600 accepted steps, K = 100: y 6 -> 5 -> ... floor 1 after 5 events */
  assert_int_equal(q1("SELECT count(*) FROM events WHERE run_id=? AND kind='y'", id), 5);
  assert_int_equal(q1("SELECT min(value) FROM events WHERE run_id=? AND kind='y'", id), 1);
  assert_int_equal(q1("SELECT max(y) FROM steps WHERE run_id=?", id), 6);
  assert_int_equal(q1("SELECT min(y) FROM steps WHERE run_id=? AND accepted AND step > (SELECT max(step) FROM steps WHERE run_id=?1)-20", id), 1);
  assert_int_equal(q1("SELECT count(*) FROM steps WHERE run_id=? AND accepted AND staleness > y-1", id), 0);
}

static void test_one_thread_equals_sequential(void **state) {
  (void)state;
  run_spec s;
  run_result par;
  seq_oracle seq;
  char err[512];
  tiny_spec(&s, "async", "hogwild", 1);
  s.stop_steps = 300;
  assert_int_equal(seq_oracle_run(&s, &seq, err, sizeof err), 0);
  for (int d = 0; d < DISP_COUNT; d++)
    for (int p = 0; p < PS_COUNT; p++) {
      tiny_spec(&s, disp_registry[d]->name, ps_registry[p]->name, 1);
      s.stop_steps = 300;
      s.y0 = 3;
      engine_io io = {NULL, NULL, NULL, NULL};
      assert_int_equal(engine_run(&s, &io, &par, err, sizeof err), 0);
      assert_int_equal(par.steps_accepted, 300);
      /* bit for bit: the same losses from the same theta */
      assert_memory_equal(&par.final_test_loss, &seq.test_loss, sizeof(double));
      assert_memory_equal(&par.final_test_acc, &seq.test_acc, sizeof(double));
    }
  seq_oracle_free(&seq);
}

static void test_256_threads_every_dispatcher_and_store(void **state) {
  (void)state;
  for (int d = 0; d < DISP_COUNT; d++)
    for (int p = 0; p < PS_COUNT; p++) {
      const disp_ops *dop = disp_registry[d];
      const ps_ops *sop = ps_registry[p];
      run_spec s;
      run_result res;
      char err[512];
      tiny_spec(&s, dop->name, sop->name, MANY_THREADS);
      /* a reducing dispatcher runs lock-step rounds of all threads: a few */
      s.stop_steps = dop->needs_reduce ? 3 : MANY_STEPS;
      s.y0 = 16;
      engine_io io = {NULL, NULL, NULL, NULL};
      if (engine_run(&s, &io, &res, err, sizeof err) != 0) fail_msg("%s/%s: %s", dop->name, sop->name, err);
      assert_true(res.steps_accepted >= (uint64_t)s.stop_steps);
    }
}

static int setup(void **state) {
  (void)state;
  snprintf(db_path, sizeof db_path, "/tmp/psgd_test_engine_%d.db", (int)getpid());
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char p[300];
  unlink(db_path);
  snprintf(p, sizeof p, "%s-wal", db_path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", db_path);
  unlink(p);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interval_invariants),
      cmocka_unit_test(test_async_accepts_all_sync_tau_zero),
      cmocka_unit_test(test_interval_limits),
      cmocka_unit_test(test_decay_lowers_y),
      cmocka_unit_test(test_one_thread_equals_sequential),
      cmocka_unit_test(test_256_threads_every_dispatcher_and_store),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
