/* ps.c - the param store registry, the thin dispatch over its ops, the
 * shared update step, and the backoff schemes of thesis Sec. 3.5.
 *
 * Backoff (thesis Sec. 2.2.3 / 3.5): "for linear and exponential backoff,
 * the initial backoff is selected at random; for each failed attempt the
 * backoff time is increased linearly or exponentially up to a maximum; for
 * random backoff the time is selected randomly each time." The thesis gives
 * no constants; ours, in pause instructions (~10-140 cycles each, by CPU):
 * initial wait uniform in [1, BO_INIT], linear step = the initial wait,
 * exponential doubling, cap BO_MAX; random: uniform in [1, BO_MAX]. A wait
 * at the cap also yields the CPU: with more threads than cores the holder
 * of a lock may be preempted, and spinning would only delay it. */
#define _GNU_SOURCE
#include "ps.h"

#include <assert.h>
#include <sched.h>
#include <string.h>

#include "common.h"

#define BO_INIT PS_BACKOFF_INIT
#define BO_MAX PS_BACKOFF_MAX

/* Unsized on purpose: the static_assert then fails when PS_COUNT and the
 * entries disagree (a sized array would pad a missing entry with NULL). */
const ps_ops *const ps_registry[] = {&ps_hogwild_ops, &ps_mutex_ops, &ps_rwlock_ops,
                                     &ps_leashed_ops};
static_assert(sizeof ps_registry / sizeof ps_registry[0] == PS_COUNT,
              "PS_COUNT must equal the number of registry entries");

static const char *const backoff_names[] = {"none", "linear", "exponential", "random"};
static_assert(sizeof backoff_names / sizeof backoff_names[0] == PS_BACKOFF_COUNT,
              "one name per backoff scheme");

struct ps {
  const ps_ops *ops;
  void *impl;
};

const ps_ops *ps_find(const char *name) {
  for (int i = 0; i < PS_COUNT; i++)
    if (name && !strcmp(name, ps_registry[i]->name)) return ps_registry[i];
  return NULL;
}

void ps_names(char *buf, size_t cap) {
  if (!cap) return;
  buf[0] = '\0';
  for (int i = 0; i < PS_COUNT; i++) {
    if (i) strncat(buf, " | ", cap - strlen(buf) - 1);
    strncat(buf, ps_registry[i]->name, cap - strlen(buf) - 1);
  }
}

int ps_backoff_parse(const char *name, ps_backoff *out) {
  for (int i = 0; i < PS_BACKOFF_COUNT; i++)
    if (name && !strcmp(name, backoff_names[i])) {
      *out = (ps_backoff)i;
      return 0;
    }
  return -1;
}

const char *ps_backoff_name(ps_backoff b) {
  return (unsigned)b < PS_BACKOFF_COUNT ? backoff_names[b] : "unknown";
}

ps *ps_create(const ps_ops *ops, const ps_cfg *cfg, char *err, size_t errlen) {
  if (!ops) {
    psgd_err(err, errlen, "ps_create: no param store");
    return NULL;
  }
  if (cfg->d == 0 || cfg->n_slots < 1 || !cfg->theta0) {
    psgd_err(err, errlen, "param store %s: needs d > 0, n_slots > 0 and theta0", ops->name);
    return NULL;
  }
  if ((unsigned)cfg->backoff >= PS_BACKOFF_COUNT) {
    psgd_err(err, errlen, "param store %s: unknown backoff %d", ops->name, (int)cfg->backoff);
    return NULL;
  }
  ps *p = psgd_calloc(sizeof *p);
  if (!p) {
    psgd_err(err, errlen, "param store %s: out of memory", ops->name);
    return NULL;
  }
  p->ops = ops;
  p->impl = ops->create(cfg, err, errlen);
  if (!p->impl) {
    psgd_free(p);
    return NULL;
  }
  return p;
}

void ps_free(ps *p) {
  if (!p) return;
  p->ops->destroy(p->impl);
  psgd_free(p);
}

const ps_ops *ps_get_ops(const ps *p) { return p->ops; }

const float *ps_read_begin(ps *p, int slot, float *local, uint64_t *version_read) {
  return p->ops->read_begin(p->impl, slot, local, version_read);
}

void ps_read_end(ps *p, int slot) {
  if (p->ops->read_end) p->ops->read_end(p->impl, slot);
}

int ps_apply(ps *p, int slot, const float *g, uint64_t version_read, uint64_t *version_apply) {
  return p->ops->apply(p->impl, slot, g, version_read, version_apply);
}

int ps_apply_build(ps *p, int slot, const float *g, uint64_t version_read) {
  PSGD_CHECK(p->ops->apply_build);
  return p->ops->apply_build(p->impl, slot, g, version_read);
}

int ps_apply_commit(ps *p, int slot, uint64_t *version_apply) {
  PSGD_CHECK(p->ops->apply_commit);
  return p->ops->apply_commit(p->impl, slot, version_apply);
}

uint64_t ps_version(ps *p) { return p->ops->version(p->impl); }
void ps_snapshot(ps *p, int slot, float *theta) { p->ops->snapshot(p->impl, slot, theta); }

int ps_one_caller(ps *p, char *err, size_t errlen) {
  return p->ops->one_caller ? p->ops->one_caller(p->impl, err, errlen) : 0;
}

void ps_get_stats(ps *p, ps_stats *st) {
  memset(st, 0, sizeof *st);
  p->ops->stats(p->impl, st);
}

void ps_update(const optim_spec *o, float *theta, float *v, const float *g, size_t d, long tau) {
  optim_apply(o, optim_lr(o, tau < 0 ? 0 : tau), theta, v, g, d);
}

void ps_update_to(const optim_spec *o, float *dst, const float *theta, float *v, const float *g,
                  size_t d, long tau) {
  optim_apply_to(o, optim_lr(o, tau < 0 ? 0 : tau), dst, theta, v, g, d);
}

/* ------------------------------------------------------------ backoff ---- */

static uint32_t bo_rand(ps_backoff_state *b, uint32_t n) {
  /* xorshift64: per-thread, cheap, good enough to desynchronize threads */
  uint64_t x = b->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  b->rng = x;
  return 1 + (uint32_t)(x % n);
}

void ps_backoff_init(ps_backoff_state *b, ps_backoff kind, uint64_t seed) {
  memset(b, 0, sizeof *b);
  b->kind = kind;
  b->rng = seed * UINT64_C(0x9E3779B97F4A7C15) + UINT64_C(0x2545F4914F6CDD1D);
  if (!b->rng) b->rng = 1;
}

void ps_backoff_reset(ps_backoff_state *b) {
  b->failures = 0;
  b->wait = 0;
  b->last = 0;
}

static inline void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

void ps_backoff_wait(ps_backoff_state *b) {
  if (b->kind == PS_BACKOFF_NONE) return;
  uint32_t w;
  switch (b->kind) {
  case PS_BACKOFF_LINEAR:
    if (b->failures == 0) b->wait = bo_rand(b, BO_INIT);
    w = b->wait * (b->failures + 1);
    break;
  case PS_BACKOFF_EXPONENTIAL:
    if (b->failures == 0) b->wait = bo_rand(b, BO_INIT);
    w = b->failures >= 12 ? BO_MAX : b->wait << b->failures;
    break;
  default: /* random */
    w = bo_rand(b, BO_MAX);
    break;
  }
  if (w > BO_MAX) w = BO_MAX;
  b->last = w;
  b->failures++;
  b->n_waits++;
  for (uint32_t k = 0; k < w; k++) cpu_pause();
  if (w == BO_MAX) sched_yield();
}
