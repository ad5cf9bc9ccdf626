/* mem_sink.h - an engine_sink (engine.h) that keeps every record in memory,
 * for tests that check what a run hands over without a database: step
 * rows (drained from the step log, in drain order), evals, events and
 * placement rows, the run info strings, and how often each was called.
 * steps_live is offered only with live = 1 (then rows are drained at the
 * end as well: the log holds them until steps_end). Header-only. */
#ifndef TEST_MEM_SINK_H
#define TEST_MEM_SINK_H

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "steplog.h"

typedef struct {
  step_rec *steps;
  size_t n_steps, cap_steps;
  eval_rec evals[4096];
  size_t n_evals;
  event_rec events[4096];
  size_t n_events;
  place_rec place[512];
  size_t n_place;
  char versions[256];
  int have_xml;
  int calls_live, calls_end, calls_info;
} mem_sink;

static __attribute__((unused)) int ms_take_steps(void *ctx, const step_rec *r, size_t n) {
  mem_sink *m = ctx;
  if (m->n_steps + n > m->cap_steps) {
    size_t cap = (m->n_steps + n) * 2;
    step_rec *p = realloc(m->steps, cap * sizeof *p);
    if (!p) return -1;
    m->steps = p;
    m->cap_steps = cap;
  }
  memcpy(m->steps + m->n_steps, r, n * sizeof *r);
  m->n_steps += n;
  return 0;
}

static __attribute__((unused)) int ms_steps_live(void *ctx, steplog *log, char *err,
                                                 size_t errlen) {
  (void)log;
  (void)err;
  (void)errlen;
  ((mem_sink *)ctx)->calls_live++;
  return 0;
}

static __attribute__((unused)) int ms_steps_end(void *ctx, steplog *log, double *flush_s,
                                                char *err, size_t errlen) {
  *flush_s = 0;
  ((mem_sink *)ctx)->calls_end++;
  if (steplog_drain(log, 1, ms_take_steps, ctx) < 0) {
    snprintf(err, errlen, "mem_sink: out of memory");
    return -1;
  }
  return 0;
}

static __attribute__((unused)) int ms_run_info(void *ctx, const char *xml, const char *versions,
                                               char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  mem_sink *m = ctx;
  m->calls_info++;
  m->have_xml = xml != NULL;
  snprintf(m->versions, sizeof m->versions, "%s", versions ? versions : "");
  return 0;
}

#define MS_APPEND(field, count, v, n)                                                          \
  do {                                                                                         \
    size_t cap_ = sizeof(field) / sizeof(field)[0];                                            \
    for (size_t k_ = 0; k_ < (n) && (count) < cap_; k_++) (field)[(count)++] = (v)[k_];        \
  } while (0)

static __attribute__((unused)) int ms_placement(void *ctx, const place_rec *v, size_t n,
                                                char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  mem_sink *m = ctx;
  MS_APPEND(m->place, m->n_place, v, n);
  return 0;
}

static __attribute__((unused)) int ms_evals(void *ctx, const eval_rec *v, size_t n, char *err,
                                            size_t errlen) {
  (void)err;
  (void)errlen;
  mem_sink *m = ctx;
  MS_APPEND(m->evals, m->n_evals, v, n);
  return 0;
}

static __attribute__((unused)) int ms_events(void *ctx, const event_rec *v, size_t n, char *err,
                                             size_t errlen) {
  (void)err;
  (void)errlen;
  mem_sink *m = ctx;
  MS_APPEND(m->events, m->n_events, v, n);
  return 0;
}

/* The sink over *m (zeroed here); live: offer steps_live. */
static __attribute__((unused)) engine_sink mem_sink_make(mem_sink *m, int live) {
  memset(m, 0, sizeof *m);
  engine_sink k = {m,        live ? ms_steps_live : NULL, ms_steps_end, ms_run_info, ms_placement,
                   ms_evals, ms_events, NULL};
  return k;
}

static __attribute__((unused)) void mem_sink_free(mem_sink *m) {
  free(m->steps);
  m->steps = NULL;
}

#endif
