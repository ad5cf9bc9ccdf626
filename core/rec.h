/* rec.h - the recorder: results.db (SQLite) schema, run lifecycle, and bulk
 * writing of steps, evals, events and placements.
 *
 * Schema (created in rec_schema.c, which has every column; a contract with plots/):
 *   runs(run_id PK, key UNIQUE, experiment, label, spec JSON, algorithm,
 *        sync (the dispatcher's name: async | interval | sync), store, threads, placement, dataset, model, batch, lr, momentum, y0,
 *        seed, repetition, status, started_at, ended_at, wall_s, steps_started,
 *        steps_accepted, final_test_acc, final_test_loss, best_test_acc,
 *        initial_loss, git_commit, host, cpu_model, topology_xml, versions,
 *        alloc, ...)
 *   steps(run_id, step, finish, worker, pu, t_start_ns, t_end_ns, version_read,
 *         version_apply, staleness, accepted, interval, y, m, loss): a view over
 *         step_chunks(chunk_id, run_id, n, data), chunks of up to 4096 records
 *         compressed column by column (rec_steps.h; every field kept exactly);
 *         the sqlite3 shell reads it after `.load build/psgd_steps`
 *   evals(run_id, t_ns, steps_accepted, epoch, train_loss, test_loss, test_acc)
 *   events(run_id, t_ns, kind, value, detail)
 *   placement(run_id, worker, pu_os, core, node, package, bound)
 *   acc_thresholds(acc) (thresholds for v_time_to_acc), meta(key, value)
 * plus the views in plots/views.sql (compiled in; rec_open recreates them
 * whenever that file changed). `sync` is the dispatcher (coarse-grained
 * synchronization), `store` the param store (fine-grained). NaN values are
 * stored as NULL (SQLite's rule). `alloc` is the Slurm allocation the run
 * ran in, NULL outside Slurm: JSON {job, array_job, array_task, node,
 * cpus_per_task, cpus (the CPU list this process may use)}, each from the
 * SLURM_* environment (NULL when unset). `versions` is a JSON object: sqlite,
 * openblas (openblas_get_config()), schema, plus what the engine passes.
 * `git_commit` is read at run time: $PSGD_GIT_COMMIT if set, else `git
 * rev-parse HEAD` in the folder of the running binary (+ "-dirty" when tracked
 * files differ), else a -DPSGD_GIT_COMMIT define, else "unknown".
 *
 * Versioning: PRAGMA user_version is the schema version and application_id
 * marks the file as ours. rec_open upgrades an older schema and refuses a newer
 * one, a foreign SQLite database, and a file that is not SQLite or is
 * truncated/corrupt, each with an error naming the file. Schema 2 -> 3 moves
 * the old row-per-step `steps` table into chunks (one transaction; it
 * refuses, leaving the file as it was, a row the chunks cannot keep exactly).
 *
 * Lifecycle of one run: rec_run_begin (status 'running', old data of the same
 * key removed) -> rec_run_info (optional: topology, versions, once the engine
 * knows them) -> rec_steps/rec_steplog_flush/rec_evals/... -> rec_run_end
 * (result + status in one transaction). A run whose process died is set by
 * the runner with rec_run_mark (e.g. 'crashed'); its partial rows are deleted
 * then. Every write checks, in its own transaction, that its run is still
 * 'running', so rows never land in a run that was marked or restarted.
 *
 * Concurrency: WAL, synchronous=NORMAL, every write a BEGIN IMMEDIATE
 * transaction, and a 120 s busy timeout: several processes may write one
 * database at once (each waits for the other's transaction). rec_run_begin
 * takes over any unfinished row of its key; the runner uses rec_run_claim
 * instead, which never touches a row claimed by a live process: a 'running'
 * row records its claimer (runs.host, runs.pid, and runs.claim = "boot_id pid
 * starttime" from /proc), so a dead claimer (process gone, pid reused with
 * another start time, or the machine rebooted) is told from a live one.
 *
 * Index: step_chunks(run_id), one entry per chunk of 4096 steps. The view
 * returns a run's steps in the order they were written.
 *
 * Threads: one rec handle per thread at a time. After fork(), the child must
 * open its own handle; never use a parent's handle in a child (and do not
 * fork while holding one you will use again in the child). */
#ifndef PSGD_REC_H
#define PSGD_REC_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "steplog.h"
#include "steprec.h"

typedef struct rec rec;

/* Opens or creates the database, creating/upgrading the schema. Refuses a
 * file that is not SQLite, is corrupt, or has a newer schema (clear error). */
rec *rec_open(const char *path, char *err, size_t errlen);
/* Same, but the file must exist: never creates one (a runner's later opens,
 * so that a database deleted during a sweep is not silently recreated). A
 * path this process holds open is never created by rec_open either, and a
 * path whose file was deleted or replaced since it was opened here is
 * refused. */
rec *rec_open_existing(const char *path, char *err, size_t errlen);
void rec_close(rec *r);

/* The checks of rec_open without writing anything (for readers such as
 * `psgd list`): 0 if path is absent, empty, or a psgd results database this
 * program can read; -1 with the same messages as rec_open otherwise (a
 * directory, device or FIFO, a file that is not SQLite, truncated, another
 * program's database, a newer schema). */
int rec_probe(const char *path, char *err, size_t errlen);

/* ---- Is a run finished? The one place that decides it, from the runs.status
 * of its key: the runner's skip and claim, `psgd list`, `psgd slurm` and
 * `psgd merge` all ask here. ---- */
typedef enum {
  REC_RUN_ABSENT,     /* no row of the key (status NULL or "") */
  REC_RUN_UNFINISHED, /* running, interrupted (or a status this program does not know) */
  REC_RUN_CRASHED,    /* crashed: final, no result */
  REC_RUN_TIMEOUT,    /* timeout: final, no result */
  REC_RUN_RESULT,     /* ok, converged, diverged: final, with a result */
} rec_run_state;

/* The state of a runs.status value. */
rec_run_state rec_run_state_of(const char *status);
/* 1 if the state is final (a result, a timeout or a crash), else 0. */
int rec_run_state_final(rec_run_state st);
/* 1 if a sweep skips a run in this state: one with a result always, one
 * that timed out or crashed unless retry_failed (--retry-failed). */
int rec_run_state_skip(rec_run_state st, int retry_failed);
/* 1 if a run in this state is kept across databases: a result or a timeout
 * (both have their rows). `psgd merge` copies it and `psgd slurm` does not
 * submit it again; a crashed run has no rows left (rec_run_mark deleted
 * them) and is run again. */
int rec_run_state_kept(rec_run_state st);

/* 1 if a run with this key has a final status (ok, converged, diverged,
 * timeout, crashed), 0 if absent or unfinished (running, interrupted), -1 on
 * error. (The runner's --retry-failed redoes timeout/crashed runs.) */
int rec_run_finished(rec *r, const char *key, char *err, size_t errlen);

/* Reads the status of each of keys[0..n) into status[i] ("" when the key
 * has no row), without writing anything: a missing or empty file, and one
 * without a runs table, have no runs (all ""); the file is checked as
 * rec_probe does. 0, or -1 with err naming the file. */
int rec_run_statuses(const char *path, const char *const *keys, int n, char (*status)[16],
                     char *err, size_t errlen);

/* Starts a run: removes any earlier row with the same key that has no result
 * (running, interrupted, timeout, crashed: the runner decided to redo it) with
 * its data, and inserts the runs row with status 'running', the spec and the
 * host metadata (git commit, host, CPU model, pid). Refuses (-1) a key whose
 * run has a result (ok, converged, diverged). topology_xml / versions may be
 * NULL; versions is a JSON object merged into ours (anything else is kept
 * under "other"). */
int rec_run_begin(rec *r, const run_spec *s, const char *key, const char *topology_xml,
                  const char *versions, int64_t *run_id, char *err, size_t errlen);

/* rec_run_claim outcomes (>= 0; -1 is an error). */
enum { REC_CLAIM_OK = 0, REC_CLAIM_DONE = 1, REC_CLAIM_LIVE = 2, REC_CLAIM_REMOTE = 3 };

/* The runner's begin, safe against other processes running the same sweep.
 * In one transaction, by the row of key:
 *   absent, 'interrupted', or 'running' with a dead claimer -> claimed
 *   (old row and data removed, new 'running' row inserted: REC_CLAIM_OK);
 *   'timeout'/'crashed' -> claimed only if its run_id is seen_id (the attempt
 *   the caller decided to retry), else REC_CLAIM_DONE (retried elsewhere);
 *   a result (ok, converged, diverged) -> REC_CLAIM_DONE;
 *   'running' with a live claimer -> REC_CLAIM_LIVE; with a claimer on
 *   another host (whose processes cannot be checked) -> REC_CLAIM_REMOTE.
 * note gets one line saying what was found ("" when the key was absent).
 * seen_id: run_id from rec_run_lookup when the caller decided, 0 if absent. */
int rec_run_claim(rec *r, const run_spec *s, const char *key, int64_t seen_id, int64_t *run_id,
                  char *note, size_t notecap, char *err, size_t errlen);

/* The row of key: 1 found (run_id, status filled), 0 absent (run_id 0,
 * status ""), -1 error. */
int rec_run_lookup(rec *r, const char *key, int64_t *run_id, char *status, size_t cap, char *err,
                   size_t errlen);

/* Adds what the engine learns after the runner began the run: the topology
 * XML (NULL keeps it) and library versions, e.g. {"hwloc":"2.9.0"} (NULL
 * keeps them; merged as in rec_run_begin). */
/* The step durations (t_end_ns - t_start_ns, >= 1) of the run with this key,
 * in finish order, into a malloc'ed array (*ns, *n >= 1; the caller frees).
 * -1 with err: no such run, no step records, or a database error. */
int rec_run_step_durations(rec *r, const char *key, uint64_t **ns, size_t *n, char *err,
                           size_t errlen);
int rec_run_info(rec *r, int64_t run_id, const char *topology_xml, const char *versions,
                 char *err, size_t errlen);

/* Each call is one transaction (rec_steps: v in chunks of 4096 records, one
 * INSERT each; for the steplog, prefer rec_steplog_flush). */
int rec_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err, size_t errlen);
int rec_evals(rec *r, int64_t run_id, const eval_rec *v, size_t n, char *err, size_t errlen);
int rec_events(rec *r, int64_t run_id, const event_rec *v, size_t n, char *err, size_t errlen);
int rec_placement(rec *r, int64_t run_id, const place_rec *v, size_t n, char *err, size_t errlen);

/* Ends a run: writes the result columns and the status in one transaction. */
int rec_run_end(rec *r, int64_t run_id, const run_result *res, char *err, size_t errlen);

/* Runner side: marks the run with this key (crashed|timeout|interrupted) with
 * the reason `why` (column why, may be NULL) and deletes its partial
 * steps/evals/events/placement rows, in one transaction. Only a 'running' run
 * is changed: one that already ended (its rec_run_end committed before the
 * process died) keeps its result, and 0 is returned. -1 if the key is absent. */
int rec_run_mark(rec *r, const char *key, run_status status, const char *why, char *err,
                 size_t errlen);

/* The file this handle writes, and the schema version this program writes. */
const char *rec_path(const rec *r);
int rec_schema_version(void);

/* Checks, without changing the file, what rec_open checks first: path exists,
 * is an SQLite database that is not truncated, and is ours or empty, with a
 * schema not newer than this program's. *version is its user_version (0: a
 * file without our schema yet). 0, or -1 with err naming the file. */
int rec_inspect(const char *path, int *version, char *err, size_t errlen);

/* ---- Getting a steplog into `steps` ----
 *
 * Post-run (simplest; nothing touches SQLite during the timed region):
 *   join the workers, then  n = rec_steplog_flush(r, run_id, log, 1, ...)
 *
 * Writer thread (bounded memory for long runs; costs one thread, which
 * competes with the workers on a small machine):
 *   w = rec_writer_start(r, run_id, log, 0.5, ...)   before starting workers
 *   ... workers push ...
 *   join the workers, then  rec_writer_stop(w, &stats, ...)
 * The writer opens its own connection (rec_path(r)); while it runs, r stays
 * usable by its own thread (e.g. rec_evals), both being serialized by SQLite.
 *
 * Either way run_result.flush_s should be the time spent flushing after the
 * timed region: the rec_steplog_flush call, or stats.final_flush_s. */

/* Drains the log (final: everything; the workers must be joined. Otherwise
 * only full chunks, concurrently with pushes) into steps rows of run_id, in
 * transactions of about 256k rows. Returns the number of rows written, or -1:
 * then the rows of the open transaction are lost and the run must be failed
 * (the runner then marks it and deletes its partial rows). */
long rec_steplog_flush(rec *r, int64_t run_id, steplog *l, int final, char *err, size_t errlen);

typedef struct rec_writer rec_writer;

typedef struct {
  long rows;            /* step rows written, in total */
  double final_flush_s; /* the flush done by rec_writer_stop (after the workers) */
  double busy_s;        /* all time spent flushing, including the final flush */
} rec_writer_stats;

/* Starts a thread that calls rec_steplog_flush(.., final=0) every period_s
 * seconds on its own connection to rec_path(r). NULL on failure (err). */
rec_writer *rec_writer_start(rec *r, int64_t run_id, steplog *l, double period_s, char *err,
                             size_t errlen);

/* Stops the thread, flushes the rest (final=1: call only after the workers
 * are joined), closes the connection and frees w. Returns 0, or -1 with the
 * first error of the thread or of the final flush (the run must be failed). */
int rec_writer_stop(rec_writer *w, rec_writer_stats *st, char *err, size_t errlen);

#endif
