/* test_rec_run.c - the run lifecycle in results.db: begin -> steps/evals/
 * events/placement -> end; rec_run_finished per status; a second begin with
 * the same key replaces a run without a result and refuses one with a result;
 * rec_run_mark deletes exactly the partial rows of its run; writes into a run
 * that was marked or restarted fail instead of landing; host metadata. */
#define _GNU_SOURCE
#include <math.h>
#include <cblas.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test_rec_util.h"

static int64_t count_rows(const char *db, const char *table, int64_t run_id) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE run_id = %lld", table,
           (long long)run_id);
  return q_int(db, sql);
}

/* Begins run (label, rep) and gives it n steps, 3 evals, 2 events, 4 placements. */
static int64_t begin_with_data(rec *r, const char *label, int rep, size_t n, char key[17]) {
  char err[512] = "";
  run_spec s;
  test_spec(&s, label, rep, key);
  int64_t id = -1;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  step_rec *v = calloc(n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++) seq_rec(&v[i], (int)(i % 4), i);
  assert_int_equal(rec_steps(r, id, v, n, err, sizeof err), 0);
  free(v);
  eval_rec e[3] = {{1000, 10, 0.1, 2.0, 2.1, 0.3}, {2000, 20, 0.2, 1.0, 1.1, 0.6},
                   {3000, 30, 0.3, 0.5, 0.6, 0.8}};
  assert_int_equal(rec_evals(r, id, e, 3, err, sizeof err), 0);
  event_rec ev[2];
  memset(ev, 0, sizeof ev);
  ev[0].t_ns = 5;
  snprintf(ev[0].kind, sizeof ev[0].kind, "y");
  ev[0].value = 32;
  snprintf(ev[0].detail, sizeof ev[0].detail, "decay");
  ev[1].t_ns = 6;
  memset(ev[1].kind, 'k', sizeof ev[1].kind); /* full: no NUL terminator */
  ev[1].value = 1;
  place_rec p[4];
  for (int w = 0; w < 4; w++) p[w] = (place_rec){w, w * 2, w, 0, 0, 1};
  assert_int_equal(rec_events(r, id, ev, 2, err, sizeof err), 0);
  assert_int_equal(rec_placement(r, id, p, 4, err, sizeof err), 0);
  return id;
}

static void test_lifecycle(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17], sql[256], txt[256];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  int64_t id = begin_with_data(r, "life", 0, 1000, key);
  assert_int_equal(rec_run_finished(r, key, err, sizeof err), 0); /* running */
  snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE run_id = %lld", (long long)id);
  q_text(t.db, sql, txt, sizeof txt);
  assert_string_equal(txt, "running");
  assert_int_equal(count_rows(t.db, "steps", id), 1000);
  assert_int_equal(count_rows(t.db, "evals", id), 3);
  assert_int_equal(count_rows(t.db, "events", id), 2);
  assert_int_equal(count_rows(t.db, "placement", id), 4);

  /* columns land where the record says */
  assert_int_equal(q_int(t.db, "SELECT sum(step) FROM steps"), 999 * 1000 / 2);
  assert_int_equal(q_int(t.db, "SELECT sum(accepted) FROM steps"), 1000 - 334);
  assert_int_equal(q_int(t.db, "SELECT staleness FROM steps WHERE step = 13"), 13 % 7);
  assert_int_equal(q_int(t.db, "SELECT version_apply FROM steps WHERE step = 13"), 13 + 6);
  assert_int_equal(q_int(t.db, "SELECT finish FROM steps WHERE step = 13"), 13 * 8 + 1);
  assert_int_equal(q_int(t.db, "SELECT t_end_ns - t_start_ns FROM steps WHERE step = 5"), 500);
  assert_int_equal(q_int(t.db, "SELECT count(DISTINCT worker) FROM steps"), 4);
  q_text(t.db, "SELECT kind FROM events WHERE t_ns = 6", txt, sizeof txt);
  assert_int_equal(strlen(txt), 24);
  q_text(t.db, "SELECT detail FROM events WHERE t_ns = 5", txt, sizeof txt);
  assert_string_equal(txt, "decay");
  assert_int_equal(q_int(t.db, "SELECT pu_os FROM placement WHERE worker = 3"), 6);

  /* the spec is the canonical JSON */
  run_spec s;
  test_spec(&s, "life", 0, key);
  char json[8192];
  assert_true(spec_to_json(&s, json, sizeof json) > 0);
  snprintf(sql, sizeof sql, "SELECT spec FROM runs WHERE run_id = %lld", (long long)id);
  char stored[8192];
  q_text(t.db, sql, stored, sizeof stored);
  assert_string_equal(stored, json);
  assert_int_equal(q_int(t.db, "SELECT threads FROM runs"), 4);

  run_result res;
  memset(&res, 0, sizeof res);
  res.status = RUN_CONVERGED;
  res.wall_s = 12.5;
  res.steps_started = 1000;
  res.steps_accepted = 666;
  res.epochs = 0.25;
  res.initial_loss = 2.3;
  res.final_test_acc = 0.8;
  res.best_test_acc = 0.81;
  res.final_test_loss = NAN; /* stored as NULL */
  res.flush_s = 0.01;
  res.pinned = 1;
  assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
  assert_int_equal(rec_run_finished(r, key, err, sizeof err), 1);
  q_text(t.db, "SELECT status || ' ' || steps_accepted || ' ' || wall_s || ' ' || pinned"
               " || ' ' || typeof(final_test_loss) || ' ' || (ended_at IS NOT NULL) FROM runs",
         txt, sizeof txt);
  assert_string_equal(txt, "converged 666 12.5 1 null 1");
  /* the run is over: no more rows, no second end */
  step_rec one;
  seq_rec(&one, 0, 5000);
  assert_int_equal(rec_steps(r, id, &one, 1, err, sizeof err), -1);
  assert_non_null(strstr(err, "not running"));
  assert_non_null(strstr(err, t.db));
  assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), -1);
  assert_int_equal(count_rows(t.db, "steps", id), 1000);
  rec_close(r);
  tmp_remove(&t);
}

static void test_finished_semantics(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  assert_int_equal(rec_run_finished(r, "0123456789abcdef", err, sizeof err), 0); /* absent */
  /* ended by the engine */
  const run_status ended[] = {RUN_OK, RUN_CONVERGED, RUN_DIVERGED};
  for (int i = 0; i < 3; i++) {
    int64_t id = begin_with_data(r, "fin-end", i, 10, key);
    run_result res = {.status = ended[i]};
    assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
    assert_int_equal(rec_run_finished(r, key, err, sizeof err), 1);
  }
  /* marked by the runner */
  const run_status marked[] = {RUN_TIMEOUT, RUN_CRASHED, RUN_INTERRUPTED};
  const int expect[] = {1, 1, 0};
  for (int i = 0; i < 3; i++) {
    begin_with_data(r, "fin-mark", i, 10, key);
    assert_int_equal(rec_run_mark(r, key, marked[i], "why", err, sizeof err), 0);
    assert_int_equal(rec_run_finished(r, key, err, sizeof err), expect[i]);
  }
  rec_close(r);
  tmp_remove(&t);
}

/* The one judgement of a status, for every status the schema allows: its
 * state, final or not, skipped by a sweep (with and without --retry-failed),
 * kept across databases (merge, slurm); and rec_run_statuses reads them back. */
static void test_run_state_table(void **state) {
  (void)state;
  static const struct {
    const char *status;
    rec_run_state st;
    int final, skip, skip_retry, kept;
  } want[] = {
      {NULL, REC_RUN_ABSENT, 0, 0, 0, 0},
      {"", REC_RUN_ABSENT, 0, 0, 0, 0},
      {"running", REC_RUN_UNFINISHED, 0, 0, 0, 0},
      {"interrupted", REC_RUN_UNFINISHED, 0, 0, 0, 0},
      {"crashed", REC_RUN_CRASHED, 1, 1, 0, 0},
      {"timeout", REC_RUN_TIMEOUT, 1, 1, 0, 1},
      {"ok", REC_RUN_RESULT, 1, 1, 1, 1},
      {"converged", REC_RUN_RESULT, 1, 1, 1, 1},
      {"diverged", REC_RUN_RESULT, 1, 1, 1, 1},
      {"something-else", REC_RUN_UNFINISHED, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    rec_run_state st = rec_run_state_of(want[i].status);
    assert_int_equal(st, want[i].st);
    assert_int_equal(rec_run_state_final(st), want[i].final);
    assert_int_equal(rec_run_state_skip(st, 0), want[i].skip);
    assert_int_equal(rec_run_state_skip(st, 1), want[i].skip_retry);
    assert_int_equal(rec_run_state_kept(st), want[i].kept);
  }
  /* every status of run_status is known to the table */
  for (int k = 0; k < RUN_STATUS_COUNT; k++)
    assert_true(rec_run_state_of(run_status_name((run_status)k)) != REC_RUN_ABSENT);

  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17], st16[3][16];
  const char *keys[3] = {"0123456789abcdef", key, "fedcba9876543210"};
  assert_int_equal(rec_run_statuses(t.db, keys, 3, st16, err, sizeof err), 0); /* no file */
  for (int i = 0; i < 3; i++) assert_string_equal(st16[i], "");
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  begin_with_data(r, "state", 0, 10, key);
  assert_int_equal(rec_run_mark(r, key, RUN_TIMEOUT, "why", err, sizeof err), 0);
  rec_close(r);
  assert_int_equal(rec_run_statuses(t.db, keys, 3, st16, err, sizeof err), 0);
  assert_string_equal(st16[0], "");
  assert_string_equal(st16[1], "timeout");
  assert_string_equal(st16[2], "");
  tmp_remove(&t);
}

static void test_begin_replaces_unfinished(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17], other_key[17];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  int64_t other = begin_with_data(r, "bystander", 0, 300, other_key);
  const run_status before[] = {RUN_STATUS_COUNT /* left running */, RUN_INTERRUPTED, RUN_TIMEOUT,
                               RUN_CRASHED};
  for (int i = 0; i < 4; i++) {
    int64_t old = begin_with_data(r, "again", 0, 500, key);
    if (before[i] != RUN_STATUS_COUNT)
      assert_int_equal(rec_run_mark(r, key, before[i], "x", err, sizeof err), 0);
    int64_t id = begin_with_data(r, "again", 0, 200, key);
    assert_true(id > old);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE key = '%s'", key);
    assert_int_equal(q_int(t.db, sql), 1);
    assert_int_equal(count_rows(t.db, "runs", old), 0);
    assert_int_equal(count_rows(t.db, "steps", old), 0);
    assert_int_equal(count_rows(t.db, "evals", old), 0);
    assert_int_equal(count_rows(t.db, "events", old), 0);
    assert_int_equal(count_rows(t.db, "placement", old), 0);
    assert_int_equal(count_rows(t.db, "steps", id), 200);
    /* a writer still holding the old id cannot write into anything */
    step_rec one;
    seq_rec(&one, 0, 1);
    assert_int_equal(rec_steps(r, old, &one, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    run_result res = {.status = RUN_OK};
    assert_int_equal(rec_run_end(r, old, &res, err, sizeof err), -1);
    /* leave the new one running for the next round (it is replaced again) */
  }
  /* the bystander was never touched */
  assert_int_equal(count_rows(t.db, "steps", other), 300);
  assert_int_equal(count_rows(t.db, "evals", other), 3);

  /* a run with a result is never replaced */
  int64_t id = begin_with_data(r, "kept", 0, 50, key);
  run_result res = {.status = RUN_DIVERGED};
  assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
  run_spec s;
  test_spec(&s, "kept", 0, key);
  int64_t id2 = -1;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id2, err, sizeof err), -1);
  assert_non_null(strstr(err, key));
  assert_non_null(strstr(err, "already finished"));
  assert_int_equal(count_rows(t.db, "steps", id), 50);
  rec_close(r);
  tmp_remove(&t);
}

static void test_mark_deletes_partial_rows(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", k1[17], k2[17], k3[17], txt[256], sql[256];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  int64_t a = begin_with_data(r, "dies", 0, 3000, k1);
  int64_t b = begin_with_data(r, "lives", 0, 700, k2);
  int64_t c = begin_with_data(r, "ended", 0, 400, k3);
  run_result res = {.status = RUN_OK};
  assert_int_equal(rec_run_end(r, c, &res, err, sizeof err), 0);

  assert_int_equal(rec_run_mark(r, k1, RUN_CRASHED, "signal 11 (Segmentation fault)", err,
                                sizeof err), 0);
  snprintf(sql, sizeof sql, "SELECT status || ': ' || why FROM runs WHERE run_id = %lld",
           (long long)a);
  q_text(t.db, sql, txt, sizeof txt);
  assert_string_equal(txt, "crashed: signal 11 (Segmentation fault)");
  assert_int_equal(count_rows(t.db, "runs", a), 1);
  assert_int_equal(count_rows(t.db, "steps", a), 0);
  assert_int_equal(count_rows(t.db, "evals", a), 0);
  assert_int_equal(count_rows(t.db, "events", a), 0);
  assert_int_equal(count_rows(t.db, "placement", a), 0);
  /* the other runs keep everything */
  assert_int_equal(count_rows(t.db, "steps", b), 700);
  assert_int_equal(count_rows(t.db, "steps", c), 400);
  /* a marked run takes no more rows */
  eval_rec e = {1, 1, 0, 0, 0, 0};
  assert_int_equal(rec_evals(r, a, &e, 1, err, sizeof err), -1);
  assert_non_null(strstr(err, "crashed"));

  /* marking a run that already ended keeps its result and its rows */
  assert_int_equal(rec_run_mark(r, k3, RUN_TIMEOUT, "late", err, sizeof err), 0);
  snprintf(sql, sizeof sql, "SELECT status FROM runs WHERE run_id = %lld", (long long)c);
  q_text(t.db, sql, txt, sizeof txt);
  assert_string_equal(txt, "ok");
  assert_int_equal(count_rows(t.db, "steps", c), 400);

  assert_int_equal(rec_run_mark(r, "ffffffffffffffff", RUN_CRASHED, NULL, err, sizeof err), -1);
  assert_non_null(strstr(err, "no run with key"));
  rec_close(r);
  tmp_remove(&t);
}

static void test_run_info_and_host(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17], txt[512], sql[256];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  test_spec(&s, "info", 0, key);
  s.seed = UINT64_MAX - 5; /* above INT64_MAX: kept exact */
  spec_key(&s, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, "<topology/>", "{\"engine\":\"x\"}", &id, err,
                                 sizeof err), 0);
  q_text(t.db, "SELECT seed FROM runs", txt, sizeof txt);
  assert_string_equal(txt, "18446744073709551610");
  q_text(t.db, "SELECT json_extract(versions, '$.sqlite') FROM runs", txt, sizeof txt);
  assert_string_equal(txt, sqlite3_libversion());
  q_text(t.db, "SELECT json_extract(versions, '$.engine') FROM runs", txt, sizeof txt);
  assert_string_equal(txt, "x");
  q_text(t.db, "SELECT json_extract(versions, '$.openblas') FROM runs", txt, sizeof txt);
  assert_non_null(strstr(txt, "OpenBLAS"));
  q_text(t.db, "SELECT json_extract(versions, '$.blas') FROM runs", txt, sizeof txt);
  assert_non_null(strstr(txt, openblas_get_corename()));
  assert_int_equal(rec_run_info(r, id, NULL, "{\"hwloc\":\"2.9.0\"}", err, sizeof err), 0);
  q_text(t.db, "SELECT json_extract(versions, '$.hwloc') || ' ' ||"
               " json_extract(versions, '$.engine') || ' ' || topology_xml FROM runs",
         txt, sizeof txt);
  assert_string_equal(txt, "2.9.0 x <topology/>");
  assert_int_equal(rec_run_info(r, id, "<t2/>", "hwloc 2.9", err, sizeof err), 0);
  q_text(t.db, "SELECT json_extract(versions, '$.other') || ' ' || topology_xml FROM runs", txt,
         sizeof txt);
  assert_string_equal(txt, "hwloc 2.9 <t2/>");

  /* host metadata */
  char host[256] = "";
  gethostname(host, sizeof host);
  q_text(t.db, "SELECT host FROM runs", txt, sizeof txt);
  assert_string_equal(txt, host);
  snprintf(sql, sizeof sql, "SELECT pid FROM runs WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_int(t.db, sql), getpid());
  q_text(t.db, "SELECT cpu_model FROM runs", txt, sizeof txt);
  assert_true(strlen(txt) > 0);
  /* git commit: what git says about this checkout, or "unknown" outside one */
  q_text(t.db, "SELECT git_commit FROM runs", txt, sizeof txt);
  char head[128] = "";
  FILE *g = popen("git rev-parse HEAD 2>/dev/null", "r");
  if (g) {
    if (!fgets(head, sizeof head, g)) head[0] = '\0';
    pclose(g);
  }
  head[strcspn(head, "\n")] = '\0';
  if (strlen(head) == 40) assert_memory_equal(txt, head, 40);
  else assert_string_equal(txt, "unknown");
  q_text(t.db, "SELECT started_at LIKE '____-__-__T__:__:__.___Z' FROM runs", txt, sizeof txt);
  assert_string_equal(txt, "1");
  rec_close(r);
  tmp_remove(&t);
}

/* rec_run_claim, the runner's begin: a live claimer's run is never taken,
 * a dead one's (process gone, pid reused, other boot) is, a failed attempt
 * only by the caller that chose to retry exactly it, a result never. */
static void test_claim_rules(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "", key[17], note[512], sql[512], boot[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  assert_non_null(f);
  assert_non_null(fgets(boot, sizeof boot, f));
  fclose(f);
  boot[strcspn(boot, "\n")] = '\0';
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  test_spec(&s, "claim", 0, key);
  int64_t id = 0, id2 = 0, seen = 0;
  char st[32];
  assert_int_equal(rec_run_lookup(r, key, &seen, st, sizeof st, err, sizeof err), 0);
  assert_int_equal(seen, 0);
  /* absent: claimed, by this process (host, pid, claim with our start time) */
  assert_int_equal(rec_run_claim(r, &s, key, 0, &id, note, sizeof note, err, sizeof err),
                   REC_CLAIM_OK);
  snprintf(sql, sizeof sql, "SELECT pid = %ld AND claim LIKE '%s %ld %%' FROM runs WHERE run_id = %lld",
           (long)getpid(), boot, (long)getpid(), (long long)id);
  assert_int_equal(q_int(t.db, sql), 1);
  /* running, claimer alive (this process): not touched */
  assert_int_equal(rec_run_claim(r, &s, key, id, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_LIVE);
  assert_non_null(strstr(note, "being run by pid"));
  /* the same pid with another start time: reused, so the claimer is gone */
  snprintf(sql, sizeof sql, "UPDATE runs SET claim = '%s %ld 1' WHERE run_id = %lld", boot,
           (long)getpid(), (long long)id);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, id, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_OK);
  assert_true(id2 > id);
  assert_non_null(strstr(note, "is gone"));
  /* another boot: gone */
  snprintf(sql, sizeof sql, "UPDATE runs SET claim = 'other-boot %ld 5' WHERE run_id = %lld",
           (long)getpid(), (long long)id2);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, id2, &id, note, sizeof note, err, sizeof err),
                   REC_CLAIM_OK);
  /* another host: cannot be told, not touched */
  snprintf(sql, sizeof sql, "UPDATE runs SET host = 'elsewhere' WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, id, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_REMOTE);
  /* crashed: retried only by the caller that saw exactly this attempt */
  snprintf(sql, sizeof sql, "UPDATE runs SET status = 'crashed' WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, id - 1, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_DONE);
  assert_non_null(strstr(note, "retried by another process"));
  assert_int_equal(rec_run_claim(r, &s, key, id, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_OK);
  /* interrupted: anyone may redo it */
  snprintf(sql, sizeof sql, "UPDATE runs SET status = 'interrupted' WHERE run_id = %lld",
           (long long)id2);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, 0, &id, note, sizeof note, err, sizeof err),
                   REC_CLAIM_OK);
  /* a result: never replaced */
  snprintf(sql, sizeof sql, "UPDATE runs SET status = 'ok' WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_exec(t.db, sql), 0);
  assert_int_equal(rec_run_claim(r, &s, key, id, &id2, note, sizeof note, err, sizeof err),
                   REC_CLAIM_DONE);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM runs"), 1);
  rec_close(r);
  tmp_remove(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifecycle),
      cmocka_unit_test(test_finished_semantics),
      cmocka_unit_test(test_run_state_table),
      cmocka_unit_test(test_begin_replaces_unfinished),
      cmocka_unit_test(test_mark_deletes_partial_rows),
      cmocka_unit_test(test_run_info_and_host),
      cmocka_unit_test(test_claim_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
