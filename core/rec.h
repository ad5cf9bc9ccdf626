/* rec.h - the recorder: results.db (SQLite) schema, run lifecycle, and bulk
 * writing of steps, evals, events and placements.
 *
 * Schema (DESIGN.md; names are a contract with plots/):
 *   runs(run_id PK, key UNIQUE, experiment, label, spec JSON, algorithm, sync,
 *        store, threads, placement, dataset, model, batch, lr, momentum, y0,
 *        seed, repetition, status, started_at, ended_at, wall_s, steps_started,
 *        steps_accepted, final_test_acc, final_test_loss, best_test_acc,
 *        initial_loss, git_commit, host, cpu_model, topology_xml, versions, ...)
 *   steps(run_id, step, finish, worker, pu, t_start_ns, t_end_ns, version_read,
 *         version_apply, staleness, accepted, interval, y, m, loss)
 *   evals(run_id, t_ns, steps_accepted, epoch, train_loss, test_loss, test_acc)
 *   events(run_id, t_ns, kind, value, detail)
 *   placement(run_id, worker, pu_os, core, node, package, bound)
 * plus the views in plots/views.sql.
 *
 * Lifecycle of one run: rec_run_begin (status 'running', old data of the same
 * key removed) -> rec_steps/rec_evals/... -> rec_run_end (result + status in
 * one transaction). A run whose process died is set by the runner with
 * rec_run_mark (e.g. 'crashed'); its partial rows are deleted then.
 *
 * Threads: one rec handle per thread at a time. After fork(), the child must
 * open its own handle; never use a parent's handle in a child. */
#ifndef PSGD_REC_H
#define PSGD_REC_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "steprec.h"

typedef struct rec rec;

/* Opens or creates the database, creating/upgrading the schema. Refuses a
 * file that is not SQLite, is corrupt, or has a newer schema (clear error). */
rec *rec_open(const char *path, char *err, size_t errlen);
void rec_close(rec *r);

/* 1 if a run with this key has a final status (ok, converged, diverged,
 * timeout, crashed), 0 if absent or unfinished (running, interrupted), -1 on
 * error. (The runner's --retry-failed redoes timeout/crashed runs.) */
int rec_run_finished(rec *r, const char *key, char *err, size_t errlen);

/* Starts a run: removes any earlier unfinished row with the same key and its
 * data, inserts the runs row with status 'running' and the host metadata.
 * topology_xml / versions may be NULL. */
int rec_run_begin(rec *r, const run_spec *s, const char *key, const char *topology_xml,
                  const char *versions, int64_t *run_id, char *err, size_t errlen);

int rec_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err, size_t errlen);
int rec_evals(rec *r, int64_t run_id, const eval_rec *v, size_t n, char *err, size_t errlen);
int rec_events(rec *r, int64_t run_id, const event_rec *v, size_t n, char *err, size_t errlen);
int rec_placement(rec *r, int64_t run_id, const place_rec *v, size_t n, char *err, size_t errlen);

/* Ends a run: writes the result columns and the status in one transaction. */
int rec_run_end(rec *r, int64_t run_id, const run_result *res, char *err, size_t errlen);

/* Runner side: marks the run with this key (crashed|timeout|interrupted) and
 * deletes its partial steps/evals/events. */
int rec_run_mark(rec *r, const char *key, run_status status, const char *why, char *err,
                 size_t errlen);

#endif
