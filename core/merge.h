/* merge.h - brings results databases together by run key (`psgd merge`):
 * the shards of a Slurm job array (one database per array task, because
 * SQLite's locking is not safe on network filesystems), or results.db files
 * from several machines.
 *
 * What is copied: every finished run of every input (status ok, converged,
 * diverged or timeout: the runs the runner skips when it resumes) with its
 * rows in every table that has a run_id column (steps, evals, events,
 * placement, ...), its run_id renumbered to a fresh id of the output. The
 * tables and columns are read from the output's schema (sqlite_master and
 * PRAGMA table_info), not from a list here; views are never written. Tables
 * without run_id (acc_thresholds) get the input's rows the output lacks;
 * `meta` describes the file itself and is not copied.
 *
 * Not copied: runs that are running, interrupted or crashed in an input (no
 * result; a crashed run's partial rows were deleted by the runner). `psgd
 * run` redoes them; merging a later shard that finished them adds them.
 *
 * Per key, input against output:
 *   output lacks it, or has it unfinished (running/interrupted/crashed):
 *     the input's run is copied (the unfinished row and its rows are removed);
 *   output has an identical finished row (every runs column but run_id):
 *     nothing happens, so merging the same shards again changes nothing;
 *   output has a different finished row: a conflict. The whole merge is
 *     refused and the output is left as it was (one transaction, rolled
 *     back; an output file the merge created is removed again).
 *
 * Schema versions: every input and an existing output must have exactly the
 * schema version of this program (PRAGMA user_version, checked by
 * rec_inspect) and the same tables and columns; anything else is refused
 * with a message that says which file and what to do. */
#ifndef PSGD_MERGE_H
#define PSGD_MERGE_H

#include <stddef.h>

typedef struct {
  int n_runs;       /* runs rows in the input */
  int n_added;      /* copied, key new to the output */
  int n_replaced;   /* copied over an unfinished row of the output */
  int n_same;       /* identical finished run already in the output */
  int n_unfinished; /* not finished in the input: not copied */
  long n_rows;      /* rows copied into the per-run tables (steps: step records) */
} merge_stats;

/* Merges the n_in databases in[] into out (created if absent), in one
 * transaction. per_in: n_in entries, filled per input. 0, or -1 with err
 * (then out is unchanged). */
int merge_dbs(const char *out, const char *const *in, int n_in, merge_stats *per_in, char *err,
              size_t errlen);

#endif
