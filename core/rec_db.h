/* rec_db.h - what the recorder's own files share (not for other modules:
 * they use rec.h). The recorder is split by job:
 *   rec.c         the handle: open (checks, registry, WAL, migration), probe,
 *                 inspect, close, and the transaction helpers below
 *   rec_schema.c  the schema (DDL), its migrations and the views of
 *                 plots/views.sql; telling our database from a foreign one
 *   rec_sniff.c   what a file is before SQLite opens it (rec_sniff_check)
 *   rec_files.c   the database files this process holds open (rec_files_*)
 *   rec_run.c     the run lifecycle: begin, claim, info, end, mark, lookups
 *   rec_rows.c    bulk inserts of steps, evals, events, placement; the
 *                 steplog flush
 *   rec_writer.c  the background writer thread
 *   rec_steps.c   the compressed step chunks (rec_steps.h)
 * Host facts (git commit, CPU model, OpenBLAS config, process claims) are
 * host.{h,c}, outside the recorder. */
#ifndef PSGD_REC_DB_H
#define PSGD_REC_DB_H

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "rec.h"
#include "rec_steps.h"

#define REC_APP_ID 0x50534744 /* "PSGD" in PRAGMA application_id */
#define REC_BUSY_MS 120000    /* a long flush of another process may hold the lock */

struct rec {
  sqlite3 *db;
  char *path;
  dev_t dev; /* the file's identity while registered (rec_files.c) */
  ino_t ino;
  int registered;
  rec_steps_writer steps; /* chunk buffer and insert statement */
  sqlite3_stmt *st_eval, *st_event, *st_place, *st_status;
};

/* ---- Transactions and statements (rec.c). Each returns 0, or -1 with err
 * naming r's file and what failed (SQLite's message appended). ---- */
int rec_db_err(const rec *r, char *err, size_t errlen, const char *what);
void rec_db_rollback(rec *r); /* no-op outside a transaction */
int rec_db_exec(rec *r, const char *sql, const char *what, char *err, size_t errlen);
int rec_db_begin(rec *r, char *err, size_t errlen); /* BEGIN IMMEDIATE */
int rec_db_commit(rec *r, char *err, size_t errlen); /* rolls back when COMMIT fails */
/* Prepares *st once (persistent; kept in r, finalized by rec_close). */
int rec_db_prepare(rec *r, sqlite3_stmt **st, const char *sql, char *err, size_t errlen);
/* Inside a transaction: the run exists and is 'running'. A write into a run
 * that another process restarted (same key) or marked must fail, not land. */
int rec_db_check_running(rec *r, int64_t run_id, char *err, size_t errlen);

/* ---- Schema (rec_schema.c) ---- */
/* Reads application_id, user_version and the table count in one snapshot
 * and refuses another program's database or a newer schema (err naming the
 * file). *version: the file's user_version (0: no schema yet). */
int rec_schema_identify(rec *r, int *version, char *err, size_t errlen);
/* Switches to WAL (retrying while another process opens the same new file). */
int rec_schema_set_wal(rec *r, char *err, size_t errlen);
/* Brings schema and views up to date (one write transaction, only when
 * something is to be done). */
int rec_schema_migrate(rec *r, char *err, size_t errlen);
/* Runs a one-value query; a read error is reported as rec_open's first reads
 * are (not SQLite, corrupt: naming the file). */
int rec_schema_read_int(rec *r, const char *sql, int *out, char *err, size_t errlen);

/* ---- Files (rec_sniff.c) ---- */
/* 0 if path is absent, empty, or starts like an SQLite database whose size
 * agrees with its header; -1 with a message naming the file otherwise (a
 * directory, device, PNG, text, truncated or corrupt header, ...). */
int rec_sniff_check(const char *path, char *err, size_t errlen);

/* ---- The open-files registry (rec_files.c). rec_files_lock/unlock take
 * and release its mutex; rec_files_unregister takes it itself; every other
 * function here needs it held. ---- */
void rec_files_lock(void);
void rec_files_unlock(void);
/* 1 if path names a file some rec handle of this process holds open. */
int rec_files_held(const char *path);
/* 1 if this process holds a handle opened by this very path string. */
int rec_files_path_held(const char *path);
/* -1 (err) if this process holds path open and the file at path is gone or
 * another one now. */
int rec_files_vanished(const char *path, char *err, size_t errlen);
/* Counts r's file as open (r->db open, nothing read yet). */
int rec_files_register(rec *r, char *err, size_t errlen);
/* Takes the lock itself; no-op for an unregistered handle. */
void rec_files_unregister(rec *r);

#endif
