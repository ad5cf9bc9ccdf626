/* test_merge.c - merge_dbs: shards with overlapping run_ids merge into one
 * database holding every finished run once with all its rows (compared row by
 * row, by key, against the shards); merging again leaves the file
 * byte-identical; a conflicting shard is refused and the output stays as it
 * was (or is not created); unfinished runs are not merged and an unfinished
 * row of the output is replaced by a finished one; other schema versions,
 * other schemas, foreign files and the output given as input are refused. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "merge.h"
#include "test_rec_util.h"

/* Adds run (label, rep) with n steps, 2 evals, 1 event, 2 placements and
 * ends it with status st (or leaves it running when st < 0). */
static void add_run(const char *db, const char *label, int rep, size_t n, int st, double acc) {
  char err[512] = "", key[17];
  rec *r = rec_open(db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  test_spec(&s, label, rep, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  step_rec *v = calloc(n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++) seq_rec(&v[i], (int)(i % 4), i + (size_t)rep * 1000);
  assert_int_equal(rec_steps(r, id, v, n, err, sizeof err), 0);
  free(v);
  eval_rec e[2] = {{1000, 10, 0.1, 2.0, 2.1, acc / 2}, {2000, 20, 0.2, 1.0, 1.1, acc}};
  assert_int_equal(rec_evals(r, id, e, 2, err, sizeof err), 0);
  event_rec ev;
  memset(&ev, 0, sizeof ev);
  ev.t_ns = 5;
  snprintf(ev.kind, sizeof ev.kind, "y");
  ev.value = rep;
  assert_int_equal(rec_events(r, id, &ev, 1, err, sizeof err), 0);
  place_rec p[2] = {{0, 0, 0, 0, 0, 1}, {1, 1, 1, 0, 0, 1}};
  assert_int_equal(rec_placement(r, id, p, 2, err, sizeof err), 0);
  if (st >= 0) {
    run_result res;
    memset(&res, 0, sizeof res);
    res.status = (run_status)st;
    res.final_test_acc = res.best_test_acc = acc;
    res.steps_accepted = n;
    assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
  }
  rec_close(r);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every row of table joined to its run key (run_id left out), as sorted lines
 * "key|v1|v2|..."; only runs with a status in `statuses` (SQL list). */
static char **dump(const char *db, const char *table, const char *statuses, int *n) {
  sqlite3 *h;
  assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  char sql[512];
  if (!strcmp(table, "runs"))
    snprintf(sql, sizeof sql, "SELECT key, * FROM runs WHERE status IN (%s)", statuses);
  else
    snprintf(sql, sizeof sql, "SELECT r.key, t.* FROM %s t JOIN runs r USING (run_id) WHERE "
             "r.status IN (%s)", table, statuses);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
  char **lines = NULL;
  *n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    for (int c = 0; c < sqlite3_column_count(st); c++) {
      if (!strcmp(sqlite3_column_name(st, c), "run_id")) continue;
      const unsigned char *t = sqlite3_column_text(st, c);
      sqlite3_str_appendf(s, "%s|", t ? (const char *)t : "<null>");
    }
    lines = realloc(lines, (size_t)(*n + 1) * sizeof *lines);
    lines[(*n)++] = sqlite3_str_finish(s);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  qsort(lines, (size_t)*n, sizeof *lines, cmp_str);
  return lines;
}

static void free_lines(char **l, int n) {
  for (int i = 0; i < n; i++) sqlite3_free(l[i]);
  free(l);
}

#define FIN "'ok','converged','diverged','timeout'"

/* out's rows of table == the union of the finished rows of a and b. */
static void check_union(const char *out, const char *a, const char *b, const char *table) {
  int na, nb, no;
  char **la = dump(a, table, FIN, &na), **lb = dump(b, table, FIN, &nb);
  char **lo = dump(out, table, FIN, &no);
  char **lu = malloc((size_t)(na + nb + 1) * sizeof *lu);
  memcpy(lu, la, (size_t)na * sizeof *lu);
  memcpy(lu + na, lb, (size_t)nb * sizeof *lu);
  qsort(lu, (size_t)(na + nb), sizeof *lu, cmp_str);
  assert_int_equal(no, na + nb);
  for (int i = 0; i < no; i++) assert_string_equal(lo[i], lu[i]);
  free(lu);
  free_lines(la, na);
  free_lines(lb, nb);
  free_lines(lo, no);
}

static char *slurp(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  char *b = malloc(*n + 1);
  assert_int_equal(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void assert_same_bytes(const char *p, const char *q) {
  size_t n1, n2;
  char *a = slurp(p, &n1), *b = slurp(q, &n2);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(n1, n2);
  assert_memory_equal(a, b, n1);
  free(a);
  free(b);
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  char *b = slurp(from, &n);
  assert_non_null(b);
  write_bytes(to, b, n);
  free(b);
}

typedef struct {
  tmp_place t;
  char a[160], b[160], out[160], copy[160];
} fixture;

/* Shards a (3 runs: ok, converged, running) and b (2 runs: diverged,
 * timeout, and one crashed): both number their runs from 1. */
static void make_shards(fixture *f) {
  tmp_make(&f->t);
  snprintf(f->a, sizeof f->a, "%s/a.db", f->t.dir);
  snprintf(f->b, sizeof f->b, "%s/b.db", f->t.dir);
  snprintf(f->out, sizeof f->out, "%s/out.db", f->t.dir);
  snprintf(f->copy, sizeof f->copy, "%s/copy.db", f->t.dir);
  add_run(f->a, "A", 0, 300, RUN_OK, 0.8);
  add_run(f->a, "A", 1, 200, RUN_CONVERGED, 0.9);
  add_run(f->a, "A", 2, 100, -1, 0);
  add_run(f->b, "B", 0, 250, RUN_DIVERGED, 0.1);
  add_run(f->b, "B", 1, 150, RUN_TIMEOUT, 0.5);
  char err[512];
  rec *r = rec_open(f->b, err, sizeof err);
  run_spec s;
  char key[17];
  test_spec(&s, "B", 2, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  assert_int_equal(rec_run_mark(r, key, RUN_CRASHED, "SIGSEGV", err, sizeof err), 0);
  rec_close(r);
  assert_int_equal(q_exec(f->a, "INSERT INTO acc_thresholds VALUES (0.5), (0.7)"), SQLITE_OK);
  assert_int_equal(q_exec(f->b, "INSERT INTO acc_thresholds VALUES (0.7)"), SQLITE_OK);
  assert_int_equal(q_int(f->a, "SELECT min(run_id) FROM runs"), q_int(f->b, "SELECT min(run_id) FROM runs"));
}

static void test_merge_and_idempotent(void **state) {
  (void)state;
  fixture f;
  make_shards(&f);
  const char *in[] = {f.a, f.b};
  merge_stats ms[2];
  char err[1024] = "";
  assert_int_equal(merge_dbs(f.out, in, 2, ms, err, sizeof err), 0);
  assert_int_equal(ms[0].n_runs, 3);
  assert_int_equal(ms[0].n_added, 2);
  assert_int_equal(ms[0].n_unfinished, 1);
  assert_int_equal(ms[1].n_runs, 3);
  assert_int_equal(ms[1].n_added, 2);
  assert_int_equal(ms[1].n_unfinished, 1);
  /* steps + evals + events + placement of the finished runs */
  assert_int_equal(ms[0].n_rows, (300 + 200) + 2 * (2 + 1 + 2));
  assert_int_equal(ms[1].n_rows, (250 + 150) + 2 * (2 + 1 + 2));
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM runs"), 4);
  assert_int_equal(q_int(f.out, "SELECT count(DISTINCT run_id) FROM runs"), 4);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM runs WHERE status NOT IN (" FIN ")"), 0);
  static const char *const tables[] = {"runs", "steps", "evals", "events", "placement"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    check_union(f.out, f.a, f.b, tables[i]);
  /* no row points at a run that is not there */
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM steps WHERE run_id NOT IN (SELECT run_id "
                                "FROM runs)"), 0);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM acc_thresholds"), 2);
  /* the views work on the merged file */
  assert_true(q_int(f.out, "SELECT count(*) FROM sqlite_master WHERE type = 'view'") > 0);

  /* again, same inputs: nothing changes, byte for byte */
  copy_file(f.out, f.copy);
  assert_int_equal(merge_dbs(f.out, in, 2, ms, err, sizeof err), 0);
  assert_int_equal(ms[0].n_same + ms[1].n_same, 4);
  assert_int_equal(ms[0].n_added + ms[1].n_added + ms[0].n_replaced + ms[1].n_replaced, 0);
  assert_int_equal(ms[0].n_rows + ms[1].n_rows, 0);
  assert_same_bytes(f.out, f.copy);
  /* one at a time, in the other order: the same */
  assert_int_equal(merge_dbs(f.out, &in[1], 1, ms, err, sizeof err), 0);
  assert_same_bytes(f.out, f.copy);
  tmp_remove(&f.t);
}

static void test_conflict_leaves_out(void **state) {
  (void)state;
  fixture f;
  make_shards(&f);
  char c[200], c2[200], err[1024] = "";
  snprintf(c, sizeof c, "%s/c.db", f.t.dir);
  snprintf(c2, sizeof c2, "%s/new.db", f.t.dir);
  /* the same key as a's first run, another result */
  add_run(c, "A", 0, 300, RUN_OK, 0.7);
  add_run(c, "C", 0, 10, RUN_OK, 0.7);
  const char *in[] = {f.a, f.b};
  merge_stats ms[3];
  assert_int_equal(merge_dbs(f.out, in, 2, ms, err, sizeof err), 0);
  copy_file(f.out, f.copy);
  const char *in2[] = {c};
  assert_int_equal(merge_dbs(f.out, in2, 1, ms, err, sizeof err), -1);
  assert_non_null(strstr(err, "conflicts"));
  assert_non_null(strstr(err, "unchanged"));
  assert_same_bytes(f.out, f.copy);
  /* a conflict between two inputs: the output is not even created */
  const char *in3[] = {f.a, f.b, c};
  assert_int_equal(merge_dbs(c2, in3, 3, ms, err, sizeof err), -1);
  struct stat st;
  assert_int_not_equal(stat(c2, &st), 0);
  tmp_remove(&f.t);
}

static void test_unfinished_replaced(void **state) {
  (void)state;
  fixture f;
  make_shards(&f);
  char c[200], err[1024] = "";
  /* c has a's running run (A, 2) finished; a has it running */
  snprintf(c, sizeof c, "%s/c.db", f.t.dir);
  add_run(c, "A", 2, 40, RUN_OK, 0.6);
  const char *in[] = {f.a};
  merge_stats ms[1];
  assert_int_equal(merge_dbs(f.out, in, 1, ms, err, sizeof err), 0);
  /* an unfinished row in the output (as a sweep writing into it leaves one) */
  add_run(f.out, "A", 2, 5, -1, 0);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
  const char *in2[] = {c};
  assert_int_equal(merge_dbs(f.out, in2, 1, ms, err, sizeof err), 0);
  assert_int_equal(ms[0].n_replaced, 1);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM runs"), 3);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM runs WHERE status = 'running'"), 0);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM steps JOIN runs USING (run_id) WHERE "
                                "label = 'A' AND repetition = 2"), 40);
  assert_int_equal(q_int(f.out, "SELECT count(*) FROM steps WHERE run_id NOT IN (SELECT run_id "
                                "FROM runs)"), 0);
  tmp_remove(&f.t);
}

static void expect_refused(const char *out, const char *in, const char *text) {
  char err[1024] = "";
  merge_stats ms[1];
  const char *v[] = {in};
  assert_int_equal(merge_dbs(out, v, 1, ms, err, sizeof err), -1);
  if (!strstr(err, text)) fail_msg("error '%s' lacks '%s'", err, text);
}

static void test_refusals(void **state) {
  (void)state;
  fixture f;
  make_shards(&f);
  char p[200];
  const char *in[] = {f.a};
  merge_stats ms[1];
  char err[1024];
  assert_int_equal(merge_dbs(f.out, in, 1, ms, err, sizeof err), 0);
  copy_file(f.out, f.copy);
  /* a newer schema version */
  snprintf(p, sizeof p, "%s/newer.db", f.t.dir);
  copy_file(f.b, p);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", rec_schema_version() + 1);
  assert_int_equal(q_exec(p, sql), SQLITE_OK);
  expect_refused(f.out, p, "newer");
  /* same version, another schema */
  copy_file(f.b, p);
  assert_int_equal(q_exec(p, "ALTER TABLE evals ADD COLUMN extra REAL"), SQLITE_OK);
  expect_refused(f.out, p, "not the same schema");
  /* not a database; another program's database; missing; the output itself */
  snprintf(p, sizeof p, "%s/text.db", f.t.dir);
  write_bytes(p, "hello\n", 6);
  expect_refused(f.out, p, "not an SQLite database");
  snprintf(p, sizeof p, "%s/foreign.db", f.t.dir);
  assert_int_equal(q_exec(p, "CREATE TABLE x (a)"), SQLITE_OK);
  expect_refused(f.out, p, "another program");
  snprintf(p, sizeof p, "%s/absent.db", f.t.dir);
  expect_refused(f.out, p, "cannot open");
  expect_refused(f.out, f.out, "output itself");
  assert_same_bytes(f.out, f.copy);
  tmp_remove(&f.t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_and_idempotent),
      cmocka_unit_test(test_conflict_leaves_out),
      cmocka_unit_test(test_unfinished_replaced),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
