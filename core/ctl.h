/* ctl.h - online controllers of the interval size y and the active-thread
 * bound m (paper Sec. 4.1; ElAsyncSGD, Baeckstroem 2021). A controller runs
 * on accepted-step counts: the worker whose accepted step has global number
 * n (1-based, every accepted step has one) calls ctl_on_accept(c, n, now),
 * and the controller acts exactly when n reaches one of its boundaries.
 * Controllers never read the clock (the engine passes `now`) and never
 * allocate; every y/m change and probing verdict becomes an event_rec.
 *
 * Registry (ctl.c, static_assert on its length):
 *   "const"    nothing changes
 *   "decay"    y -= 1 every K accepted steps, floor 1 (paper y-decay, K = 4096)
 *   "probing"  window probing over y (paper y-probing)
 *   "elastic"  the same window probing over m (ElAsyncSGD; paper's best
 *              window 12, p = 1024, x = 8192)
 * The spec's y_control names the first three; spec.elastic selects "elastic".
 *
 * Window probing (ctl_probing.c): execution for x accepted steps at the
 * current value, then a probe: w candidates around it, p accepted steps
 * each, each judged by how fast the running training loss drops (per
 * second, from the mean minibatch loss of the first and the second half of
 * its p steps); the best one is kept for the next x steps; repeat.
 *
 * Threads: ctl_on_accept from any worker (internally serialized at the
 * boundaries only; between boundaries it is one relaxed load). */
#ifndef PSGD_CTL_H
#define PSGD_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "disp.h"
#include "steprec.h"

typedef struct ctl ctl;

/* Where events go (called under the controller's lock, must not block). */
typedef void (*ctl_event_fn)(void *ctx, const event_rec *e);
/* Cumulative sum and count of the minibatch losses of accepted steps so far
 * (may lag a few steps behind; the probing reads differences). */
typedef void (*ctl_loss_fn)(void *ctx, double *sum, uint64_t *count);

typedef struct {
  disp *d;              /* the dispatcher whose y or m is controlled */
  long y0;              /* initial y (decay, probing) */
  int m0;               /* initial m (elastic) */
  int m_max;            /* elastic: candidates within [1, m_max] */
  long decay_k;         /* decay: K */
  int window;           /* probing: candidates w (>= 1) */
  long probe_steps;     /* probing: p (>= 2) */
  long exec_steps;      /* probing: x (>= 1) */
  ctl_event_fn event;   /* NULL: events are dropped */
  void *event_ctx;
  ctl_loss_fn loss;     /* probing: required */
  void *loss_ctx;
  uint64_t t0_ns;       /* `now` values are absolute; events get now - t0 */
} ctl_cfg;

typedef struct ctl_ops {
  const char *name;
  const char *help;
  int over_m;           /* 1: controls m (any dispatcher); 0: y or nothing */
  int needs_y;          /* 1: controls y: needs a dispatcher with has_y (algo.c) */
  void *(*create)(const ctl_cfg *cfg, char *err, size_t errlen);
  void (*destroy)(void *impl);
  /* Acts if n is one of its boundaries (NULL: never acts); must return
   * after one relaxed load or arithmetic test when it is not. */
  void (*on_accept)(void *impl, uint64_t n, uint64_t now_ns);
} ctl_ops;

#define CTL_COUNT 4
extern const ctl_ops *const ctl_registry[];
const ctl_ops *ctl_find(const char *name);
void ctl_names(char *buf, size_t cap);

ctl *ctl_create(const ctl_ops *ops, const ctl_cfg *cfg, char *err, size_t errlen);
void ctl_free(ctl *c);
const ctl_ops *ctl_get_ops(const ctl *c);

/* Cheap unless n is a boundary. */
void ctl_on_accept(ctl *c, uint64_t n, uint64_t now_ns);

/* ---- for the implementations ---- */
extern const ctl_ops ctl_const_ops, ctl_decay_ops, ctl_probing_ops, ctl_elastic_ops;

/* Fills and emits an event (kind <= 23 chars, detail may be NULL). */
void ctl_emit(const ctl_cfg *cfg, uint64_t now_ns, const char *kind, double value,
              const char *detail);

#endif
