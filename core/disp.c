/* disp.c - the dispatcher registry and the async/interval/sync dispatchers.
 *
 * Interval-Asynchrony (paper Alg. 2), with one change that closes a hole of
 * the original: there, a step could be accepted in interval k+1 while updates
 * accepted in interval k were still being written, so its staleness tau could
 * exceed y. Here an interval opens only after every update accepted in the
 * previous one has been APPLIED:
 *
 *   word = gen:24 | accepted:20 | applied:20, one 64-bit atomic.
 *   finish(i): loop { w = load(word); if accepted(w) >= y: reject;
 *                     if i < I_first: reject; CAS(word, w, w + 1 accepted) }
 *   after the accepted step wrote theta: applied(w) += 1; the step that makes
 *   applied == y opens the next interval: y <- y_next, I_first <- s_started,
 *   then word <- {gen+1, 0, 0} (release).
 *
 * Why tau <= y - 1 < y for every accepted step s of interval k: s was accepted
 * only if i >= I_first(k) (the CAS on a word of generation k succeeded, and
 * I_first is read after that word was observed, so it is I_first(k) or newer;
 * a newer one means the generation changed and the CAS fails). i >= I_first(k)
 * means s's FAA on s_started, and hence its read of theta, came after interval
 * k opened, which came after every update of intervals < k was applied. No
 * update of interval k+1 can be applied before s's own apply, because k+1
 * opens only after all y applies of k, s's included. So the updates applied
 * between s's read and s's apply all belong to interval k and are not s's
 * own: at most y - 1. The generation makes a stale CAS (ABA) impossible. */
#include "disp.h"

#include <assert.h>
#include <string.h>

static const char *const disp_names[] = {"async", "interval", "sync"};
static_assert(sizeof disp_names / sizeof disp_names[0] == DISP_COUNT, "one name per dispatcher");

int disp_parse(const char *name, disp_kind *out) {
  for (int k = 0; k < DISP_COUNT; k++)
    if (!strcmp(name, disp_names[k])) {
      *out = (disp_kind)k;
      return 0;
    }
  return -1;
}

const char *disp_name(disp_kind k) { return (unsigned)k < DISP_COUNT ? disp_names[k] : "?"; }

#define W_APPLIED_BITS 20
#define W_ACC_SHIFT 20
#define W_GEN_SHIFT 40
#define W_MASK20 ((uint64_t)DISP_Y_MAX)

static inline uint32_t w_acc(uint64_t w) { return (uint32_t)((w >> W_ACC_SHIFT) & W_MASK20); }
static inline uint32_t w_applied(uint64_t w) { return (uint32_t)(w & W_MASK20); }
static inline uint64_t w_gen(uint64_t w) { return w >> W_GEN_SHIFT; }

static uint32_t clamp_y(uint32_t y) { return y < 1 ? 1 : y > DISP_Y_MAX ? DISP_Y_MAX : y; }

void disp_init(disp *d, disp_kind kind, uint32_t y0, int m) {
  memset(d, 0, sizeof *d);
  d->kind = kind;
  atomic_init(&d->s_started, 0);
  atomic_init(&d->i_first, 0);
  atomic_init(&d->word, 0);
  atomic_init(&d->y, clamp_y(y0));
  atomic_init(&d->y_next, clamp_y(y0));
  atomic_init(&d->n_intervals, 0);
  atomic_init(&d->m, m < 1 ? 1 : m);
}

int disp_try_start(disp *d, int worker, uint64_t *i) {
  /* Alg. 2 lines 7-10. relaxed: the bound is advisory; a worker that just
   * missed a lowered m finishes one more step, as in the paper. */
  if (worker >= atomic_load_explicit(&d->m, memory_order_relaxed)) return 0;
  /* seq_cst: the FAA must be ordered before this step's later read of theta
   * and against the opener's load of s_started (the tau argument above). */
  *i = atomic_fetch_add(&d->s_started, 1);
  return 1;
}

int disp_finish(disp *d, uint64_t i, uint64_t *interval, uint32_t *y) {
  if (d->kind != DISP_INTERVAL) {
    *interval = 0;
    *y = 0;
    return 1; /* async accepts all; sync rounds are closed by the engine */
  }
  for (;;) {
    /* acquire: pairs with the opener's release so y and I_first of this
     * generation are visible */
    uint64_t w = atomic_load_explicit(&d->word, memory_order_acquire);
    uint32_t yy = atomic_load_explicit(&d->y, memory_order_relaxed);
    *interval = w_gen(w);
    *y = yy;
    if (w_acc(w) >= yy) return 0;                                    /* Alg. 2 line 22 */
    if (i < atomic_load_explicit(&d->i_first, memory_order_acquire)) return 0; /* lines 17, 22 */
    /* acq_rel: success publishes our claim; a failed CAS retries with the new word */
    if (atomic_compare_exchange_weak_explicit(&d->word, &w, w + ((uint64_t)1 << W_ACC_SHIFT),
                                              memory_order_acq_rel, memory_order_acquire))
      return 1;
  }
}

void disp_applied(disp *d) {
  if (d->kind != DISP_INTERVAL) return;
  /* acq_rel: our theta write happens-before the opener's reopening */
  uint64_t w = atomic_fetch_add_explicit(&d->word, 1, memory_order_acq_rel) + 1;
  uint32_t yy = atomic_load_explicit(&d->y, memory_order_relaxed);
  if (w_applied(w) < yy || w_acc(w) < yy) return;
  /* Only one step sees applied == y in this generation: it opens the next.
   * Alg. 2 lines 27-30, after all applies. */
  uint32_t yn = atomic_load_explicit(&d->y_next, memory_order_relaxed);
  atomic_store_explicit(&d->y, yn, memory_order_relaxed);
  /* seq_cst load of s_started: every step that got an index below this
   * did its FAA before and is rejected; see the argument on top. */
  atomic_store_explicit(&d->i_first, atomic_load(&d->s_started), memory_order_release);
  atomic_fetch_add_explicit(&d->n_intervals, 1, memory_order_relaxed);
  uint64_t next = (w_gen(w) + 1) << W_GEN_SHIFT;
  /* release: y and I_first become visible with the new generation */
  atomic_store_explicit(&d->word, next, memory_order_release);
}

void disp_set_y(disp *d, uint32_t y) {
  atomic_store_explicit(&d->y_next, clamp_y(y), memory_order_relaxed);
}

void disp_set_m(disp *d, int m) {
  atomic_store_explicit(&d->m, m < 1 ? 1 : m, memory_order_relaxed);
}
