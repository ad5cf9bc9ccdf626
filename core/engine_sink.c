/* engine_sink.c - the recorder as the engine's sink (engine.h,
 * engine_sink_rec): each record kind into its table of one run (rec.h),
 * step rows by rec_steplog_flush after the run or by a rec_writer thread
 * during it. */
#include <stddef.h>

#include "common.h"
#include "engine.h"

static int rs_steps_live(void *ctx, steplog *log, char *err, size_t errlen) {
  engine_rec_sink *k = ctx;
  k->writer = rec_writer_start(k->r, k->run_id, log, 1.0, err, errlen);
  return k->writer ? 0 : -1;
}

static int rs_steps_end(void *ctx, steplog *log, double *flush_s, char *err, size_t errlen) {
  engine_rec_sink *k = ctx;
  *flush_s = 0;
  if (k->writer) {
    rec_writer_stats ws;
    rec_writer *w = k->writer;
    k->writer = NULL;
    if (rec_writer_stop(w, &ws, err, errlen)) return -1;
    *flush_s = ws.final_flush_s;
    return 0;
  }
  uint64_t t = psgd_now_ns();
  if (rec_steplog_flush(k->r, k->run_id, log, 1, err, errlen) < 0) return -1;
  *flush_s = (psgd_now_ns() - t) * 1e-9;
  return 0;
}

static int rs_run_info(void *ctx, const char *xml, const char *versions, char *err,
                       size_t errlen) {
  engine_rec_sink *k = ctx;
  return rec_run_info(k->r, k->run_id, xml, versions, err, errlen);
}

static int rs_placement(void *ctx, const place_rec *v, size_t n, char *err, size_t errlen) {
  engine_rec_sink *k = ctx;
  return rec_placement(k->r, k->run_id, v, n, err, errlen);
}

static int rs_evals(void *ctx, const eval_rec *v, size_t n, char *err, size_t errlen) {
  engine_rec_sink *k = ctx;
  return rec_evals(k->r, k->run_id, v, n, err, errlen);
}

static int rs_events(void *ctx, const event_rec *v, size_t n, char *err, size_t errlen) {
  engine_rec_sink *k = ctx;
  return rec_events(k->r, k->run_id, v, n, err, errlen);
}

static int rs_step_durations(void *ctx, const char *key, uint64_t **ns, size_t *n, char *err,
                             size_t errlen) {
  engine_rec_sink *k = ctx;
  return rec_run_step_durations(k->r, key, ns, n, err, errlen);
}

engine_sink engine_sink_rec(engine_rec_sink *ctx, rec *r, int64_t run_id) {
  ctx->r = r;
  ctx->run_id = run_id;
  ctx->writer = NULL;
  engine_sink k = {ctx,         rs_steps_live, rs_steps_end, rs_run_info,      rs_placement,
                   rs_evals,    rs_events,     rs_step_durations};
  return k;
}
