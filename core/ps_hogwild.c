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
 * FAA result at the start of the update (both seq_cst, see ps.h). */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "ps.h"

typedef struct {
  _Alignas(64) _Atomic uint64_t version;
  size_t d;
  optim_spec opt;
  float *theta; /* racy by design: only the two functions below touch it */
  float *v;     /* momentum, racy likewise (NULL without momentum) */
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
  psgd_free(h->v);
  psgd_free(h->theta);
  psgd_free(h);
}

static const float *hw_read_begin(void *impl, int slot, float *local, uint64_t *vr) {
  (void)slot;
  hogwild *h = impl;
  *vr = atomic_load_explicit(&h->version, memory_order_seq_cst);
  ps_hogwild_copy(local, h->theta, h->d);
  return local;
}

static int hw_apply(void *impl, int slot, const float *g, uint64_t vr, uint64_t *va) {
  (void)slot;
  hogwild *h = impl;
  uint64_t a = atomic_fetch_add_explicit(&h->version, 1, memory_order_seq_cst);
  *va = a;
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
  st->bytes = h->d * sizeof(float) * (h->v ? 2 : 1);
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
    .apply = hw_apply,
    .version = hw_version,
    .snapshot = hw_snapshot,
    .stats = hw_stats,
};
