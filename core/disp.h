/* disp.h - dispatchers: the coarse-grained synchronization of parallel SGD
 * (paper Alg. 1/2). A dispatcher decides whether a worker may start a step
 * (TRYSTARTSTEP: yes + start index i) and whether a finished step's gradient
 * is applied (FINISHSTEP). It also holds the active-thread bound m, which a
 * controller may change at run time: workers w >= m sleep on a condition
 * variable (never spin) until m grows or the run stops.
 *
 * Registry (disp.c, guarded by a static_assert): "async" (accept all),
 * "interval" (Alg. 2 with an exact staleness bound, see disp_interval.c),
 * "sync" (lock-step data-parallel rounds). Config names come from the table.
 *
 * Dispatchers never read the clock; the engine owns time.
 *
 * Worker protocol, per step (worker w, its own ticket t):
 *   disp_try_start(d, w, &t)      0: the run stops, leave the loop
 *   ... read theta (param store), gradient on batch GETBATCH(t.i) ...
 *   v = disp_finish(d, w, &t)     DISP_REJECT | DISP_APPLY | DISP_CONTRIB | DISP_REDUCE
 *   DISP_APPLY:  apply own gradient, then disp_done(d, w, &t)
 *   DISP_REDUCE: (sync) disp_reduce the gradients of the round's t.m
 *                participants (workers 0..t.m-1), apply that once, then
 *                disp_done(d, w, &t)
 *   DISP_CONTRIB:(sync) accepted: the round's reducer folds this gradient in;
 *                the worker keeps its gradient buffer untouched until its
 *                next disp_try_start returns
 *   DISP_REJECT: discard the gradient (no disp_done)
 * disp_done must follow every DISP_APPLY / DISP_REDUCE, also when the param
 * store dropped the update (leashed persistence bound): an interval only
 * closes once all its accepted steps are done.
 *
 * Threads: try_start/finish/done(w) from worker w only; set_m, set_y, stop
 * and the getters from any thread. */
#ifndef PSGD_DISP_H
#define PSGD_DISP_H

#include <stddef.h>
#include <stdint.h>

typedef struct disp disp;

enum { DISP_REJECT = 0, DISP_APPLY = 1, DISP_CONTRIB = 2, DISP_REDUCE = 3 };

/* Largest interval size the interval dispatcher can hold (20-bit counters in
 * its state word, see disp_interval.c). Larger y is clamped to this. */
#define DISP_Y_MAX ((1L << 20) - 1)

/* A step as the dispatcher sees it; filled by try_start, completed by finish. */
typedef struct {
  uint64_t i;        /* start index (FAA on s_started; GETBATCH(i)) */
  uint64_t interval; /* interval id (interval), round (sync), 0 (async) */
  uint32_t y;        /* interval size in force (interval), 0 otherwise */
  uint32_t m;        /* sync: participants of the round; else the bound m at start */
  uint64_t priv;     /* the dispatcher's own (interval: generation it accepted in) */
} disp_ticket;

/* Interval test/trace hook: called by the worker that opens interval `id`
 * (ids count from 0; interval 0 is opened at create), with its first start
 * index I_first and size y. Must be cheap and must not block. */
typedef void (*disp_open_fn)(void *ctx, uint64_t id, uint64_t first, long y);

typedef struct {
  int n_workers;       /* threads that will call in (worker ids 0..n_workers-1) */
  int m;               /* initial active-thread bound, 1..n_workers */
  long y0;             /* interval: initial y (1..DISP_Y_MAX, clamped) */
  disp_open_fn on_open;/* interval: optional hook (NULL: none) */
  void *on_open_ctx;
} disp_cfg;

/* Bound on the staleness tau of an accepted step (steprec.h). */
typedef enum {
  DISP_TAU_UNBOUNDED = 0, /* any tau */
  DISP_TAU_Y,             /* tau <= y - 1 (interval, paper Alg. 2) */
  DISP_TAU_ZERO           /* tau = 0: one update per round on the theta all read */
} disp_tau;

typedef struct disp_ops {
  const char *name;
  const char *help;
  /* 1: the implementation handles m and sleeping itself (sync); 0: the shared
   * gate in disp.c puts workers w >= m to sleep before try_start. */
  int own_gate;
  /* Capabilities (the rules that use them are written once, in algo.c): */
  int has_y;         /* 1: an interval size y (set_y/get_y): y0 and y controllers apply */
  int needs_reduce;  /* 1: finish may return DISP_REDUCE (then reduce is set): the engine keeps
                        a reduction buffer */
  int rejects;       /* 1: finish may return DISP_REJECT (more started steps than accepted) */
  disp_tau tau;      /* what it guarantees on the staleness tau of an accepted step */
  int virtual_clock; /* 1: has a virtual-time form (vclock.c) */
  void *(*create)(disp *d, const disp_cfg *cfg, char *err, size_t errlen);
  void (*destroy)(void *impl);
  int (*try_start)(disp *d, void *impl, int w, disp_ticket *t);
  int (*finish)(disp *d, void *impl, int w, disp_ticket *t);
  void (*done)(disp *d, void *impl, int w, const disp_ticket *t); /* NULL: nothing */
  void (*set_y)(void *impl, long y);                              /* NULL: no y */
  long (*get_y)(void *impl);                                      /* NULL: 0 */
  void (*on_m)(void *impl);   /* m changed (NULL: nothing beyond the gate) */
  void (*on_stop)(void *impl);/* release every waiter (NULL: nothing) */
  /* own_gate dispatchers with a virtual-time form: 1 if try_start(w) would
   * return now without waiting (the virtual clock's one thread must never
   * wait in it); NULL otherwise */
  int (*can_start)(void *impl, int w);
  /* needs_reduce: the one update of a round from the gradients of its n
   * participants (grads[k]: worker k's, d floats each), written into out
   * (d floats) or one of grads returned; called by the reducer between
   * DISP_REDUCE and done. NULL: no reduction. */
  const float *(*reduce)(const float *const *grads, int n, size_t d, float *out);
} disp_ops;

/* The registry: every dispatcher, in a fixed order. */
#define DISP_COUNT 3
extern const disp_ops *const disp_registry[];
/* NULL if unknown. */
const disp_ops *disp_find(const char *name);
/* "async | interval | sync" into buf (for messages and usage). */
void disp_names(char *buf, size_t cap);

disp *disp_create(const disp_ops *ops, const disp_cfg *cfg, char *err, size_t errlen);
void disp_free(disp *d);
const disp_ops *disp_get_ops(const disp *d);

/* 1 with t filled: the step may run. 0: the run is stopping. Sleeps while
 * w >= m (or, for sync, until w's next round opens). */
int disp_try_start(disp *d, int w, disp_ticket *t);
int disp_finish(disp *d, int w, disp_ticket *t);
/* 1 if disp_try_start(d, w) would return without waiting: the run is
 * stopping, or w < m (shared gate), or the own gate lets w in now. */
int disp_can_start(disp *d, int w);
void disp_done(disp *d, int w, const disp_ticket *t);
/* After DISP_REDUCE: the round's update (ops->reduce; see disp_ops). */
const float *disp_reduce(const disp *d, const float *const *grads, int n, size_t dim,
                         float *out);

/* The active-thread bound; set_m clamps to [1, n_workers] and wakes sleepers. */
void disp_set_m(disp *d, int m);
int disp_m(const disp *d);
int disp_n_workers(const disp *d);
/* Interval size: set_y takes effect when the next interval opens (no-op for
 * dispatchers without y); disp_y is the y in force (0 if none). */
void disp_set_y(disp *d, long y);
long disp_y(const disp *d);
/* Stops the run: every try_start returns 0 from now on, sleepers wake. */
void disp_stop(disp *d);
int disp_stopped(const disp *d);

/* For the implementations: their registry entries. */
extern const disp_ops disp_async_ops, disp_interval_ops, disp_sync_ops;

#endif
