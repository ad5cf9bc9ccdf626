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
 * after all workers are joined, steplog_drain with final=1 takes everything).
 *
 * Memory: a chunk holds STEPLOG_CHUNK records (88 bytes each, ~352 KiB per
 * chunk). Chunks drained while the run goes on are recycled to the worker that
 * filled them, so with a writer thread draining every fraction of a second the
 * log stays at about (chunks filled between two drains + 2 per worker).
 *
 * How the engine uses it (see also rec_steplog_flush / rec_writer in rec.h):
 *   l = steplog_create(m, expected_steps, ...)     before the timed region
 *   worker w: steplog_push(l, w, &rec)              per step, accepted or not
 *   either after joining the workers: rec_steplog_flush(r, run_id, l, 1, ...)
 *   or a writer thread: rec_writer_start(...) before, rec_writer_stop(...) after
 *   steplog_free(l) */
#ifndef PSGD_STEPLOG_H
#define PSGD_STEPLOG_H

#include <stddef.h>

#include "steprec.h"

/* Records per chunk (a power of two: the position in the chunk is the count
 * of pushed records modulo this). */
#define STEPLOG_CHUNK 4096

/* The pool preallocated by steplog_create is capped at this many bytes; past
 * it the log grows on demand. Keeps a huge expect_total from pinning gigabytes
 * (and from spending seconds prefaulting them) when a writer thread drains. */
#define STEPLOG_PREALLOC_MAX_BYTES ((size_t)512 << 20)

typedef struct steplog steplog;

/* expect_total: the expected number of records over the run (0 = unknown);
 * used to size the preallocated pool: pass the run's expected step count when
 * draining after the run, or about what accumulates between two drains with
 * a writer thread. The pool is allocated and prefaulted here, so the timed
 * region takes no page faults for it. NULL on allocation failure (err). */
steplog *steplog_create(int n_workers, size_t expect_total, char *err, size_t errlen);
void steplog_free(steplog *l);

/* Appends one record for worker w. Never fails, never drops. Lock-free: a
 * store into the worker's current chunk and a counter increment; every
 * STEPLOG_CHUNK-th push hands the full chunk over and takes a fresh one
 * (recycled, from the pool, or - only if both are empty - newly allocated;
 * an allocation failure there aborts, it never drops rows). */
void steplog_push(steplog *l, int w, const step_rec *r);

/* Hands every completed chunk (all chunks if final) to fn, in per-worker
 * order; fn returns 0 to continue, -1 to stop (error). Returns the number of
 * records handed over, or -1 if fn failed; the chunk fn refused stays in the
 * log (a later drain hands it again), the ones before it were consumed.
 * final=1 only once every worker has been joined (it reads the partial
 * chunks); pushing after a final drain is allowed, and the next drain hands
 * only the new records. */
long steplog_drain(steplog *l, int final, int (*fn)(void *ctx, const step_rec *r, size_t n),
                   void *ctx);

/* Total records pushed so far (relaxed; exact once workers are joined). */
size_t steplog_count(const steplog *l);

/* Memory accounting, for tests, benchmarks and a run's events. Read from the
 * drain thread or after the workers are joined. */
typedef struct {
  size_t pool_chunks;   /* preallocated by steplog_create */
  size_t grown_chunks;  /* allocated later because the pool and recycling ran dry */
  size_t bytes;         /* all chunk memory held */
} steplog_stats;
void steplog_get_stats(const steplog *l, steplog_stats *st);

#endif
