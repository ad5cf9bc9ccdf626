/* disp.h - dispatchers (coarse-grained synchronization, paper Sec. 3):
 * try_start(worker) -> (ok, i) and finish(worker, i) -> accepted, plus the
 * interval bookkeeping that makes acceptance and the model write one action.
 *
 * Registry names: "async" (accept every step), "interval" (paper Alg. 2 with
 * the apply-before-reopen rule in disp_interval.c), "sync" (lock-step
 * data-parallel rounds; the engine averages the round's gradients).
 * The active-thread bound m is part of the dispatcher so a controller can
 * change it at run time (ElAsyncSGD). Dispatchers never read the clock.
 *
 * Threads: every function may be called by any worker concurrently. */
#ifndef PSGD_DISP_H
#define PSGD_DISP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Largest interval size the packed interval word can count (20 bits). */
#define DISP_Y_MAX ((1u << 20) - 1)

typedef enum { DISP_ASYNC = 0, DISP_INTERVAL, DISP_SYNC, DISP_COUNT } disp_kind;

typedef struct {
  disp_kind kind;
  /* Paper Alg. 2 state, each on its own cache line. */
  _Alignas(64) _Atomic uint64_t s_started; /* FAA per started step */
  _Alignas(64) _Atomic uint64_t i_first;   /* start index that opened the interval */
  _Alignas(64) _Atomic uint64_t word;      /* gen:24 | accepted:20 | applied:20 */
  _Alignas(64) _Atomic uint32_t y;         /* interval size in force */
  _Atomic uint32_t y_next;                 /* takes effect when the next interval opens */
  _Atomic uint64_t n_intervals;            /* intervals opened so far (interval id) */
  _Alignas(64) _Atomic int m;              /* active-thread bound */
} disp;

/* name -> kind via the registry; -1 if unknown. */
int disp_parse(const char *name, disp_kind *out);
const char *disp_name(disp_kind k);

void disp_init(disp *d, disp_kind kind, uint32_t y0, int m);

/* Alg. 2 TRYSTARTSTEP: 0 if worker >= m (caller waits), else 1 and *i. */
int disp_try_start(disp *d, int worker, uint64_t *i);

/* Alg. 2 FINISHSTEP. Returns 1 if step i is accepted; *interval and *y say
 * which interval and size it was judged in. For an accepted interval step the
 * caller MUST call disp_applied after writing its update to theta. */
int disp_finish(disp *d, uint64_t i, uint64_t *interval, uint32_t *y);

/* Interval only: the accepted step's update is in theta. The step that
 * completes the interval's y applies opens the next interval. */
void disp_applied(disp *d);

/* Controllers: new y for the next interval (clamped to [1, DISP_Y_MAX]);
 * new active-thread bound. */
void disp_set_y(disp *d, uint32_t y);
void disp_set_m(disp *d, int m);
static inline int disp_m(disp *d) { return atomic_load_explicit(&d->m, memory_order_relaxed); }
static inline uint32_t disp_y(disp *d) {
  return atomic_load_explicit(&d->y, memory_order_relaxed);
}

#endif
