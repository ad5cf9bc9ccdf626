/* disp_async.c - the asynchronous dispatcher (paper Sec. 3, "Async"): every
 * worker within the bound m may start a step at any time, and every finished
 * step's gradient is applied. Its only state is the start counter s_started
 * (paper Alg. 2 line 3); the bound m and the sleeping of idle workers are the
 * shared gate of disp.c. */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "disp.h"

typedef struct {
  /* relaxed: an index generator only; the param store orders the data */
  _Alignas(64) _Atomic uint64_t s_started;
} async_state;

static void *async_create(disp *d, const disp_cfg *cfg, char *err, size_t errlen) {
  (void)d;
  (void)cfg;
  async_state *a = psgd_calloc(sizeof *a);
  if (!a) psgd_err(err, errlen, "dispatcher async: out of memory");
  else atomic_init(&a->s_started, 0);
  return a;
}

static void async_destroy(void *impl) { psgd_free(impl); }

static int async_try_start(disp *d, void *impl, int w, disp_ticket *t) {
  (void)w;
  async_state *a = impl;
  /* Alg. 2 line 10: i = FAA(s_started, 1) */
  t->i = atomic_fetch_add_explicit(&a->s_started, 1, memory_order_relaxed);
  t->interval = 0;
  t->y = 0;
  t->m = (uint32_t)disp_m(d);
  t->priv = 0;
  return 1;
}

static int async_finish(disp *d, void *impl, int w, disp_ticket *t) {
  (void)d;
  (void)impl;
  (void)w;
  (void)t;
  return DISP_APPLY;
}

const disp_ops disp_async_ops = {
    .name = "async",
    .help = "accept every step (HOGWILD!-style asynchronous SGD)",
    .own_gate = 0,
    .has_y = 0,
    .needs_reduce = 0,
    .rejects = 0,
    .tau = DISP_TAU_UNBOUNDED,
    .virtual_clock = 1,
    .create = async_create,
    .destroy = async_destroy,
    .try_start = async_try_start,
    .finish = async_finish,
};
