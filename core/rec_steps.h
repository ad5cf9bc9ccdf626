/* rec_steps.h - the compact storage of step records in results.db.
 *
 * Layout (schema version 3). Step records are stored in table step_chunks,
 * one row per chunk of up to REC_STEPS_CHUNK records of one run:
 *   step_chunks(chunk_id INTEGER PRIMARY KEY, run_id, n, data BLOB)
 * `data` holds the records column by column, each column as residuals against
 * a prediction from the previous record of the chunk (deltas), zigzag-coded,
 * and stored as varints, as runs of equal residuals, or as a bitmap, whichever
 * is smallest for that column of that chunk; the loss is the float's 4 bytes;
 * the chunk is then deflated with zlib (another 15-25% on real runs).
 * Every field of step_rec is kept exactly (times at 1 ns).
 *
 *   data   = u8 format 1, varint n, then 14 columns in the order below; or
 *            u8 format 2, varint length L, then a format-1 chunk of L bytes
 *            deflated by zlib (chunks of 64 records or more, when that saves
 *            at least 1/16)
 *   column = u8 mode, varint byte length, bytes
 *   mode   1 varints of zigzag(residual), n of them
 *          2 runs: (varint zigzag(residual), varint run length - 1) pairs
 *          3 bitmap: residuals in {0,1}, bit i of byte i/8 (LSB first)
 *          4 little-endian uint32 per record (the loss's IEEE bits)
 *   residuals (p = the previous record of the chunk, all zero before the first;
 *   uint64 arithmetic modulo 2^64):
 *     step - p.step, finish - step, worker - p.worker, pu - p.pu,
 *     t_start_ns - p.t_end_ns, t_end_ns - t_start_ns, version_read - p.version_read,
 *     version_apply - version_read, staleness - (version_apply - version_read),
 *     accepted, interval - p.interval, y - p.y, m - p.m, loss bits
 *
 * The relation `steps` (the column names of step_rec, run_id first) is a view
 * over step_chunks joined with the table-valued function psgd_steps(data),
 * which decodes one chunk; records come out in the order they were written.
 * psgd registers psgd_steps on every SQLite connection it opens; the sqlite3
 * shell loads it with `.load build/psgd_steps` (the loadable extension built
 * from this module).
 *
 * Writing steps in SQL: the aggregate psgd_chunk(seq, step, finish, worker,
 * pu, t_start_ns, t_end_ns, version_read, version_apply, staleness, accepted,
 * interval, y, m, loss) encodes up to REC_STEPS_CHUNK rows, in increasing seq,
 * into one chunk; `INSERT INTO steps` (a trigger on the view) stores each row
 * as a chunk of its own. To change a run's steps: copy them to a table, change
 * that, delete the run's chunks and insert the table back, e.g.
 *   CREATE TEMP TABLE t AS SELECT * FROM steps WHERE run_id = 3;
 *   UPDATE t SET ...;
 *   DELETE FROM step_chunks WHERE run_id = 3;
 *   INSERT INTO step_chunks (run_id, n, data) SELECT run_id, count(*),
 *     psgd_chunk(rowid, step, finish, worker, pu, t_start_ns, t_end_ns,
 *                version_read, version_apply, staleness, accepted, interval,
 *                y, m, loss)
 *     FROM t GROUP BY run_id, (rowid - 1) / 4096; */
#ifndef PSGD_REC_STEPS_H
#define PSGD_REC_STEPS_H

#include <stddef.h>
#include <stdint.h>

#include "steprec.h"

/* Records per chunk at most (one steplog chunk). */
#define REC_STEPS_CHUNK 4096

/* Bytes rec_steps_encode may write for n records. */
size_t rec_steps_bound(size_t n);

/* Encodes v[0..n) (1 <= n <= REC_STEPS_CHUNK) into out (at least
 * rec_steps_bound(n) bytes). Returns the length written. */
size_t rec_steps_encode(const step_rec *v, size_t n, uint8_t *out);

/* Decodes a chunk into out (room for REC_STEPS_CHUNK records); *n gets the
 * count. -1 with a message if the bytes are not a valid chunk (any
 * truncation, extra byte, unknown mode or out-of-range value). */
int rec_steps_decode(const uint8_t *data, size_t len, step_rec *out, size_t *n, char *err,
                     size_t errlen);

/* Writing chunks: records are gathered into chunks of REC_STEPS_CHUNK (a
 * partial chunk only at a flush), each one INSERT into step_chunks. One
 * writer per connection; callers hold the write transaction. */
typedef struct {
  void *ins;       /* sqlite3_stmt *: INSERT INTO step_chunks */
  uint8_t *blob;   /* rec_steps_bound(REC_STEPS_CHUNK) bytes */
  step_rec *buf;   /* records not yet written (fewer than a chunk) */
  size_t nbuf;
} rec_steps_writer;

/* Adds v[0..n) of run_id: writes every chunk that fills up. The buffered
 * rest belongs to run_id until rec_steps_flush. 0, or -1 (err names path). */
int rec_steps_put(rec_steps_writer *w, void *db, const char *path, int64_t run_id,
                  const step_rec *v, size_t n, char *err, size_t errlen);
/* Writes the buffered records of run_id as one (partial) chunk. */
int rec_steps_flush(rec_steps_writer *w, void *db, const char *path, int64_t run_id, char *err,
                    size_t errlen);
/* Forgets buffered records (their transaction was rolled back). */
void rec_steps_discard(rec_steps_writer *w);
void rec_steps_writer_free(rec_steps_writer *w);

/* Schema upgrade 2 -> 3, inside the caller's write transaction, after
 * step_chunks exists: converts every row of the old table `steps` (in
 * (run_id, rowid) order) into chunks, drops the table and creates the view
 * `steps`. -1 if a row cannot be kept exactly (a NULL or non-integer where
 * an integer belongs, a value out of its field's range, a loss that is not a
 * float): the upgrade is then refused and the database left as it was. */
int rec_steps_upgrade_rows(void *db, const char *path, char *err, size_t errlen);

/* The view `steps` (also created by rec_steps_upgrade_rows). */
extern const char rec_steps_view_sql[];

/* The 14 SQL values step, finish, ..., loss (sqlite3_value *) as a record:
 * integers in their field's range, loss NULL (NaN) or a float. -1 with the
 * reason in why otherwise. */
int rec_steps_from_values(void *const *v, step_rec *s, char *why, size_t whylen);

/* Registers psgd_steps and psgd_chunk on db (an sqlite3 *). SQLITE_OK or an SQLite code. */
int rec_steps_register(void *db);

/* Makes psgd_steps available on every connection this process opens from now
 * on (sqlite3_auto_extension), once. */
void rec_steps_auto_register(void);

#endif
