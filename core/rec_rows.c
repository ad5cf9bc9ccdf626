/* rec_rows.c - bulk inserts of a run's rows (steps, evals, events,
 * placement), each one transaction checked against the run's status, and the
 * steplog flush that moves drained chunks into steps in large transactions. */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"
#include "rec_db.h"
#include "rec_steps.h"

#define REC_FLUSH_TX_ROWS (256 * 1024) /* bounds the WAL: commit every this many rows */

static int insert_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err,
                        size_t errlen) {
  return rec_steps_put(&r->steps, r->db, r->path, run_id, v, n, err, errlen);
}

int rec_steps(rec *r, int64_t run_id, const step_rec *v, size_t n, char *err, size_t errlen) {
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen) || insert_steps(r, run_id, v, n, err, errlen) ||
      rec_steps_flush(&r->steps, r->db, r->path, run_id, err, errlen)) {
    rec_steps_discard(&r->steps);
    rec_db_rollback(r);
    return -1;
  }
  return rec_db_commit(r, err, errlen);
}

int rec_evals(rec *r, int64_t run_id, const eval_rec *v, size_t n, char *err, size_t errlen) {
  if (rec_db_prepare(r, &r->st_eval,
              "INSERT INTO evals (run_id, t_ns, steps_accepted, epoch, train_loss, test_loss,"
              " test_acc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
              err, errlen))
    return -1;
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_eval;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v[i].t_ns);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)v[i].steps_accepted);
    sqlite3_bind_double(st, 4, v[i].epoch);
    sqlite3_bind_double(st, 5, v[i].train_loss);
    sqlite3_bind_double(st, 6, v[i].test_loss);
    sqlite3_bind_double(st, 7, v[i].test_acc);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      rec_db_err(r, err, errlen, "cannot insert evals");
      goto out_rollback;
    }
  }
  return rec_db_commit(r, err, errlen);
out_rollback:
  rec_db_rollback(r);
  return -1;
}

int rec_events(rec *r, int64_t run_id, const event_rec *v, size_t n, char *err, size_t errlen) {
  if (rec_db_prepare(r, &r->st_event,
              "INSERT INTO events (run_id, t_ns, kind, value, detail)"
              " VALUES (?1, ?2, ?3, ?4, ?5)",
              err, errlen))
    return -1;
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_event;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v[i].t_ns);
    /* The fixed arrays need not be NUL-terminated when full. */
    sqlite3_bind_text(st, 3, v[i].kind, (int)strnlen(v[i].kind, sizeof v[i].kind), SQLITE_STATIC);
    sqlite3_bind_double(st, 4, v[i].value);
    sqlite3_bind_text(st, 5, v[i].detail, (int)strnlen(v[i].detail, sizeof v[i].detail),
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      rec_db_err(r, err, errlen, "cannot insert events");
      goto out_rollback;
    }
  }
  return rec_db_commit(r, err, errlen);
out_rollback:
  rec_db_rollback(r);
  return -1;
}

int rec_placement(rec *r, int64_t run_id, const place_rec *v, size_t n, char *err,
                  size_t errlen) {
  if (rec_db_prepare(r, &r->st_place,
              "INSERT INTO placement (run_id, worker, pu_os, core, node, package, bound)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
              err, errlen))
    return -1;
  if (rec_db_begin(r, err, errlen)) return -1;
  if (rec_db_check_running(r, run_id, err, errlen)) goto out_rollback;
  sqlite3_stmt *st = r->st_place;
  sqlite3_bind_int64(st, 1, run_id);
  for (size_t i = 0; i < n; i++) {
    sqlite3_bind_int(st, 2, v[i].worker);
    sqlite3_bind_int(st, 3, v[i].pu_os);
    sqlite3_bind_int(st, 4, v[i].core);
    sqlite3_bind_int(st, 5, v[i].node);
    sqlite3_bind_int(st, 6, v[i].package);
    sqlite3_bind_int(st, 7, v[i].bound);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      rec_db_err(r, err, errlen, "cannot insert placement rows");
      goto out_rollback;
    }
  }
  return rec_db_commit(r, err, errlen);
out_rollback:
  rec_db_rollback(r);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Steplog flush: drained chunks straight into steps, in large transactions. */

typedef struct {
  rec *r;
  int64_t run_id;
  size_t in_tx; /* rows in the open transaction */
  int open;
  char *err;
  size_t errlen;
} flush_ctx;

static int flush_chunk(void *vctx, const step_rec *v, size_t n) {
  flush_ctx *c = vctx;
  if (!c->open) {
    if (rec_db_begin(c->r, c->err, c->errlen)) return -1;
    c->open = 1;
    c->in_tx = 0;
    if (rec_db_check_running(c->r, c->run_id, c->err, c->errlen)) return -1;
  }
  if (insert_steps(c->r, c->run_id, v, n, c->err, c->errlen)) return -1;
  c->in_tx += n;
  if (c->in_tx >= REC_FLUSH_TX_ROWS) {
    c->open = 0;
    if (rec_steps_flush(&c->r->steps, c->r->db, c->r->path, c->run_id, c->err, c->errlen) ||
        rec_db_commit(c->r, c->err, c->errlen))
      return -1;
  }
  return 0;
}

long rec_steplog_flush(rec *r, int64_t run_id, steplog *l, int final, char *err, size_t errlen) {
  flush_ctx c = {r, run_id, 0, 0, err, errlen};
  long n = steplog_drain(l, final, flush_chunk, &c);
  if (n >= 0 && c.open && rec_steps_flush(&r->steps, r->db, r->path, run_id, err, errlen)) n = -1;
  if (n < 0) {
    rec_steps_discard(&r->steps);
    rec_db_rollback(r);
    return -1;
  }
  if (c.open && rec_db_commit(r, err, errlen)) return -1;
  return n;
}
