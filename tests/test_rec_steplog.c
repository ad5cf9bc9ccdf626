/* test_rec_steplog.c - the per-worker step buffers: exact order and content
 * per worker, partial chunks only on the final drain, a refused chunk handed
 * again, growth when the pool runs dry, recycling that keeps memory bounded,
 * and 8 threads x 100k records pushed while another thread drains (into a
 * counter, and into SQLite via rec_writer and rec_steplog_flush): every
 * record arrives exactly once. Workers never assert (they record; the main
 * thread checks after the join). */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "steplog.h"
#include "test_rec_util.h"

#define MAXW 8

/* Drain sink that checks every record against seq_rec(worker, next seq). */
typedef struct {
  uint64_t next[MAXW]; /* next expected seq per worker */
  long calls, records, bad;
  int fail_at_call;    /* >0: refuse that call (1-based) */
} sink;

static int sink_fn(void *ctx, const step_rec *r, size_t n) {
  sink *s = ctx;
  s->calls++;
  if (s->fail_at_call && s->calls == s->fail_at_call) return -1;
  for (size_t i = 0; i < n; i++) {
    int w = r[i].worker;
    step_rec want;
    if (w < 0 || w >= MAXW) {
      s->bad++;
      continue;
    }
    seq_rec(&want, w, s->next[w]);
    if (memcmp(&want, &r[i], sizeof want) != 0) s->bad++;
    s->next[w]++;
  }
  s->records += (long)n;
  return 0;
}

static void test_order_and_partial_chunks(void **state) {
  (void)state;
  char err[256];
  steplog *l = steplog_create(2, 10000, err, sizeof err);
  assert_non_null(l);
  const uint64_t n0 = 3 * STEPLOG_CHUNK + 5, n1 = STEPLOG_CHUNK - 1;
  for (uint64_t i = 0; i < n0; i++) {
    step_rec r;
    seq_rec(&r, 0, i);
    steplog_push(l, 0, &r);
    if (i < n1) {
      seq_rec(&r, 1, i);
      steplog_push(l, 1, &r);
    }
  }
  assert_int_equal(steplog_count(l), n0 + n1);
  sink s;
  memset(&s, 0, sizeof s);
  /* not final: only worker 0's three full chunks */
  assert_int_equal(steplog_drain(l, 0, sink_fn, &s), 3 * STEPLOG_CHUNK);
  assert_int_equal(s.calls, 3);
  assert_int_equal(s.next[0], 3 * STEPLOG_CHUNK);
  assert_int_equal(s.next[1], 0);
  assert_int_equal(steplog_drain(l, 0, sink_fn, &s), 0);
  /* final: the partial chunks */
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), 5 + n1);
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), 0);
  /* pushing after a final drain: only the new records come next */
  for (uint64_t i = n1; i < n1 + 10; i++) {
    step_rec r;
    seq_rec(&r, 1, i);
    steplog_push(l, 1, &r);
  }
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), 10);
  assert_int_equal(s.bad, 0);
  assert_int_equal(s.next[0], n0);
  assert_int_equal(s.next[1], n1 + 10);
  assert_int_equal(s.records, (long)(n0 + n1 + 10));
  steplog_free(l);
  steplog_free(NULL);
}

static void test_refused_chunk_is_handed_again(void **state) {
  (void)state;
  char err[256];
  steplog *l = steplog_create(1, 0, err, sizeof err);
  assert_non_null(l);
  for (uint64_t i = 0; i < 2 * STEPLOG_CHUNK + 3; i++) {
    step_rec r;
    seq_rec(&r, 0, i);
    steplog_push(l, 0, &r);
  }
  sink s;
  memset(&s, 0, sizeof s);
  s.fail_at_call = 2; /* accept the first chunk, refuse the second */
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), -1);
  assert_int_equal(s.next[0], STEPLOG_CHUNK);
  s.fail_at_call = 0;
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), STEPLOG_CHUNK + 3);
  assert_int_equal(s.bad, 0);
  assert_int_equal(s.next[0], 2 * STEPLOG_CHUNK + 3);
  steplog_free(l);
}

static void test_grows_when_pool_runs_dry(void **state) {
  (void)state;
  char err[256];
  steplog *l = steplog_create(1, 0, err, sizeof err); /* pool: 2 chunks */
  assert_non_null(l);
  steplog_stats st;
  steplog_get_stats(l, &st);
  assert_int_equal(st.pool_chunks, 2);
  const uint64_t n = 20 * STEPLOG_CHUNK + 17;
  for (uint64_t i = 0; i < n; i++) {
    step_rec r;
    seq_rec(&r, 0, i);
    steplog_push(l, 0, &r);
  }
  steplog_get_stats(l, &st);
  assert_true(st.grown_chunks >= 19);
  assert_true(st.bytes >= (st.pool_chunks + st.grown_chunks) * STEPLOG_CHUNK * sizeof(step_rec));
  sink s;
  memset(&s, 0, sizeof s);
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), (long)n);
  assert_int_equal(s.bad, 0);
  steplog_free(l);
}

static void test_recycling_bounds_memory(void **state) {
  (void)state;
  char err[256];
  steplog *l = steplog_create(1, 0, err, sizeof err);
  assert_non_null(l);
  sink s;
  memset(&s, 0, sizeof s);
  for (uint64_t i = 0; i < 100 * STEPLOG_CHUNK; i++) {
    step_rec r;
    seq_rec(&r, 0, i);
    steplog_push(l, 0, &r);
    if ((i + 1) % STEPLOG_CHUNK == 0) steplog_drain(l, 0, sink_fn, &s);
  }
  steplog_stats st;
  steplog_get_stats(l, &st);
  assert_int_equal(st.grown_chunks, 0);
  assert_int_equal(steplog_drain(l, 1, sink_fn, &s), 0);
  assert_int_equal(s.records, 100 * STEPLOG_CHUNK);
  assert_int_equal(s.bad, 0);
  steplog_free(l);
}

/* ---- concurrency ---- */

#define NT 8
#define PER 100000

typedef struct {
  steplog *l;
  int w;
  _Atomic int *done;
} pusher;

static void *push_main(void *arg) {
  pusher *p = arg;
  for (uint64_t i = 0; i < PER; i++) {
    step_rec r;
    seq_rec(&r, p->w, i);
    steplog_push(p->l, p->w, &r);
  }
  atomic_fetch_add_explicit(p->done, 1, memory_order_relaxed);
  return NULL;
}

static void start_pushers(steplog *l, pthread_t *th, pusher *ps, _Atomic int *done) {
  for (int w = 0; w < NT; w++) {
    ps[w] = (pusher){l, w, done};
    assert_int_equal(pthread_create(&th[w], NULL, push_main, &ps[w]), 0);
  }
}

static void test_concurrent_push_and_drain(void **state) {
  (void)state;
  char err[256];
  /* a small pool, so growth and recycling both happen under contention */
  steplog *l = steplog_create(NT, 4 * STEPLOG_CHUNK, err, sizeof err);
  assert_non_null(l);
  _Atomic int done = 0;
  pthread_t th[NT];
  pusher ps[NT];
  sink s;
  memset(&s, 0, sizeof s);
  start_pushers(l, th, ps, &done);
  long drained = 0, rounds = 0;
  while (atomic_load_explicit(&done, memory_order_relaxed) < NT) {
    long n = steplog_drain(l, 0, sink_fn, &s);
    assert_true(n >= 0);
    drained += n;
    rounds++;
    sched_yield();
  }
  for (int w = 0; w < NT; w++) pthread_join(th[w], NULL);
  long n = steplog_drain(l, 1, sink_fn, &s);
  assert_true(n >= 0);
  drained += n;
  assert_int_equal(drained, NT * PER);
  assert_int_equal(steplog_count(l), NT * PER);
  assert_int_equal(s.bad, 0);
  for (int w = 0; w < NT; w++) assert_int_equal(s.next[w], PER);
  assert_true(rounds > 0);
  steplog_free(l);
}

/* Checks the steps of run id: NT*PER rows, PER per worker, each worker's
 * seq 0..PER-1 exactly once (count, min, max, sum). */
static void check_db_rows(const char *db, int64_t id) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_int(db, sql), NT * PER);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM (SELECT worker, count(*) AS n, count(DISTINCT step) AS d,"
           " min(step) AS lo, max(step) AS hi, sum(step) AS s FROM steps WHERE run_id = %lld"
           " GROUP BY worker) WHERE n = %d AND d = %d AND lo = 0 AND hi = %d AND s = %lld",
           (long long)id, PER, PER, PER - 1, (long long)PER * (PER - 1) / 2);
  assert_int_equal(q_int(db, sql), NT);
  /* content survives the trip: finish = 8 * seq + worker for every row */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM steps WHERE run_id = %lld AND finish = step * 8 + worker"
           " AND staleness = step %% 7 AND t_end_ns - t_start_ns = 500",
           (long long)id);
  assert_int_equal(q_int(db, sql), NT * PER);
}

static void test_writer_thread_into_sqlite(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  test_spec(&s, "writer", 0, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  steplog *l = steplog_create(NT, 0, err, sizeof err);
  assert_non_null(l);
  rec_writer *w = rec_writer_start(r, id, l, 0.005, err, sizeof err);
  assert_non_null(w);
  _Atomic int done = 0;
  pthread_t th[NT];
  pusher ps[NT];
  start_pushers(l, th, ps, &done);
  /* meanwhile this thread uses its own handle, as the engine would */
  eval_rec e = {1, 0, 0, 2.3, 2.3, 0.1};
  assert_int_equal(rec_evals(r, id, &e, 1, err, sizeof err), 0);
  for (int k = 0; k < NT; k++) pthread_join(th[k], NULL);
  rec_writer_stats ws;
  if (rec_writer_stop(w, &ws, err, sizeof err) != 0) fail_msg("%s", err);
  assert_int_equal(ws.rows, NT * PER);
  assert_true(ws.final_flush_s >= 0 && ws.busy_s >= ws.final_flush_s);
  check_db_rows(t.db, id);
  steplog_free(l);

  /* the post-run path: push everything, then one rec_steplog_flush */
  test_spec(&s, "post", 0, key);
  int64_t id2;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id2, err, sizeof err), 0);
  l = steplog_create(NT, NT * PER, err, sizeof err);
  assert_non_null(l);
  done = 0;
  start_pushers(l, th, ps, &done);
  for (int k = 0; k < NT; k++) pthread_join(th[k], NULL);
  assert_int_equal(rec_steplog_flush(r, id2, l, 1, err, sizeof err), NT * PER);
  assert_int_equal(rec_steplog_flush(r, id2, l, 1, err, sizeof err), 0);
  check_db_rows(t.db, id2);
  steplog_stats st;
  steplog_get_stats(l, &st);
  assert_int_equal(st.grown_chunks, 0); /* sized from expect_total */
  steplog_free(l);

  /* a flush into a run that was marked meanwhile fails and lands nothing */
  test_spec(&s, "marked", 0, key);
  int64_t id3;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id3, err, sizeof err), 0);
  l = steplog_create(1, 0, err, sizeof err);
  for (uint64_t i = 0; i < 3 * STEPLOG_CHUNK; i++) {
    step_rec rr;
    seq_rec(&rr, 0, i);
    steplog_push(l, 0, &rr);
  }
  assert_int_equal(rec_run_mark(r, key, RUN_TIMEOUT, "limit", err, sizeof err), 0);
  assert_int_equal(rec_steplog_flush(r, id3, l, 1, err, sizeof err), -1);
  assert_non_null(strstr(err, "timeout"));
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)id3);
  assert_int_equal(q_int(t.db, sql), 0);
  steplog_free(l);
  rec_close(r);
  tmp_remove(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_partial_chunks),
      cmocka_unit_test(test_refused_chunk_is_handed_again),
      cmocka_unit_test(test_grows_when_pool_runs_dry),
      cmocka_unit_test(test_recycling_bounds_memory),
      cmocka_unit_test(test_concurrent_push_and_drain),
      cmocka_unit_test(test_writer_thread_into_sqlite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
