/* test_rec_schema.c - the recorder's schema: creation, versioning, views
 * embedded from plots/views.sql, and refusal of files that are not our
 * database (text, PNG, another program's SQLite file, a newer schema, a
 * truncated or corrupt database), each with an error naming the file. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "test_rec_util.h"

static void test_creates_schema_and_views(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  assert_string_equal(rec_path(r), t.db);
  rec_close(r);
  const char *tables[] = {"runs", "step_chunks", "evals", "events", "placement", "acc_thresholds",
                          "meta"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
             tables[i]);
    assert_int_equal(q_int(t.db, sql), 1);
  }
  const char *views[] = {"steps", "v_done",        "v_runs",         "v_acceptance",       "v_staleness_hist",
                         "v_staleness_summary", "v_staleness_worker", "v_acc_curve",
                         "v_loss_curve",  "v_time_to_acc",  "v_time_to_loss",     "v_epoch_time",
                         "v_best_acc"};
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='view' AND name='%s'",
             views[i]);
    assert_int_equal(q_int(t.db, sql), 1);
    /* every view compiles and runs on an empty database */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", views[i]);
    assert_int_equal(q_int(t.db, sql), 0);
  }
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name='step_chunks_run'"), 1);
  assert_int_equal(q_int(t.db, "PRAGMA user_version"), rec_schema_version());
  assert_int_equal(q_int(t.db, "PRAGMA application_id"), 0x50534744);
  char mode[32];
  q_text(t.db, "PRAGMA journal_mode", mode, sizeof mode);
  assert_string_equal(mode, "wal");
  /* reopening changes nothing */
  int64_t n_objects = q_int(t.db, "SELECT count(*) FROM sqlite_master");
  r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master"), n_objects);
  tmp_remove(&t);
}

static void test_views_recreated_when_changed(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  /* As if the database had been made by a psgd with an older views.sql. */
  assert_int_equal(q_exec(t.db, "DROP VIEW v_acceptance;"
                                "UPDATE meta SET value = 'old' WHERE key = 'views_hash'"),
                   SQLITE_OK);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name='v_acceptance'"), 0);
  r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE name='v_acceptance'"), 1);
  char h[64];
  q_text(t.db, "SELECT value FROM meta WHERE key='views_hash'", h, sizeof h);
  assert_string_not_equal(h, "old");
  assert_int_equal(strlen(h), 16);
  tmp_remove(&t);
}

/* plots/views.sql is what the binary embeds, and loads by hand (sqlite3 db <
 * plots/views.sql), twice in a row, into a database the recorder made. */
extern const char rec_views_sql[];

static void test_views_sql_loads_by_hand(void **state) {
  (void)state;
  FILE *f = fopen("plots/views.sql", "rb");
  if (!f) skip(); /* run from another folder than the suite's top */
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  assert_string_equal(text, rec_views_sql);
  tmp_place t;
  tmp_make(&t);
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  int64_t views = q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type = 'view'");
  assert_true(views >= 6);
  assert_int_equal(q_exec(t.db, text), SQLITE_OK);
  assert_int_equal(q_exec(t.db, text), SQLITE_OK);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type = 'view'"), views);
  tmp_remove(&t);
}

static void test_newer_schema_refused(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", rec_schema_version() + 1);
  assert_int_equal(q_exec(t.db, sql), SQLITE_OK);
  r = rec_open(t.db, err, sizeof err);
  assert_null(r);
  assert_non_null(strstr(err, t.db));
  assert_non_null(strstr(err, "newer"));
  tmp_remove(&t);
}

/* rec_open must fail with a message that names the file and contains `what`,
 * and must leave the file as it was. */
static void expect_refused(const char *path, const char *what) {
  struct stat before, after;
  assert_int_equal(stat(path, &before), 0);
  char err[512] = "";
  rec *r = rec_open(path, err, sizeof err);
  if (r) rec_close(r);
  assert_null(r);
  if (!strstr(err, path) || !strstr(err, what)) print_error("message: %s\n", err);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, what));
  assert_int_equal(stat(path, &after), 0);
  assert_int_equal(before.st_size, after.st_size);
  assert_int_equal(before.st_mtime, after.st_mtime);
}

static void test_foreign_files_refused(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char p[256];

  snprintf(p, sizeof p, "%s/notes.txt", t.dir);
  const char text[] = "run,acc\n1,0.91\n2,0.93\n";
  write_bytes(p, text, sizeof text - 1);
  expect_refused(p, "not an SQLite database (a text file)");

  snprintf(p, sizeof p, "%s/figure.png", t.dir);
  unsigned char png[200] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'};
  write_bytes(p, png, sizeof png);
  expect_refused(p, "PNG image");

  /* another program's SQLite database */
  snprintf(p, sizeof p, "%s/other.db", t.dir);
  assert_int_equal(q_exec(p, "CREATE TABLE customers (id INTEGER, name TEXT)"), SQLITE_OK);
  expect_refused(p, "another program");

  /* a folder */
  expect_refused(t.dir, "directory");
  tmp_remove(&t);
}

/* A database with a few runs of steps, closed (WAL checkpointed away). */
static void make_db(const char *path) {
  char err[512] = "", key[17];
  rec *r = rec_open(path, err, sizeof err);
  assert_non_null(r);
  for (int k = 0; k < 3; k++) {
    run_spec s;
    test_spec(&s, "trunc", k, key);
    int64_t id;
    assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
    /* 8000 steps with noisy losses and durations, so that the compressed
     * chunks still fill well over 100 KB */
    enum { N = 8000 };
    step_rec *v = calloc(N, sizeof *v);
    uint64_t h = 88172645463325252ull + (uint64_t)k;
    for (int i = 0; i < N; i++) {
      seq_rec(&v[i], i % 4, (uint64_t)i);
      h ^= h << 13, h ^= h >> 7, h ^= h << 17;
      v[i].loss = (float)(h % 1000003) * 1e-5f;
      v[i].t_end_ns += h >> 44;
    }
    assert_int_equal(rec_steps(r, id, v, N, err, sizeof err), 0);
    free(v);
    run_result res = {.status = RUN_OK};
    assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
  }
  rec_close(r);
}

static void copy_prefix(const char *from, const char *to, long n) {
  FILE *f = fopen(from, "rb");
  assert_non_null(f);
  char *buf = malloc((size_t)n);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  write_bytes(to, buf, (size_t)n);
  free(buf);
}

static void test_truncated_and_corrupt_refused(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  make_db(t.db);
  struct stat st;
  assert_int_equal(stat(t.db, &st), 0);
  assert_true(st.st_size > 100 * 1024);
  char p[256];

  snprintf(p, sizeof p, "%s/half.db", t.dir);
  copy_prefix(t.db, p, (long)st.st_size / 2);
  expect_refused(p, "truncated");

  snprintf(p, sizeof p, "%s/stub.db", t.dir);
  copy_prefix(t.db, p, 60);
  expect_refused(p, "truncated");

  /* Same size, but the page after the header page overwritten with noise:
   * the b-trees are damaged. */
  snprintf(p, sizeof p, "%s/noise.db", t.dir);
  copy_prefix(t.db, p, (long)st.st_size);
  FILE *f = fopen(p, "r+b");
  assert_non_null(f);
  unsigned char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
  for (long off = 4096; off + 4096 <= st.st_size; off += 4096) {
    fseek(f, off, SEEK_SET);
    fwrite(junk, 1, sizeof junk, f);
  }
  fclose(f);
  expect_refused(p, "corrupt");
  tmp_remove(&t);
}

static void test_empty_file_is_new_database(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  write_bytes(t.db, "", 0);
  char err[512] = "";
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  rec_close(r);
  assert_int_equal(q_int(t.db, "PRAGMA user_version"), rec_schema_version());
  /* a missing folder: SQLite's message, with the path */
  char p[256];
  snprintf(p, sizeof p, "%s/no/such/folder/x.db", t.dir);
  r = rec_open(p, err, sizeof err);
  assert_null(r);
  assert_non_null(strstr(err, p));
  tmp_remove(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_creates_schema_and_views),
      cmocka_unit_test(test_views_recreated_when_changed),
      cmocka_unit_test(test_views_sql_loads_by_hand),
      cmocka_unit_test(test_newer_schema_refused),
      cmocka_unit_test(test_foreign_files_refused),
      cmocka_unit_test(test_truncated_and_corrupt_refused),
      cmocka_unit_test(test_empty_file_is_new_database),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
