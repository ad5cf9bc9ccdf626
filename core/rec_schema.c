/* rec_schema.c - the results.db schema: its DDL as a list of migrations,
 * the upgrade of an older file, the views of plots/views.sql, and telling a
 * psgd results database from another program's (see rec.h "Versioning"). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "rec_db.h"
#include "rec_steps.h"

/* plots/views.sql, embedded by the Makefile (build/gen/views_sql.c). */
extern const char rec_views_sql[];

/* ------------------------------------------------------------------------ */
/* Schema. migrations[v] brings a database from user_version v to v + 1; the
 * program's version is the number of entries. Never edit an entry that has
 * shipped: append one. */

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE runs ("
    "  run_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key TEXT NOT NULL UNIQUE,"           /* spec_key: hash of spec JSON + repetition */
    "  experiment TEXT, label TEXT,"
    "  spec TEXT,"                          /* canonical JSON (spec_to_json) */
    "  algorithm TEXT,"
    "  sync TEXT,"                          /* the dispatcher's name, async|interval|sync
                                               (coarse-grained synchronization; the column
                                               keeps its first name so that old databases
                                               and the plots agree; v_runs: dispatcher) */
    "  store TEXT,"                         /* fine-grained: hogwild|mutex|rwlock|leashed */
    "  backoff TEXT, y_control TEXT, optimizer TEXT,"
    "  threads INTEGER, placement TEXT, dataset TEXT, model TEXT, batch INTEGER,"
    "  lr REAL, momentum REAL, y0 INTEGER,"
    "  seed,"                               /* no affinity: integer, or exact text > INT64_MAX */
    "  repetition INTEGER,"
    "  target_acc REAL, epsilon REAL,"
    "  status TEXT NOT NULL CHECK (status IN ('running','ok','converged','diverged',"
    "                                         'timeout','crashed','interrupted')),"
    "  why TEXT,"                           /* rec_run_mark's reason */
    "  started_at TEXT, ended_at TEXT,"     /* UTC, ISO 8601 */
    "  wall_s REAL, flush_s REAL,"
    "  steps_started INTEGER, steps_accepted INTEGER, epochs REAL,"
    "  initial_loss REAL, final_train_loss REAL, final_test_loss REAL,"
    "  final_test_acc REAL, best_test_acc REAL, pinned INTEGER,"
    "  git_commit TEXT, host TEXT, cpu_model TEXT, pid INTEGER,"
    "  topology_xml TEXT, versions TEXT"    /* versions: JSON object */
    ");"
    "CREATE TABLE steps ("
    "  run_id INTEGER NOT NULL, step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,"
    "  t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,"
    "  staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER,"
    "  loss REAL);"
    /* Rows arrive in increasing rowid and run_id, so this index grows at its
     * right edge (bench_rec measures the cost against no index). */
    "CREATE INDEX steps_run ON steps(run_id);"
    "CREATE TABLE evals ("
    "  run_id INTEGER NOT NULL, t_ns INTEGER, steps_accepted INTEGER, epoch REAL,"
    "  train_loss REAL, test_loss REAL, test_acc REAL);"
    "CREATE INDEX evals_run ON evals(run_id, t_ns);"
    "CREATE TABLE events ("
    "  run_id INTEGER NOT NULL, t_ns INTEGER, kind TEXT, value REAL, detail TEXT);"
    "CREATE INDEX events_run ON events(run_id, t_ns);"
    "CREATE TABLE placement ("
    "  run_id INTEGER NOT NULL, worker INTEGER, pu_os INTEGER, core INTEGER, node INTEGER,"
    "  package INTEGER, bound INTEGER);"
    "CREATE INDEX placement_run ON placement(run_id, worker);"
    /* Accuracy thresholds for v_time_to_acc, filled by users or figure scripts. */
    "CREATE TABLE acc_thresholds (acc REAL PRIMARY KEY);"
    /* Small facts about the database itself (views_hash: see load_views). */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
    /* 1 -> 2: who holds a 'running' row ("boot_id pid starttime" of the
     * claiming process on runs.host), so that another sweep can tell a live
     * claimer from a dead one whose pid was reused (see claimer_alive). */
    "ALTER TABLE runs ADD COLUMN claim TEXT;",
    /* 2 -> 3: steps in compressed chunks (rec_steps.h); rec_steps_upgrade_rows
     * then moves the old rows over and replaces the table by the view steps. */
    "CREATE TABLE step_chunks ("
    "  chunk_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX step_chunks_run ON step_chunks(run_id);",
    /* 3 -> 4: the Slurm allocation a run ran in (JSON, NULL outside Slurm). */
    "ALTER TABLE runs ADD COLUMN alloc TEXT;",
    /* 4 -> 5: the execution clock (real | virtual) and, under the virtual
     * clock, its step-time model; NULL clock in older rows means real */
    "ALTER TABLE runs ADD COLUMN clock TEXT;"
    "ALTER TABLE runs ADD COLUMN step_time TEXT;",
};
#define REC_SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

int rec_schema_version(void) { return REC_SCHEMA_VERSION; }


/* Maps the error of the first reads to a message naming the file. */
static int schema_open_err(rec *r, int rc, char *err, size_t errlen) {
  int prim = rc & 0xff;
  if (prim == SQLITE_NOTADB)
    return psgd_err(err, errlen, "%s: not an SQLite database (%s)", r->path, sqlite3_errmsg(r->db));
  if (prim == SQLITE_CORRUPT)
    return psgd_err(err, errlen, "%s: the database is corrupt (%s); check it with: sqlite3 %s "
                    "'PRAGMA integrity_check'", r->path, sqlite3_errmsg(r->db), r->path);
  return rec_db_err(r, err, errlen, "cannot read the database");
}

int rec_schema_read_int(rec *r, const char *sql, int *out, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      *out = 0;
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK) {
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    return schema_open_err(r, e, err, errlen);
  }
  sqlite3_finalize(st);
  return 0;
}

/* What a database holds: its ids and whether it has any table at all. */
typedef struct {
  int app_id, version, n_tables;
} db_kind;

/* One statement, so one snapshot: read as three, another process creating
 * the schema in between made a new file look like "another program's
 * database" (tables but application_id 0; seen once in test_rec_fork). */
static int read_kind(rec *r, db_kind *k, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(r->db,
                              "SELECT (SELECT application_id FROM pragma_application_id),"
                              " (SELECT user_version FROM pragma_user_version),"
                              " (SELECT count(*) FROM sqlite_master WHERE type = 'table')",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    return schema_open_err(r, e, err, errlen);
  }
  k->app_id = sqlite3_column_int(st, 0);
  k->version = sqlite3_column_int(st, 1);
  k->n_tables = sqlite3_column_int(st, 2);
  sqlite3_finalize(st);
  return 0;
}

static int check_kind(rec *r, const db_kind *k, char *err, size_t errlen) {
  if (k->app_id != REC_APP_ID && (k->app_id != 0 || k->n_tables > 0 || k->version > 0))
    return psgd_err(err, errlen, "%s: an SQLite database of another program (application_id "
                    "%d, %d tables), not a psgd results database", r->path, k->app_id,
                    k->n_tables);
  if (k->version > REC_SCHEMA_VERSION)
    return psgd_err(err, errlen, "%s: schema version %d is newer than this program's (%d): "
                    "use the psgd that wrote it, or another database", r->path, k->version,
                    REC_SCHEMA_VERSION);
  return 0;
}

int rec_schema_identify(rec *r, int *version, char *err, size_t errlen) {
  db_kind k = {0};
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) return -1;
  *version = k.version;
  return 0;
}

static uint64_t fnv1a(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* 1 if the database's views were made from another views.sql than ours. */
static int views_stale(rec *r, const char *hash, int *stale, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key = 'views_hash'", -1, &st,
                         NULL) != SQLITE_OK)
    return rec_db_err(r, err, errlen, "cannot read meta");
  int rc = sqlite3_step(st);
  *stale = !(rc == SQLITE_ROW && sqlite3_column_text(st, 0) &&
             !strcmp((const char *)sqlite3_column_text(st, 0), hash));
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rec_db_err(r, err, errlen, "cannot read meta");
  return 0;
}

/* Brings schema and views up to date. Reads first and takes the write lock
 * only when something is to be done, re-reading under the lock: two
 * processes opening a new file at once create the schema once. */
int rec_schema_migrate(rec *r, char *err, size_t errlen) {
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)fnv1a(rec_views_sql));
  db_kind k = {0};
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) return -1;
  int stale = 1;
  if (k.version == REC_SCHEMA_VERSION && views_stale(r, hash, &stale, err, errlen)) return -1;
  if (k.version == REC_SCHEMA_VERSION && !stale) return 0;

  if (rec_db_begin(r, err, errlen)) return -1;
  if (read_kind(r, &k, err, errlen) || check_kind(r, &k, err, errlen)) goto out_rollback;
  for (int v = k.version; v < REC_SCHEMA_VERSION; v++) {
    char what[64];
    snprintf(what, sizeof what, "cannot upgrade the schema to version %d", v + 1);
    if (rec_db_exec(r, migrations[v], what, err, errlen)) goto out_rollback;
    if (v == 2 && rec_steps_upgrade_rows(r->db, r->path, err, errlen)) goto out_rollback;
  }
  char sql[160];
  snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d", REC_APP_ID,
           REC_SCHEMA_VERSION);
  if (rec_db_exec(r, sql, "cannot set the schema version", err, errlen)) goto out_rollback;
  if (views_stale(r, hash, &stale, err, errlen)) goto out_rollback;
  if (stale) {
    if (rec_db_exec(r, rec_views_sql, "cannot create the views of plots/views.sql", err, errlen))
      goto out_rollback;
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES ('views_hash', '%s')", hash);
    if (rec_db_exec(r, sql, "cannot write meta", err, errlen)) goto out_rollback;
  }
  return rec_db_commit(r, err, errlen);
out_rollback:
  rec_db_rollback(r);
  return -1;
}

/* journal_mode=WAL needs a moment of exclusive access; another process
 * opening the same new file can make it fail with SQLITE_BUSY without the
 * busy handler, so retry for a while. */
int rec_schema_set_wal(rec *r, char *err, size_t errlen) {
  for (int tries = 0;; tries++) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const char *mode = (const char *)sqlite3_column_text(st, 0);
      int ok = mode && !strcmp(mode, "wal");
      sqlite3_finalize(st);
      if (!ok)
        return psgd_err(err, errlen, "%s: cannot switch to WAL mode (journal mode stays '%s')",
                        r->path, mode ? mode : "?");
      return 0;
    }
    int e = sqlite3_extended_errcode(r->db);
    sqlite3_finalize(st);
    if ((e & 0xff) != SQLITE_BUSY || tries >= 2000) return schema_open_err(r, e, err, errlen);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}
