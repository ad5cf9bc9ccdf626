/* steplog.h - per-worker step buffers for the timed region.
 *
 * Workers append step records without locks, allocation or I/O on the fast
 * path: each worker owns a chain of preallocated chunks. A full chunk is handed
 * to the drain side (a writer thread or the post-run flush) and the worker
 * continues in a fresh chunk from a preallocated pool; if the pool runs dry the
 * log grows (allocation outside the common path) - rows are never dropped.
 *
 * Threads: steplog_push(w) only from worker w; steplog_drain from one thread
 * at a time (may run concurrently with pushes; it only sees full chunks, and
 * after all workers are joined, steplog_drain with final=1 takes everything). */
#ifndef PSGD_STEPLOG_H
#define PSGD_STEPLOG_H

#include <stddef.h>

#include "steprec.h"

typedef struct steplog steplog;

/* expect_total: the expected number of records over the run (0 = unknown);
 * used to size the preallocated pool. NULL on allocation failure. */
steplog *steplog_create(int n_workers, size_t expect_total, char *err, size_t errlen);
void steplog_free(steplog *l);

/* Appends one record for worker w. Never fails, never drops. */
void steplog_push(steplog *l, int w, const step_rec *r);

/* Hands every completed chunk (all chunks if final) to fn, in per-worker
 * order; fn returns 0 to continue, -1 to stop (error). Returns the number of
 * records handed over, or -1 if fn failed. */
long steplog_drain(steplog *l, int final, int (*fn)(void *ctx, const step_rec *r, size_t n),
                   void *ctx);

/* Total records pushed so far (relaxed; exact once workers are joined). */
size_t steplog_count(const steplog *l);

#endif
