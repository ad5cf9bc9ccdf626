/* ps_hogwild.c - the HOGWILD! param store (Niu et al. 2011; thesis Sec. 3.1):
 * shared theta (and momentum) as plain floats, copied and updated by every
 * worker at once without any synchronization. Reads may see a mix of
 * versions; updates may interleave. That is the algorithm, not a bug.
 *
 * The data race is confined to exactly two functions, ps_hogwild_copy and
 * ps_hogwild_update, which tests/tsan.supp names; everything else here (the
 * version counter) is atomic and TSan-clean. Plain floats and not relaxed
 * atomics: measured here, relaxed-atomic element access made the copy ~3x and
 * the update ~5x slower. On x86-64 aligned 4-byte stores do not
 * tear, so every element always holds some value a worker wrote.
 *
 * Versions: version_read is loaded before the copy, version_apply is the
 * FAA result at the start of the update (both seq_cst, see ps.h).
 *
 * One caller (ps_one_caller: the virtual clock's event loop, where an
 * apply is one instant and reads never tear): no copies. theta is a chain of
 * immutable versions; a read hands out the current one (referenced by the
 * slot until its read_end), an apply writes the next version out of place
 * (optim_apply_to: bit for bit the in-place update) into a free buffer, or
 * updates in place when no read holds the current one. The same values as
 * copying, without the copy's pass over theta. At most one buffer per slot
 * plus the current one are live: n_slots + 1 buffers, preallocated
 * untouched (pages are faulted in on first use). The loop is the only
 * caller, so these fields are plain; the threads that compute gradients on
 * a version get it, and hand it back, through the loop's job hand-off. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ps.h"

typedef struct {
  float *p;
  int refs;     /* slots reading it */
} hw_buf;

typedef struct {
  _Alignas(64) _Atomic uint64_t version;
  size_t d;
  optim_spec opt;
  float *theta; /* racy by design: only the two functions below touch it */
  float *v;     /* momentum, racy likewise (NULL without momentum) */
  /* one caller only (NULL otherwise): the versions */
  hw_buf *bufs;   /* n_bufs, bufs[0].p == theta at create */
  hw_buf *cur;    /* the current version */
  hw_buf **held;  /* per slot: the version it reads, or NULL */
  hw_buf **free_; /* stack of unreferenced non-current buffers */
  int n_bufs, n_free, n_used, n_slots;
} hogwild;

/* The racy read (HOGWILD!): named in tests/tsan.supp. */
__attribute__((noinline)) void ps_hogwild_copy(float *dst, const float *theta, size_t d) {
  memcpy(dst, theta, d * sizeof *dst);
}

/* The racy update (HOGWILD!): named in tests/tsan.supp. */
__attribute__((noinline)) void ps_hogwild_update(const optim_spec *o, float *theta, float *v,
                                                 const float *g, size_t d, long tau) {
  ps_update(o, theta, v, g, d, tau);
}

static void hw_free_versions(hogwild *h) {
  for (int i = 0; h->bufs && i < h->n_bufs; i++)
    if (h->bufs[i].p != h->theta) psgd_free(h->bufs[i].p); /* theta: freed with h */
  free(h->bufs);
  free(h->held);
  free(h->free_);
  h->bufs = NULL;
  h->held = h->free_ = NULL;
}

static void *hw_create(const ps_cfg *cfg, char *err, size_t errlen) {
  hogwild *h = psgd_calloc(sizeof *h);
  if (!h) goto oom;
  h->d = cfg->d;
  h->opt = cfg->opt;
  h->theta = psgd_alloc(cfg->d * sizeof *h->theta);
  if (!h->theta) goto oom_with_h;
  if (cfg->opt.momentum > 0 && cfg->opt.kind != OPTIM_SGD) {
    h->v = psgd_calloc(cfg->d * sizeof *h->v);
    if (!h->v) goto oom_with_theta;
  }
  memcpy(h->theta, cfg->theta0, cfg->d * sizeof *h->theta);
  atomic_init(&h->version, 0);
  h->n_slots = cfg->n_slots;
  return h;
oom_with_theta:
  psgd_free(h->theta);
oom_with_h:
  psgd_free(h);
oom:
  psgd_err(err, errlen, "param store hogwild: out of memory for d = %zu", cfg->d);
  return NULL;
}

static void hw_destroy(void *impl) {
  hogwild *h = impl;
  if (!h) return;
  hw_free_versions(h);
  psgd_free(h->v);
  psgd_free(h->theta);
  psgd_free(h);
}

static int hw_one_caller(void *impl, char *err, size_t errlen) {
  hogwild *h = impl;
  if (h->bufs) return 0;
  h->n_bufs = h->n_slots + 1;
  h->bufs = calloc((size_t)h->n_bufs, sizeof *h->bufs);
  h->held = calloc((size_t)h->n_slots, sizeof *h->held);
  h->free_ = calloc((size_t)h->n_bufs, sizeof *h->free_);
  if (!h->bufs || !h->held || !h->free_) goto oom;
  h->bufs[0].p = h->theta;
  for (int i = 1; i < h->n_bufs; i++) {
    if (!(h->bufs[i].p = psgd_alloc(h->d * sizeof(float)))) goto oom;
    h->free_[h->n_free++] = &h->bufs[h->n_bufs - i]; /* bufs[1] on top */
  }
  h->cur = &h->bufs[0];
  h->n_used = 1;
  return 0;
oom:
  hw_free_versions(h);
  h->n_free = 0;
  return psgd_err(err, errlen, "param store hogwild: out of memory for %d versions of d = %zu",
                  h->n_slots + 1, h->d);
}

static const float *hw_read_begin(void *impl, int slot, float *local, uint64_t *vr) {
  hogwild *h = impl;
  *vr = atomic_load_explicit(&h->version, memory_order_seq_cst);
  if (h->bufs) { /* one caller: the current version itself */
    PSGD_CHECK(!h->held[slot]);
    h->held[slot] = h->cur;
    h->cur->refs++;
    return h->cur->p;
  }
  ps_hogwild_copy(local, h->theta, h->d);
  return local;
}

static void hw_read_end(void *impl, int slot) {
  hogwild *h = impl;
  if (!h->bufs || !h->held[slot]) return;
  hw_buf *b = h->held[slot];
  h->held[slot] = NULL;
  if (--b->refs == 0 && b != h->cur) h->free_[h->n_free++] = b;
}

static int hw_apply(void *impl, int slot, const float *g, uint64_t vr, uint64_t *va) {
  (void)slot;
  hogwild *h = impl;
  uint64_t a = atomic_fetch_add_explicit(&h->version, 1, memory_order_seq_cst);
  *va = a;
  if (h->bufs && h->cur->refs > 0) { /* read by a step in flight: the next version elsewhere */
    PSGD_CHECK(h->n_free > 0);
    hw_buf *nb = h->free_[--h->n_free];
    ps_update_to(&h->opt, nb->p, h->cur->p, h->v, g, h->d, (long)(a - vr));
    h->cur = nb;
    h->theta = nb->p;
    if (nb - h->bufs >= h->n_used) h->n_used = (int)(nb - h->bufs) + 1;
    return 1;
  }
  ps_hogwild_update(&h->opt, h->theta, h->v, g, h->d, (long)(a - vr));
  return 1;
}

static uint64_t hw_version(void *impl) {
  hogwild *h = impl;
  return atomic_load_explicit(&h->version, memory_order_relaxed);
}

static void hw_snapshot(void *impl, int slot, float *theta) {
  (void)slot;
  hogwild *h = impl;
  ps_hogwild_copy(theta, h->theta, h->d);
}

static void hw_stats(void *impl, ps_stats *st) {
  hogwild *h = impl;
  st->applied = atomic_load_explicit(&h->version, memory_order_relaxed);
  st->bytes = h->d * sizeof(float) * ((h->v ? 2 : 1) + (h->bufs ? h->n_used - 1 : 0));
}

const ps_ops ps_hogwild_ops = {
    .name = "hogwild",
    .help = "HOGWILD!: unsynchronized plain-float reads and updates (inconsistent)",
    .retries = 0,
    .has_ps_bound = 0,
    .versions = 0,
    .consistent = 0,
    .virtual_clock = PS_VT_INSTANT,
    .create = hw_create,
    .destroy = hw_destroy,
    .read_begin = hw_read_begin,
    .read_end = hw_read_end,
    .apply = hw_apply,
    .version = hw_version,
    .snapshot = hw_snapshot,
    .stats = hw_stats,
    .one_caller = hw_one_caller,
};
