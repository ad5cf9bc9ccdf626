/* test_rec_steps.c - the compact step storage (rec_steps.h): the chunk codec
 * keeps every field of every record exactly (extreme values included) and
 * refuses every damaged chunk; rows written through rec_steps / the steplog
 * read back from the view `steps` in write order; a database in the old
 * layout (schema 1, the row-per-step DDL below) is upgraded on open with
 * every row kept, and one with a row the new layout cannot keep is refused
 * and left as it was. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"
#include "rec_steps.h"
#include "test_rec_util.h"

static int same_rec(const step_rec *a, const step_rec *b) {
  uint32_t la, lb;
  memcpy(&la, &a->loss, 4);
  memcpy(&lb, &b->loss, 4);
  return a->step == b->step && a->finish == b->finish && a->t_start_ns == b->t_start_ns &&
         a->t_end_ns == b->t_end_ns && a->version_read == b->version_read &&
         a->version_apply == b->version_apply && a->interval == b->interval &&
         a->staleness == b->staleness && la == lb && a->worker == b->worker && a->pu == b->pu &&
         a->y == b->y && a->m == b->m && a->accepted == b->accepted;
}

/* Engine-like records of nw workers (runs of equal y/m, tau small, 60%
 * accepted) with every k-th record an extreme one. */
static void make_recs(step_rec *v, size_t n, int nw, int extremes, psgd_rng *g) {
  uint64_t t = 1000;
  for (size_t i = 0; i < n; i++) {
    step_rec *s = &v[i];
    memset(s, 0, sizeof *s);
    s->worker = (int32_t)(i % (size_t)nw);
    s->pu = s->worker;
    s->step = i;
    s->finish = i + psgd_rng_below(g, 8);
    t += 100 + psgd_rng_below(g, 5000);
    s->t_start_ns = t;
    s->t_end_ns = t + 40000 + psgd_rng_below(g, 90000);
    s->version_read = i / 2;
    s->version_apply = s->version_read + psgd_rng_below(g, 5);
    s->staleness = (int64_t)(s->version_apply - s->version_read);
    s->accepted = psgd_rng_uniform(g) < 0.6;
    s->interval = i / 64;
    s->y = 64;
    s->m = (uint32_t)nw;
    s->loss = (float)(2.3 - 1e-4 * (double)i);
    if (extremes && i % 97 == 5) {
      s->step = UINT64_MAX - i;
      s->finish = 0;
      s->worker = INT32_MIN;
      s->pu = -1;
      s->t_start_ns = UINT64_MAX;
      s->t_end_ns = 0;
      s->version_read = UINT64_MAX;
      s->version_apply = 1;
      s->staleness = INT64_MIN;
      s->accepted = 255;
      s->interval = UINT64_MAX;
      s->y = UINT32_MAX;
      s->m = 0;
      s->loss = i % 2 ? NAN : -INFINITY;
    }
  }
}

static void test_codec_roundtrip(void **state) {
  (void)state;
  psgd_rng g;
  psgd_rng_seed(&g, 7);
  step_rec *v = calloc(REC_STEPS_CHUNK, sizeof *v), *w = calloc(REC_STEPS_CHUNK, sizeof *w);
  uint8_t *blob = malloc(rec_steps_bound(REC_STEPS_CHUNK));
  const size_t sizes[] = {1, 2, 7, 64, 1000, REC_STEPS_CHUNK};
  for (int ex = 0; ex < 2; ex++)
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t n = sizes[k];
      make_recs(v, n, 1 + (int)k, ex, &g);
      size_t len = rec_steps_encode(v, n, blob);
      assert_true(len <= rec_steps_bound(n));
      size_t m = 0;
      char err[160];
      assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), 0);
      assert_int_equal(m, n);
      for (size_t i = 0; i < n; i++) assert_true(same_rec(&v[i], &w[i]));
      /* the engine-like records (no extremes) take well under 16 bytes each */
      if (!ex && n == REC_STEPS_CHUNK) assert_true(len < 16 * n);
      /* chunks of 64 records or more are deflated when that saves 1/16 */
      if (n < 64) assert_int_equal(blob[0], 1);
    }
  free(v);
  free(w);
  free(blob);
}

/* Every truncation, an extra byte, and a changed format, mode, count or
 * deflated byte are refused: for a plain chunk (under 64 records) and for a
 * deflated one. */
static void test_codec_refuses_damage(void **state) {
  (void)state;
  psgd_rng g;
  psgd_rng_seed(&g, 3);
  step_rec *v = calloc(REC_STEPS_CHUNK, sizeof *v), *w = calloc(REC_STEPS_CHUNK, sizeof *w);
  uint8_t *blob = malloc(rec_steps_bound(REC_STEPS_CHUNK) + 1);
  char err[160];
  size_t m;
  const size_t sizes[] = {60, 3000};
  for (int k = 0; k < 2; k++) {
    size_t n = sizes[k];
    make_recs(v, n, 3, 0, &g);
    size_t len = rec_steps_encode(v, n, blob);
    assert_int_equal(blob[0], k == 0 ? 1 : 2); /* plain, deflated */
    for (size_t cut = 0; cut < len; cut++)
      assert_int_equal(rec_steps_decode(blob, cut, w, &m, err, sizeof err), -1);
    blob[len] = 0;
    assert_int_equal(rec_steps_decode(blob, len + 1, w, &m, err, sizeof err), -1);
    uint8_t save = blob[0];
    blob[0] = 3; /* unknown format */
    assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), -1);
    blob[0] = save;
    if (k == 0) {
      save = blob[2]; /* the first column's mode (after format and a 1-byte count) */
      blob[2] = 9;
      assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), -1);
      blob[2] = save;
      blob[1] ^= 1; /* the record count */
      assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), -1);
      blob[1] ^= 1;
    } else {
      blob[1] ^= 1; /* the plain length */
      assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), -1);
      blob[1] ^= 1;
      for (size_t i = 8; i < len; i += len / 7) { /* bytes inside the deflated stream */
        blob[i] ^= 0x10;
        assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), -1);
        blob[i] ^= 0x10;
      }
    }
    assert_int_equal(rec_steps_decode(blob, len, w, &m, err, sizeof err), 0);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) assert_true(same_rec(&v[i], &w[i]));
  }
  free(v);
  free(w);
  free(blob);
}

/* Reads the run's rows from the view in its natural order into out. */
static size_t read_view(const char *db, int64_t run_id, step_rec *out, size_t cap) {
  sqlite3 *h;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(h,
                                      "SELECT step, finish, worker, pu, t_start_ns, t_end_ns,"
                                      " version_read, version_apply, staleness, accepted,"
                                      " interval, y, m, loss FROM steps WHERE run_id = ?1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_int64(st, 1, run_id);
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    assert_true(n < cap);
    step_rec *s = &out[n++];
    memset(s, 0, sizeof *s);
    s->step = (uint64_t)sqlite3_column_int64(st, 0);
    s->finish = (uint64_t)sqlite3_column_int64(st, 1);
    s->worker = sqlite3_column_int(st, 2);
    s->pu = sqlite3_column_int(st, 3);
    s->t_start_ns = (uint64_t)sqlite3_column_int64(st, 4);
    s->t_end_ns = (uint64_t)sqlite3_column_int64(st, 5);
    s->version_read = (uint64_t)sqlite3_column_int64(st, 6);
    s->version_apply = (uint64_t)sqlite3_column_int64(st, 7);
    s->staleness = sqlite3_column_int64(st, 8);
    s->accepted = (uint8_t)sqlite3_column_int(st, 9);
    s->interval = (uint64_t)sqlite3_column_int64(st, 10);
    s->y = (uint32_t)sqlite3_column_int64(st, 11);
    s->m = (uint32_t)sqlite3_column_int64(st, 12);
    if (sqlite3_column_type(st, 13) == SQLITE_NULL) s->loss = NAN;
    else s->loss = (float)sqlite3_column_double(st, 13);
  }
  assert_int_equal(sqlite3_errcode(h), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

static void test_written_rows_read_back(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  test_spec(&s, "steps", 0, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  psgd_rng g;
  psgd_rng_seed(&g, 11);
  size_t n = 10000;
  step_rec *v = calloc(n, sizeof *v), *w = calloc(n + 1, sizeof *w);
  make_recs(v, n, 4, 0, &g);
  for (size_t i = 0; i < n; i += 4096) v[i].loss = NAN; /* NULL in SQL, as before */
  /* in three calls: chunks never straddle two calls */
  assert_int_equal(rec_steps(r, id, v, 5000, err, sizeof err), 0);
  assert_int_equal(rec_steps(r, id, v + 5000, 4999, err, sizeof err), 0);
  assert_int_equal(rec_steps(r, id, v + 9999, 1, err, sizeof err), 0);
  assert_int_equal(read_view(t.db, id, w, n + 1), n);
  for (size_t i = 0; i < n; i++) assert_true(same_rec(&v[i], &w[i]) || isnan(v[i].loss));
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps WHERE loss IS NULL"), 3);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM step_chunks"), 5); /* 4096+904, 4096+903, 1 */
  assert_int_equal(q_int(t.db, "SELECT sum(n) FROM step_chunks"), (int64_t)n);
  /* the steplog path: 3 workers, partial chunks gathered at the final flush */
  steplog *l = steplog_create(3, 20000, err, sizeof err);
  assert_non_null(l);
  for (size_t i = 0; i < n; i++) steplog_push(l, v[i].worker % 3, &v[i]);
  test_spec(&s, "steps", 1, key);
  int64_t id2;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id2, err, sizeof err), 0);
  assert_int_equal(rec_steplog_flush(r, id2, l, 1, err, sizeof err), (long)n);
  steplog_free(l);
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)id2);
  assert_int_equal(q_int(t.db, sql), (int64_t)n);
  snprintf(sql, sizeof sql, "SELECT sum(step) FROM steps WHERE run_id = %lld", (long long)id2);
  assert_int_equal(q_int(t.db, sql), (int64_t)(n * (n - 1) / 2));
  /* steps written in SQL: the documented edit of a run (rec_steps.h), and an
   * INSERT into the view */
  snprintf(sql, sizeof sql, "SELECT sum(staleness) FROM steps WHERE run_id = %lld", (long long)id);
  int64_t stale_before = q_int(t.db, sql);
  char edit[1024];
  snprintf(edit, sizeof edit,
           "CREATE TEMP TABLE t AS SELECT * FROM steps WHERE run_id = %lld;"
           "UPDATE t SET staleness = step %% 90 WHERE accepted;"
           "DELETE FROM step_chunks WHERE run_id = %lld;"
           "INSERT INTO step_chunks (run_id, n, data) SELECT run_id, count(*),"
           " psgd_chunk(rowid, step, finish, worker, pu, t_start_ns, t_end_ns, version_read,"
           " version_apply, staleness, accepted, interval, y, m, loss)"
           " FROM t GROUP BY run_id, (rowid - 1) / 4096;",
           (long long)id, (long long)id);
  assert_int_equal(q_exec(t.db, edit), SQLITE_OK);
  assert_int_equal(read_view(t.db, id, w, n + 1), n);
  int64_t want = 0;
  for (size_t i = 0; i < n; i++) {
    step_rec e = v[i];
    if (e.accepted) e.staleness = (int64_t)(e.step % 90);
    want += e.staleness;
    assert_true(same_rec(&e, &w[i]) || isnan(v[i].loss));
  }
  assert_int_equal(q_int(t.db, sql), want);
  assert_true(want != stale_before);
  snprintf(edit, sizeof edit,
           "INSERT INTO steps VALUES (%lld, 99999, 1, 2, 3, 4, 5, 6, 7, 1, 1, 8, 9, 10, 0.5)",
           (long long)id);
  assert_int_equal(q_exec(t.db, edit), SQLITE_OK);
  snprintf(edit, sizeof edit, "SELECT finish + worker + pu + t_start_ns + t_end_ns + version_read"
           " + version_apply + staleness + accepted + interval + y + m + loss * 2 FROM steps"
           " WHERE run_id = %lld AND step = 99999", (long long)id);
  assert_int_equal(q_int(t.db, edit), 1 + 2 + 3 + 4 + 5 + 6 + 7 + 1 + 1 + 8 + 9 + 10 + 1);
  /* a value the layout cannot keep is refused */
  snprintf(edit, sizeof edit,
           "INSERT INTO steps VALUES (%lld, 1, 1, 2, 3, 4, 5, 6, 7, 1, 1, 8, 9, 10, 0.1)",
           (long long)id);
  assert_int_equal(q_exec(t.db, edit), SQLITE_ERROR);
  snprintf(edit, sizeof edit,
           "INSERT INTO steps VALUES (%lld, 1, 1, NULL, 3, 4, 5, 6, 7, 1, 1, 8, 9, 10, 0.5)",
           (long long)id);
  assert_int_equal(q_exec(t.db, edit), SQLITE_ERROR);
  /* a damaged chunk is an error, never rows */
  assert_int_equal(q_exec(t.db, "UPDATE step_chunks SET data = x'0101' WHERE chunk_id = "
                          "(SELECT min(chunk_id) FROM step_chunks)"),
                   SQLITE_OK);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps"), INT64_MIN);
  rec_close(r);
  free(v);
  free(w);
  tmp_remove(&t);
}

/* The schema of version 1 (the row-per-step layout), as shipped. */
static const char old_ddl[] =
    "CREATE TABLE runs ("
    "  run_id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
    "  experiment TEXT, label TEXT, spec TEXT, algorithm TEXT, sync TEXT, store TEXT,"
    "  backoff TEXT, y_control TEXT, optimizer TEXT,"
    "  threads INTEGER, placement TEXT, dataset TEXT, model TEXT, batch INTEGER,"
    "  lr REAL, momentum REAL, y0 INTEGER, seed, repetition INTEGER,"
    "  target_acc REAL, epsilon REAL,"
    "  status TEXT NOT NULL CHECK (status IN ('running','ok','converged','diverged',"
    "                                         'timeout','crashed','interrupted')),"
    "  why TEXT, started_at TEXT, ended_at TEXT, wall_s REAL, flush_s REAL,"
    "  steps_started INTEGER, steps_accepted INTEGER, epochs REAL,"
    "  initial_loss REAL, final_train_loss REAL, final_test_loss REAL,"
    "  final_test_acc REAL, best_test_acc REAL, pinned INTEGER,"
    "  git_commit TEXT, host TEXT, cpu_model TEXT, pid INTEGER,"
    "  topology_xml TEXT, versions TEXT);"
    "CREATE TABLE steps ("
    "  run_id INTEGER NOT NULL, step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,"
    "  t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,"
    "  staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER,"
    "  loss REAL);"
    "CREATE INDEX steps_run ON steps(run_id);"
    "CREATE TABLE evals (run_id INTEGER NOT NULL, t_ns INTEGER, steps_accepted INTEGER,"
    "  epoch REAL, train_loss REAL, test_loss REAL, test_acc REAL);"
    "CREATE INDEX evals_run ON evals(run_id, t_ns);"
    "CREATE TABLE events (run_id INTEGER NOT NULL, t_ns INTEGER, kind TEXT, value REAL,"
    "  detail TEXT);"
    "CREATE INDEX events_run ON events(run_id, t_ns);"
    "CREATE TABLE placement (run_id INTEGER NOT NULL, worker INTEGER, pu_os INTEGER,"
    "  core INTEGER, node INTEGER, package INTEGER, bound INTEGER);"
    "CREATE INDEX placement_run ON placement(run_id, worker);"
    "CREATE TABLE acc_thresholds (acc REAL PRIMARY KEY);"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE VIEW v_acceptance AS SELECT run_id, count(*) AS steps, sum(accepted) AS accepted"
    "  FROM steps GROUP BY run_id;"
    "INSERT INTO runs (key, status) VALUES ('a', 'ok'), ('b', 'ok');"
    "PRAGMA application_id = 1347635012; PRAGMA user_version = 1;";

/* An old database: 3000 rows of run 2 and 5000 of run 1, written in turns of
 * 1000 (rowids interleave), every 7th loss NULL. The old rows as text, in
 * (run_id, rowid) order, go to `want`. */
static void make_old_db(const char *db, const char *extra_sql) {
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, old_ddl, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(h, "INSERT INTO steps VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                            " ?11, ?12, ?13, ?14, ?15)", -1, &st, NULL),
      SQLITE_OK);
  psgd_rng g;
  psgd_rng_seed(&g, 5);
  step_rec v[1000];
  for (int turn = 0; turn < 8; turn++) {
    int run = turn < 6 && turn % 2 ? 2 : 1;
    make_recs(v, 1000, 3, 0, &g);
    for (int i = 0; i < 1000; i++) {
      const step_rec *s = &v[i];
      sqlite3_bind_int(st, 1, run);
      sqlite3_bind_int64(st, 2, (sqlite3_int64)(s->step + (uint64_t)turn * 1000));
      sqlite3_bind_int64(st, 3, (sqlite3_int64)s->finish);
      sqlite3_bind_int(st, 4, s->worker);
      sqlite3_bind_int(st, 5, s->pu - 1);
      sqlite3_bind_int64(st, 6, (sqlite3_int64)s->t_start_ns);
      sqlite3_bind_int64(st, 7, (sqlite3_int64)s->t_end_ns);
      sqlite3_bind_int64(st, 8, (sqlite3_int64)s->version_read);
      sqlite3_bind_int64(st, 9, (sqlite3_int64)s->version_apply);
      sqlite3_bind_int64(st, 10, s->staleness);
      sqlite3_bind_int(st, 11, s->accepted);
      sqlite3_bind_int64(st, 12, (sqlite3_int64)s->interval);
      sqlite3_bind_int64(st, 13, s->y);
      sqlite3_bind_int64(st, 14, s->m);
      if (i % 7) sqlite3_bind_double(st, 15, s->loss);
      else sqlite3_bind_null(st, 15);
      assert_int_equal(sqlite3_step(st), SQLITE_DONE);
      sqlite3_reset(st);
    }
  }
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  if (extra_sql) assert_int_equal(sqlite3_exec(h, extra_sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
}

/* All rows of `steps` as one text, in the given order. */
static char *dump(const char *db, const char *order) {
  sqlite3 *h;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT group_concat(quote(run_id) || ',' || quote(step) || ',' || quote(finish) ||"
           " ',' || quote(worker) || ',' || quote(pu) || ',' || quote(t_start_ns) || ',' ||"
           " quote(t_end_ns) || ',' || quote(version_read) || ',' || quote(version_apply) || ','"
           " || quote(staleness) || ',' || quote(accepted) || ',' || quote(interval) || ',' ||"
           " quote(y) || ',' || quote(m) || ',' || quote(loss), ';') FROM (SELECT * FROM steps %s)",
           order);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  char *out = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

static void test_old_layout_upgraded(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  make_old_db(t.db, NULL);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps"), 8000);
  char *want = dump(t.db, "ORDER BY run_id, rowid");
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  assert_int_equal(q_int(t.db, "PRAGMA user_version"), rec_schema_version());
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name = 'steps' AND "
                               "type = 'view'"), 1);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name = 'steps_run'"), 0);
  /* natural order of the view = the old (run_id, rowid) order */
  char *got = dump(t.db, "");
  assert_string_equal(got, want);
  /* the old database's own view still works (it now reads the new view) */
  assert_int_equal(q_int(t.db, "SELECT steps FROM v_acceptance WHERE run_id = 2"), 3000);
  /* chunks hold one run each, at most REC_STEPS_CHUNK records */
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM step_chunks"), 3); /* 4096+904, 3000 */
  free(want);
  free(got);
  tmp_remove(&t);
}

static void test_old_layout_unkeepable_refused(void **state) {
  (void)state;
  const char *bad[] = {"UPDATE steps SET worker = NULL WHERE rowid = 1234",
                       "UPDATE steps SET loss = 0.1 WHERE rowid = 77",
                       "UPDATE steps SET y = -1 WHERE rowid = 5",
                       "UPDATE steps SET step = 'x' WHERE rowid = 9"};
  const char *what[] = {"worker is NULL", "loss 0.1 is not a float", "y is not a valid integer",
                        "step is not a valid integer"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    tmp_place t;
    tmp_make(&t);
    make_old_db(t.db, bad[k]);
    char err[512] = "";
    rec *r = rec_open(t.db, err, sizeof err);
    assert_null(r);
    assert_non_null(strstr(err, "schema upgrade refused"));
    assert_non_null(strstr(err, what[k]));
    assert_non_null(strstr(err, t.db));
    /* unchanged: still the old layout, all rows */
    assert_int_equal(q_int(t.db, "PRAGMA user_version"), 1);
    assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name = 'steps' AND "
                                 "type = 'table'"), 1);
    assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps"), 8000);
    tmp_remove(&t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_roundtrip),
      cmocka_unit_test(test_codec_refuses_damage),
      cmocka_unit_test(test_written_rows_read_back),
      cmocka_unit_test(test_old_layout_upgraded),
      cmocka_unit_test(test_old_layout_unkeepable_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
