/* runner.h - executes the runs of an expanded experiment, one forked child
 * per run, into a results database; resumable.
 *
 * Per run: the parent decides skip / run from the database (the recorder's
 * rec_run_state_skip: a run whose key has a result is skipped, one that
 * timed out or crashed too unless --retry-failed), claims it with
 * rec_run_claim (so a row exists before anything can crash), forks; the
 * child opens its own rec handle, calls engine_run and rec_run_end.
 *
 * Who writes a run's rows (two processes; each write is its own transaction,
 * and every write after the claim first checks that the row is still
 * 'running', so nothing lands in a run that was marked or reclaimed):
 *   parent  rec_run_claim: the runs row (spec, host facts, status 'running',
 *           claim = the runner's own boot id, pid and start time: the child
 *           dies with the runner, so the claim is live exactly as long as
 *           some process may still write the run);
 *           rec_run_mark, only when the child reported no result: status
 *           timeout/crashed/interrupted and why, partial rows deleted.
 *   child   engine_run, through the recorder sink (engine_sink_rec):
 *           rec_run_info (topology XML, versions), placement, evals, events,
 *           and steps (after the workers, or meanwhile by the writer thread
 *           on a second connection of the child); then
 *           rec_run_end: the result columns and the final status.
 * The parent holds no connection while the child lives. The parent watches it: a wall-clock limit (SIGKILL, marked
 * 'timeout'), a child that dies (marked 'crashed' with the signal or the
 * engine's error), SIGINT/SIGTERM/SIGHUP of the runner (the child is asked
 * to stop with SIGTERM, killed after a grace period, marked 'interrupted',
 * and the sweep ends). A SIGKILLed runner takes its child with it
 * (PR_SET_PDEATHSIG); the 'running' row it leaves is redone next time.
 *
 * Several runners on one database (the same sweep started twice, or slices
 * of it): each run is claimed with rec_run_claim, which never takes a run
 * held by a live process. A run another process on this host holds is
 * waited for at the end of the sweep (and claimed and redone if that process
 * dies first); a run it finished meanwhile is not run again. So every run
 * ends exactly once and every runner ends only when all its runs have an
 * outcome. A run held by a process on another host is not waited for
 * (counted in n_remote).
 *
 * The database file's identity (device, inode) is taken when the sweep
 * begins and checked before each run is claimed, before a crashed run is
 * marked, in each child before it opens the file, and at the end: a file
 * deleted or replaced during the sweep stops it with an error (-1) instead
 * of recording into a new file.
 *
 * Test hooks (environment, used by tests/it_runner_*.sh):
 *   PSGD_TEST_CRASH_RUN=i  the child of run index i raises SIGSEGV at its first
 *                          progress report (after engine_run if none came)
 *   PSGD_TEST_HANG_RUN=i   the child of run index i blocks instead of running
 *   PSGD_TEST_VANISH_RUN=i before claiming run index i, the runner deletes the
 *                          database (and its -wal, -shm) just after its identity
 *                          check, as if another process did it at that moment
 * (i as `psgd list` numbers the runs; a comma-separated list is accepted). */
#ifndef PSGD_RUNNER_H
#define PSGD_RUNNER_H

#include <stdio.h>

#include "config.h"
#include "steprec.h"

typedef struct {
  const char *db_path;
  double timeout_s;  /* > 0: overrides every run's limit (not part of the spec or key) */
  int retry_failed;  /* 1: redo runs recorded as timeout or crashed */
  int tty;           /* 1: one self-updating status line; 0: plain lines */
  FILE *out;         /* progress and per-run lines */
} runner_opts;

typedef struct {
  int n_selected;                   /* runs selected by --only */
  int n_skipped;                    /* already finished in the database */
  int n_failed_skipped;             /* of those: timeout/crashed, not redone (no --retry-failed) */
  int n_elsewhere;                  /* finished or retried by another process during the sweep */
  int n_remote;                     /* held by a process on another host: not run, not waited for */
  int n_waited_out;                 /* still held by another process when interrupted */
  int n_ran;                        /* started in this invocation */
  int n_status[RUN_STATUS_COUNT];   /* outcomes of the runs started here */
  int interrupted;                  /* 1: stopped by a signal */
  double wall_s;
} runner_summary;

/* The wall-clock limit of a run: opts_timeout if > 0, else the spec's
 * timeout, else 2 x stop.seconds + 60 s when a time stop is set, else 0
 * (no limit). */
double runner_limit_s(const run_spec *s, double opts_timeout);

/* Runs e->runs[i] for every i with sel[i] != 0, in order. Returns 0 when the
 * sweep went through or was interrupted (see sum), -1 when it could not go on
 * (database errors) with err filled. */
int runner_run(const experiment *e, const char *sel, const runner_opts *o, runner_summary *sum,
               char *err, size_t errlen);

/* Status of every run of e in the database at db_path, read-only: status[i]
 * is the runs.status text ("ok", "running", ...) or "" when absent. A
 * database file that does not exist gives all "". 0 / -1 with err. */
int runner_db_status(const char *db_path, const experiment *e, char (*status)[16], char *err,
                     size_t errlen);

#endif
