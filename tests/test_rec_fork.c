/* test_rec_fork.c - processes and the database: two forked processes create
 * and write the same (new) database at the same moment, each with its own
 * handle, runs and step rows; both succeed, every row is there, and the file
 * passes PRAGMA integrity_check. Also: a child reads its git commit from
 * $PSGD_GIT_COMMIT (the first rec_open of a process reads the host facts).
 * And: a second handle on a file (the engine's writer thread opens one) keeps
 * the first handle's POSIX lock, which a forked process checks from outside.
 * Children report through their exit status only (no cmocka in a child). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <fcntl.h>

#include "test_rec_util.h"

#define RUNS 4
#define ROWS 40000
#define BATCH 5000

/* One writer process: RUNS runs of ROWS steps (in batches, so the two
 * processes' transactions interleave) plus evals, each ended 'ok'. */
static int child_write(const char *db, int who, int start_fd) {
  char go;
  if (read(start_fd, &go, 1) != 1) return 10; /* start together */
  char err[512] = "";
  rec *r = rec_open(db, err, sizeof err);
  if (!r) {
    fprintf(stderr, "child %d: %s\n", who, err);
    return 11;
  }
  step_rec *v = calloc(BATCH, sizeof *v);
  for (int k = 0; k < RUNS; k++) {
    char label[32], key[17];
    snprintf(label, sizeof label, "proc%d", who);
    run_spec s;
    test_spec(&s, label, k, key);
    int64_t id;
    if (rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err)) goto fail;
    for (uint64_t i = 0; i < ROWS; i += BATCH) {
      for (int j = 0; j < BATCH; j++) seq_rec(&v[j], who, i + (uint64_t)j);
      if (rec_steps(r, id, v, BATCH, err, sizeof err)) goto fail;
    }
    eval_rec e = {1000, ROWS, 0.1, 1.0, 1.0, 0.5};
    if (rec_evals(r, id, &e, 1, err, sizeof err)) goto fail;
    run_result res = {.status = RUN_OK, .steps_accepted = ROWS};
    if (rec_run_end(r, id, &res, err, sizeof err)) goto fail;
  }
  free(v);
  rec_close(r);
  return 0;
fail:
  fprintf(stderr, "child %d: %s\n", who, err);
  free(v);
  rec_close(r);
  return 12;
}

static void test_two_processes_write_at_once(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  int start[2];
  assert_int_equal(pipe(start), 0);
  pid_t pid[2];
  for (int c = 0; c < 2; c++) {
    pid[c] = fork();
    assert_true(pid[c] >= 0);
    if (pid[c] == 0) {
      close(start[1]);
      _exit(child_write(t.db, c, start[0]));
    }
  }
  close(start[0]);
  /* both children are blocked on the pipe: release them together */
  assert_int_equal(write(start[1], "gg", 2), 2);
  close(start[1]);
  for (int c = 0; c < 2; c++) {
    int st;
    while (waitpid(pid[c], &st, 0) < 0 && errno == EINTR) {
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  char txt[64];
  q_text(t.db, "PRAGMA integrity_check", txt, sizeof txt);
  assert_string_equal(txt, "ok");
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM runs WHERE status = 'ok'"), 2 * RUNS);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps"), 2 * RUNS * ROWS);
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM (SELECT run_id FROM steps GROUP BY run_id"
                               " HAVING count(*) = 40000 AND count(DISTINCT step) = 40000)"),
                   2 * RUNS);
  /* rows of a run all come from the process that owns it */
  assert_int_equal(q_int(t.db, "SELECT count(*) FROM steps s JOIN runs r USING (run_id)"
                               " WHERE r.label != 'proc' || s.worker"),
                   0);
  assert_int_equal(q_int(t.db, "SELECT sum(steps) FROM v_acceptance"), 2 * RUNS * ROWS);
  assert_int_equal(q_int(t.db, "PRAGMA user_version"), rec_schema_version());
  tmp_remove(&t);
}

static void test_git_commit_from_environment(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* this process has not opened a rec handle yet: the facts are read now */
    setenv("PSGD_GIT_COMMIT", "abc123-from-env", 1);
    char err[512] = "", key[17];
    rec *r = rec_open(t.db, err, sizeof err);
    if (!r) _exit(1);
    run_spec s;
    test_spec(&s, "env", 0, key);
    int64_t id;
    int rc = rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err);
    rec_close(r);
    _exit(rc ? 2 : 0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  char txt[64];
  q_text(t.db, "SELECT git_commit FROM runs", txt, sizeof txt);
  assert_string_equal(txt, "abc123-from-env");
  tmp_remove(&t);
}

/* 1 if some process other than a freshly forked child holds a lock on the
 * range where SQLite's unix VFS takes SHARED locks (PENDING_BYTE + 2, 510
 * bytes; sqlite3 os_unix.c / the file-format document's "locking" section).
 * In WAL mode every open connection holds it; without it another process's
 * last connection may checkpoint and delete the WAL under that connection. */
static int shared_lock_held(const char *db) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open(db, O_RDWR);
    if (fd < 0) _exit(3);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0x40000000 + 2,
                       .l_len = 510};
    if (fcntl(fd, F_GETLK, &fl) != 0) _exit(4);
    _exit(fl.l_type == F_UNLCK ? 0 : 1);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_second_handle_keeps_first_lock(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[512] = "";
  rec *a = rec_open(t.db, err, sizeof err);
  assert_non_null(a);
  assert_int_equal(shared_lock_held(t.db), 1);
  /* rec_open prechecks a file by reading it with stdio; closing that stream
   * used to drop every lock of this process on the file, a's included */
  rec *b = rec_open(t.db, err, sizeof err);
  assert_non_null(b);
  assert_int_equal(shared_lock_held(t.db), 1);
  rec_close(b);
  assert_int_equal(shared_lock_held(t.db), 1);
  rec_close(a);
  assert_int_equal(shared_lock_held(t.db), 0);
  /* the file is prechecked again once no handle holds it */
  FILE *f = fopen(t.db, "r+b");
  assert_non_null(f);
  assert_int_equal(fwrite("not sqlite", 1, 10, f), 10);
  fclose(f);
  assert_null(rec_open(t.db, err, sizeof err));
  assert_non_null(strstr(err, "not an SQLite database"));
  tmp_remove(&t);
}

int main(void) {
  /* Order matters: the environment test forks before this process has read
   * its host facts (no rec_open in the parent until then). */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_git_commit_from_environment),
      cmocka_unit_test(test_two_processes_write_at_once),
      cmocka_unit_test(test_second_handle_keeps_first_lock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
