/* rec.c - the recorder's handle: rec_open (what the file is, the open-files
 * registry, WAL, schema upgrade), rec_probe, rec_inspect, rec_close, and the
 * transaction helpers every recorder file uses (rec_db.h lists the files).
 *
 * SQLite settings and why (measured by bench/bench_rec.c, numbers in EXPERIMENTS.md "Recorder"):
 * - WAL + synchronous=NORMAL: readers (plots, a second sweep) never block the
 *   writer, and a commit does not fsync (a checkpoint does); an application
 *   crash never loses a committed transaction.
 * - Every write is one BEGIN IMMEDIATE transaction: the write lock is taken up
 *   front, so two processes cannot deadlock upgrading read locks, and the busy
 *   timeout makes the second one wait instead of failing.
 * - Steps go in as compressed chunks of 4096 records (rec_steps.c), one
 *   INSERT of one BLOB per chunk, many chunks per transaction.
 * - run_id is AUTOINCREMENT, so the id of a deleted run is never reused: a
 *   writer holding a stale id can never write into another run (every write
 *   also checks, inside its transaction, that its run is still 'running'). */
#define _GNU_SOURCE
#include "rec.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "host.h"
#include "rec_db.h"
#include "rec_steps.h"

int rec_db_err(const rec *r, char *err, size_t errlen, const char *what) {
  return psgd_err(err, errlen, "%s: %s: %s", r->path, what, sqlite3_errmsg(r->db));
}

void rec_db_rollback(rec *r) {
  if (!sqlite3_get_autocommit(r->db)) sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

int rec_db_exec(rec *r, const char *sql, const char *what, char *err, size_t errlen) {
  if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return rec_db_err(r, err, errlen, what);
  return 0;
}

int rec_db_begin(rec *r, char *err, size_t errlen) {
  return rec_db_exec(r, "BEGIN IMMEDIATE", "cannot start a write transaction", err, errlen);
}

int rec_db_commit(rec *r, char *err, size_t errlen) {
  if (rec_db_exec(r, "COMMIT", "cannot commit", err, errlen)) {
    rec_db_rollback(r);
    return -1;
  }
  return 0;
}

int rec_db_prepare(rec *r, sqlite3_stmt **st, const char *sql, char *err, size_t errlen) {
  if (*st) return 0;
  if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
    return rec_db_err(r, err, errlen, "cannot prepare a statement");
  return 0;
}

int rec_db_check_running(rec *r, int64_t run_id, char *err, size_t errlen) {
  if (rec_db_prepare(r, &r->st_status, "SELECT status FROM runs WHERE run_id = ?1", err, errlen))
    return -1;
  sqlite3_bind_int64(r->st_status, 1, run_id);
  int rc = sqlite3_step(r->st_status);
  int out = 0;
  if (rc == SQLITE_ROW) {
    const char *st = (const char *)sqlite3_column_text(r->st_status, 0);
    if (!st || strcmp(st, "running") != 0)
      out = psgd_err(err, errlen, "%s: run %lld is not running (status '%s'): it was ended, "
                     "marked or restarted elsewhere", r->path, (long long)run_id, st ? st : "");
  } else if (rc == SQLITE_DONE) {
    out = psgd_err(err, errlen, "%s: run %lld does not exist (restarted by another process?)",
                   r->path, (long long)run_id);
  } else {
    out = rec_db_err(r, err, errlen, "cannot read a run's status");
  }
  sqlite3_reset(r->st_status);
  return out;
}

static rec *open_impl(const char *path, int may_create, char *err, size_t errlen);

rec *rec_open(const char *path, char *err, size_t errlen) {
  return open_impl(path, 1, err, errlen);
}

rec *rec_open_existing(const char *path, char *err, size_t errlen) {
  return open_impl(path, 0, err, errlen);
}

/* may_create 0: the file must exist (SQLite's open without CREATE, so
 * nothing can create it between a check and the open). A path this process
 * holds open already is never created either. */
static rec *open_impl(const char *path, int may_create, char *err, size_t errlen) {
  (void)host_get();
  rec_steps_auto_register();
  rec *r = calloc(1, sizeof *r);
  if (!r || !(r->path = strdup(path))) {
    free(r);
    psgd_err(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  rec_files_lock();
  if (rec_files_vanished(path, err, errlen) ||
      (!rec_files_held(path) && rec_sniff_check(path, err, errlen))) {
    rec_files_unlock();
    goto out_with_rec;
  }
  /* NOMUTEX: one handle per thread (rec.h), so SQLite's own mutex is waste. */
  if (rec_files_path_held(path)) may_create = 0;
  int rc = sqlite3_open_v2(path, &r->db,
                           SQLITE_OPEN_READWRITE | (may_create ? SQLITE_OPEN_CREATE : 0) |
                               SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    rec_files_unlock();
    struct stat gone;
    if (!may_create && stat(path, &gone) != 0 && errno == ENOENT)
      psgd_err(err, errlen, "%s: the database does not exist (deleted while in use?): not "
               "creating a new one", path);
    else if (r->db) rec_db_err(r, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    goto out_with_rec;
  }
  rc = rec_files_register(r, err, errlen);
  rec_files_unlock();
  if (rc) goto out_with_rec;
  sqlite3_extended_result_codes(r->db, 1);
  sqlite3_busy_timeout(r->db, REC_BUSY_MS);
  /* Identify before changing anything: a foreign database stays untouched. */
  int version;
  if (rec_schema_identify(r, &version, err, errlen)) goto out_with_rec;
  if (rec_schema_set_wal(r, err, errlen)) goto out_with_rec;
  if (rec_db_exec(r, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864;"
              "PRAGMA cache_size = -65536",
           "cannot set pragmas", err, errlen))
    goto out_with_rec;
  if (rec_schema_migrate(r, err, errlen)) goto out_with_rec;
  /* Walk the right edge of the big tables: a truncated or damaged file that
   * passed the header checks usually fails here, at open, with a clear error. */
  int dummy;
  if (rec_schema_read_int(r, "SELECT max(run_id) FROM runs", &dummy, err, errlen) ||
      rec_schema_read_int(r, "SELECT max(rowid) FROM step_chunks", &dummy, err, errlen) ||
      rec_schema_read_int(r, "SELECT max(rowid) FROM evals", &dummy, err, errlen))
    goto out_with_rec;
  return r;
out_with_rec:
  rec_close(r);
  return NULL;
}

int rec_probe(const char *path, char *err, size_t errlen) {
  (void)host_get();
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return 0;
    return psgd_err(err, errlen, "%s: %s", path, strerror(errno));
  }
  rec_files_lock();
  int bad = !rec_files_held(path) && rec_sniff_check(path, err, errlen);
  rec_files_unlock();
  if (bad) return -1;
  if (st.st_size == 0) return 0;
  rec r0;
  memset(&r0, 0, sizeof r0);
  r0.path = (char *)path;
  int rc = sqlite3_open_v2(path, &r0.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    if (r0.db) rec_db_err(&r0, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    sqlite3_close(r0.db);
    return -1;
  }
  sqlite3_extended_result_codes(r0.db, 1);
  sqlite3_busy_timeout(r0.db, 5000);
  int version;
  int out = rec_schema_identify(&r0, &version, err, errlen);
  sqlite3_close(r0.db);
  return out;
}

void rec_close(rec *r) {
  if (!r) return;
  rec_steps_writer_free(&r->steps);
  sqlite3_finalize(r->st_eval);
  sqlite3_finalize(r->st_event);
  sqlite3_finalize(r->st_place);
  sqlite3_finalize(r->st_status);
  sqlite3_close(r->db);
  rec_files_unregister(r);
  free(r->path);
  free(r);
}

const char *rec_path(const rec *r) { return r->path; }

int rec_inspect(const char *path, int *version, char *err, size_t errlen) {
  rec r = {0};
  r.path = (char *)path;
  struct stat st;
  if (stat(path, &st) != 0)
    return psgd_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
  rec_files_lock();
  if (!rec_files_held(path) && rec_sniff_check(path, err, errlen)) {
    rec_files_unlock();
    return -1;
  }
  /* Read-write (no CREATE) only so that the last close removes the -wal and
   * -shm files (a read-only connection leaves them behind); query_only keeps
   * the file unchanged. A write-protected file is opened read-only. */
  int rc = sqlite3_open_v2(path, &r.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  rec_files_unlock();
  int out = -1;
  if (rc != SQLITE_OK) {
    if (r.db) rec_db_err(&r, err, errlen, "cannot open");
    else psgd_err(err, errlen, "%s: cannot open (out of memory)", path);
    goto out_with_db;
  }
  sqlite3_extended_result_codes(r.db, 1);
  sqlite3_busy_timeout(r.db, REC_BUSY_MS);
  if (rec_db_exec(&r, "PRAGMA query_only = 1", "cannot set query_only", err, errlen))
    goto out_with_db;
  if (rec_schema_identify(&r, version, err, errlen)) goto out_with_db;
  out = 0;
out_with_db:
  sqlite3_close(r.db);
  return out;
}
