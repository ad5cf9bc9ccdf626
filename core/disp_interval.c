/* disp_interval.c - the Interval-Asynchronous dispatcher (paper Alg. 2) with
 * an exact staleness bound: every accepted step has tau <= y - 1, where
 * tau = version_apply - version_read counts the model updates applied between
 * the step's read of theta and its own apply.
 *
 * Why not Alg. 2 as printed. There, the y-th acceptance of an interval opens
 * the next one at once (lines 27-30), before the accepted steps have applied
 * their updates (Alg. 1 line 8 runs after FINISHSTEP returns). So a step of
 * the next interval can read theta while updates of the previous interval are
 * still to land, and those count into its tau: tau > y happens (the authors'
 * code shows it). Here acceptance and the end of an interval are separated:
 * an interval closes only when all its accepted updates are applied.
 *
 * State (all 64-bit atomics):
 *   state     = gen:24 | accepted:20 | applied:20   the current interval
 *   first     = gen:24 | I_first:40                 its first start index
 *   ysz       = gen:24 | y:20                       its size
 *   s_started                                       start counter (Alg. 2 line 3)
 * (y <= DISP_Y_MAX = 2^20 - 1; start indexes < 2^40; gen wraps after 2^24
 * intervals, see ABA below.)
 *
 * try_start: i = FAA(s_started) (seq_cst)                    [Alg. 2 line 10]
 * finish(i): loop { w = state; read first, ysz of gen(w);
 *                   reject if i < I_first                    [lines 17-18, 22]
 *                   reject if accepted(w) >= y               [line 22]
 *                   CAS(state, w, w + accepted 1) -> accept  [lines 20-26] }
 * the worker applies its update, then
 * done: FAA(state, applied 1); the worker that makes applied == accepted == y
 *       opens the next interval: y <- pending y (controller, line 28),
 *       I_first <- load(s_started) (seq_cst, line 29), writes first and ysz
 *       tagged gen+1, then publishes state {gen+1, 0, 0} (line 30) with release.
 *
 * Why tau <= y - 1 for an accepted step S of interval g (read at version
 * v_r, its update takes version v_a by the store's FAA at apply):
 *  (a) Every update of an interval k < g is counted in v_r. Interval g was
 *      opened by O after all of g-1's updates were applied: each of them did
 *      its version FAA, then its done-FAA on `state`, which O's done-FAA reads
 *      (release sequence), so they all happen before O's load of s_started.
 *      S was accepted only with i >= I_first(g) = the value O loaded; since
 *      s_started only changes by seq_cst FAAs and O's load is seq_cst, S's FAA
 *      comes after O's load in the single total order of seq_cst operations
 *      (else O would have read a value > i). S reads the version counter
 *      (seq_cst) after its FAA, so it sees every update of g-1 and before.
 *  (b) No update of an interval k > g lands before v_a. Interval g+1 opens
 *      only after S's done-FAA, which follows S's apply; a step of g+1 is
 *      accepted by a CAS that reads the release-publish of gen g+1, so its
 *      version FAA happens after S's.
 *  (c) Rejected steps never apply, and interval g accepts exactly y steps, so
 *      at most y - 1 other updates can fall between v_r and v_a.
 * The version counter is the store's (ps.h): FAA at apply, seq_cst load
 * before the copy (for the locked stores inside their critical sections).
 *
 * Generation (ABA). A finisher reads state (gen g), then first/ysz. The tags
 * in first/ysz tell whether they belong to g: the opener of g+1 writes them
 * before publishing state g+1, so a finisher may see the new first with the
 * old state; then interval g is complete, and the step is rejected if it
 * started before the new interval (i < I_first(g+1), also before every later
 * one), otherwise it yields and retries until g+1 is published. A CAS carrying
 * gen g can only succeed while the interval is g: a stale finisher cannot slip
 * into a newer interval, unless it stalls across 2^24 interval openings
 * between its load and its CAS.
 *
 * With y >= the run's steps this is async (one interval, every step inside
 * it); with y = 1 every accepted step has tau = 0: sequential in effect. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "disp.h"

#define GEN_BITS 24
#define GEN_MASK ((UINT64_C(1) << GEN_BITS) - 1)
#define CNT_MASK ((UINT64_C(1) << 20) - 1)
#define FIRST_MASK ((UINT64_C(1) << 40) - 1)
#define ACC_ONE (UINT64_C(1) << 20)

#define ST_GEN(w) ((w) >> 40)
#define ST_ACC(w) (((w) >> 20) & CNT_MASK)
#define ST_APP(w) ((w)&CNT_MASK)
#define TAG40(x) ((x) >> 40)
#define LOW40(x) ((x)&FIRST_MASK)
#define TAG20(x) ((x) >> 20)
#define LOW20(x) ((x)&CNT_MASK)

typedef struct {
  _Alignas(64) _Atomic uint64_t s_started;
  _Alignas(64) _Atomic uint64_t state;
  _Atomic uint64_t first;
  _Atomic uint64_t ysz;
  /* intervals opened so far - 1 = id of the current one (64-bit, never wraps) */
  _Atomic uint64_t interval_no;
  _Alignas(64) _Atomic long y_pending; /* relaxed: a plain setting for the next opening */
  disp_open_fn on_open;
  void *on_open_ctx;
} ivl;

static long clamp_y(long y) { return y < 1 ? 1 : y > DISP_Y_MAX ? DISP_Y_MAX : y; }

static void *ivl_create(disp *d, const disp_cfg *cfg, char *err, size_t errlen) {
  (void)d;
  ivl *v = psgd_calloc(sizeof *v);
  if (!v) {
    psgd_err(err, errlen, "dispatcher interval: out of memory");
    return NULL;
  }
  long y = clamp_y(cfg->y0);
  atomic_init(&v->s_started, 0);
  atomic_init(&v->state, 0);
  atomic_init(&v->first, 0);
  atomic_init(&v->ysz, (uint64_t)y);
  atomic_init(&v->interval_no, 0);
  atomic_init(&v->y_pending, y);
  v->on_open = cfg->on_open;
  v->on_open_ctx = cfg->on_open_ctx;
  if (v->on_open) v->on_open(v->on_open_ctx, 0, 0, y);
  return v;
}

static void ivl_destroy(void *impl) { psgd_free(impl); }

static int ivl_try_start(disp *d, void *impl, int w, disp_ticket *t) {
  (void)w;
  ivl *v = impl;
  /* seq_cst: orders this start after the opener's load of s_started, the
   * base of the staleness bound (a) above */
  t->i = atomic_fetch_add_explicit(&v->s_started, 1, memory_order_seq_cst);
  t->m = (uint32_t)disp_m(d);
  t->interval = 0;
  t->y = 0;
  t->priv = 0;
  return 1;
}

static int ivl_finish(disp *d, void *impl, int w, disp_ticket *t) {
  (void)d;
  (void)w;
  ivl *v = impl;
  /* acquire: pairs with the opener's release-publish of state, making that
   * interval's first and ysz visible */
  uint64_t s = atomic_load_explicit(&v->state, memory_order_acquire);
  for (;;) {
    uint64_t g = ST_GEN(s);
    uint64_t fw = atomic_load_explicit(&v->first, memory_order_acquire);
    uint64_t yw = atomic_load_explicit(&v->ysz, memory_order_acquire);
    if (TAG40(fw) != g || TAG20(yw) != g) {
      /* a newer interval's first/ysz are written: interval g is complete */
      if (TAG40(fw) != g && t->i < LOW40(fw)) {
        /* the size in force: the newer interval's once its ysz is written,
         * else g's (its opener is between the two stores); never 0 */
        t->y = (uint32_t)LOW20(yw);
        goto reject;
      }
      uint64_t s2 = atomic_load_explicit(&v->state, memory_order_acquire);
      if (s2 == s) sched_yield(); /* its opener is between two stores */
      s = s2;
      continue;
    }
    uint64_t y = LOW20(yw);
    t->y = (uint32_t)y;
    /* Alg. 2 lines 17-18, 22: started before this interval, or interval full */
    if (t->i < LOW40(fw) || ST_ACC(s) >= y) goto reject;
    /* acq_rel on success: acquire keeps the interval's history before our
     * apply; failure reloads s (acquire) and re-decides */
    if (atomic_compare_exchange_weak_explicit(&v->state, &s, s + ACC_ONE, memory_order_acq_rel,
                                              memory_order_acquire)) {
      t->priv = g;
      /* the interval cannot close before our done, so this is its id */
      t->interval = atomic_load_explicit(&v->interval_no, memory_order_relaxed);
      return DISP_APPLY;
    }
  }
reject:
  t->interval = atomic_load_explicit(&v->interval_no, memory_order_relaxed);
  return DISP_REJECT;
}

static void ivl_done(disp *d, void *impl, int w, const disp_ticket *t) {
  (void)d;
  (void)w;
  ivl *v = impl;
  /* acq_rel: release publishes our apply (incl. its version FAA) to the
   * opener; acquire (for the opener) collects every other applier's */
  uint64_t s = atomic_fetch_add_explicit(&v->state, 1, memory_order_acq_rel) + 1;
  uint64_t y = t->y;
  if (ST_ACC(s) != y || ST_APP(s) != y) return;
  /* we applied the last update of a full interval: open the next one */
  uint64_t g1 = (ST_GEN(s) + 1) & GEN_MASK;
  long yn = clamp_y(atomic_load_explicit(&v->y_pending, memory_order_relaxed));
  /* seq_cst: see (a) - every later-accepted step's FAA follows this load */
  uint64_t first = atomic_load_explicit(&v->s_started, memory_order_seq_cst);
  PSGD_CHECK(first <= FIRST_MASK);
  uint64_t id = atomic_load_explicit(&v->interval_no, memory_order_relaxed) + 1;
  atomic_store_explicit(&v->interval_no, id, memory_order_relaxed);
  /* release: a finisher that sees these tags also sees interval_no */
  atomic_store_explicit(&v->first, g1 << 40 | first, memory_order_release);
  atomic_store_explicit(&v->ysz, g1 << 20 | (uint64_t)yn, memory_order_release);
  if (v->on_open) v->on_open(v->on_open_ctx, id, first, yn);
  /* seq_cst (a release would do for the CAS side): publishes the interval */
  atomic_store_explicit(&v->state, g1 << 40, memory_order_seq_cst);
}

static void ivl_set_y(void *impl, long y) {
  ivl *v = impl;
  atomic_store_explicit(&v->y_pending, clamp_y(y), memory_order_relaxed);
}

static long ivl_get_y(void *impl) {
  ivl *v = impl;
  return (long)LOW20(atomic_load_explicit(&v->ysz, memory_order_relaxed));
}

const disp_ops disp_interval_ops = {
    .name = "interval",
    .help = "Interval-Asynchrony (paper Alg. 2): accept y steps per interval, tau <= y - 1",
    .own_gate = 0,
    .has_y = 1,
    .needs_reduce = 0,
    .rejects = 1,
    .tau = DISP_TAU_Y,
    .virtual_clock = 1,
    .create = ivl_create,
    .destroy = ivl_destroy,
    .try_start = ivl_try_start,
    .finish = ivl_finish,
    .done = ivl_done,
    .set_y = ivl_set_y,
    .get_y = ivl_get_y,
};
