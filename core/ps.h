/* ps.h - param stores: the fine-grained synchronization of parallel SGD
 * (thesis Sec. 3.1): how workers read shared theta and apply updates to it.
 * Only a param store touches shared theta (and the shared momentum buffer).
 *
 * Registry (ps.c, guarded by a static_assert):
 *   "hogwild"  plain floats, no synchronization (HOGWILD!, thesis Alg. 2
 *              without locks); the racy copy and update are the two
 *              functions ps_hogwild_copy / ps_hogwild_update, listed in
 *              tests/tsan.supp; inconsistent reads are the point
 *   "mutex"    one pthread mutex around the copy and the update (thesis Alg. 2)
 *   "rwlock"   POSIX rwlock: shared copy, exclusive update (thesis Alg. 2)
 *   "leashed"  Leashed-SGD (thesis Alg. 3; Baeckstroem et al., IPDPS 2021):
 *              lock-free and consistent; immutable versions of theta, a
 *              worker applies its update to a fresh copy of the latest
 *              version and CASes the shared pointer; persistence bound ps
 * Backoff (thesis Sec. 3.5): none | linear | exponential | random, on a
 * failed try-lock (mutex, rwlock) or a failed CAS (leashed); hogwild has no
 * retry, so no backoff.
 *
 * Versions and staleness. Each store counts applied updates. A read returns
 * version_read = updates contained in the theta it hands out; an apply gets
 * version_apply = updates applied before it, so tau = version_apply -
 * version_read (steprec.h). The step size of an update is
 * optim_lr(opt, tau) (MindTheStep), its rule optim_apply (SGD or momentum;
 * the momentum buffer is part of the shared state). The version counter is
 * read with a seq_cst load and advanced with a seq_cst RMW: the interval
 * dispatcher's staleness bound relies on it (disp_interval.c).
 *
 * Slots: every thread that calls in has a slot id in [0, n_slots): workers
 * 0..n_workers-1, the monitor the next one. Per-slot calls from one thread
 * at a time. Nothing on the worker path allocates after create except the
 * leashed store's lazy growth of its version pool (bounded, see
 * ps_leashed.c). */
#ifndef PSGD_PS_H
#define PSGD_PS_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"

typedef struct ps ps;

typedef enum {
  PS_BACKOFF_NONE = 0,
  PS_BACKOFF_LINEAR,
  PS_BACKOFF_EXPONENTIAL,
  PS_BACKOFF_RANDOM,
  PS_BACKOFF_COUNT
} ps_backoff;

typedef struct {
  size_t d;                /* floats in theta */
  int n_slots;             /* threads that call in (workers + monitor) */
  const float *theta0;     /* initial theta, copied (momentum starts at 0) */
  optim_spec opt;          /* update rule */
  ps_backoff backoff;
  int ps_bound;            /* leashed: 0, 1, ... tries after the first; -1 unbounded */
  uint64_t seed;           /* backoff randomness */
} ps_cfg;

typedef struct {
  uint64_t applied;        /* updates applied (= final version) */
  uint64_t dropped;        /* leashed: updates given up after ps_bound failed CASes */
  uint64_t retries;        /* failed try-locks / CASes */
  uint64_t backoffs;       /* backoff waits */
  uint64_t live_peak;      /* leashed: peak versions of theta alive at once */
  uint64_t allocated;      /* leashed: versions ever allocated (the pool size) */
  size_t bytes;            /* shared-state memory held (theta, momentum, versions) */
} ps_stats;

/* How a store runs under the virtual clock (vclock.h: the model of each). */
typedef enum {
  PS_VT_NONE = 0, /* no virtual-time form: the virtual clock refuses it */
  PS_VT_INSTANT,  /* a read and an apply are instants, nothing waits (hogwild) */
  PS_VT_LOCK,     /* one exclusive lock, held by every read (copy) and apply (mutex) */
  PS_VT_RWLOCK,   /* reads share the lock, an apply holds it alone (rwlock) */
  PS_VT_CAS       /* a read is an instant; an apply is attempts, each builds the new
                     version from the latest and ends in a CAS (leashed) */
} ps_vtime;

typedef struct ps_ops {
  const char *name;
  const char *help;
  /* Capabilities (the rules that use them are written once, in algo.c): */
  int retries;       /* 1: a try-lock or CAS can fail: backoff applies, retries are counted */
  int has_ps_bound;  /* 1: the persistence bound ps applies */
  int versions;      /* 1: immutable versions of theta (live peak / pool size reported) */
  int consistent;    /* 1: a read sees theta between two whole updates */
  ps_vtime virtual_clock; /* its virtual-time form (vclock.h); PS_VT_NONE: none */
  void *(*create)(const ps_cfg *cfg, char *err, size_t errlen);
  void (*destroy)(void *impl);
  /* Begins a read: returns the theta to compute the gradient on, either
   * `local` filled with a copy (d floats) or a pointer to an immutable
   * shared version (leashed); valid until read_end. */
  const float *(*read_begin)(void *impl, int slot, float *local, uint64_t *version_read);
  void (*read_end)(void *impl, int slot);
  /* Applies gradient g (d floats). 1: applied with *version_apply set;
   * 0: dropped (leashed persistence bound), *version_apply = the version the
   * last attempt saw. */
  int (*apply)(void *impl, int slot, const float *g, uint64_t version_read,
               uint64_t *version_apply);
  /* PS_VT_CAS only (NULL otherwise): apply in its two phases, so that the
   * virtual clock can let other events happen between them (apply is these
   * two in a loop). apply_build starts an attempt: takes the latest
   * version and builds the updated one from it (1), or finds no free
   * vector and drops the update (0: counted as dropped, nothing held).
   * apply_commit ends the attempt: 1 applied (*version_apply set), 0 failed
   * with another attempt allowed (call apply_build again), -1 failed and
   * dropped by the persistence bound (*version_apply = what it saw). The
   * gradient g must stay untouched until the commit that ends the apply. */
  int (*apply_build)(void *impl, int slot, const float *g, uint64_t version_read);
  int (*apply_commit)(void *impl, int slot, uint64_t *version_apply);
  uint64_t (*version)(void *impl);            /* updates applied so far (relaxed) */
  void (*snapshot)(void *impl, int slot, float *theta); /* a copy of current theta */
  void (*stats)(void *impl, ps_stats *st);
  /* Optional: from now on every call comes from one thread (the virtual
   * clock's event loop: an apply is one instant), so reads may hand out
   * immutable versions instead of copies. 0, or -1 with err (memory). */
  int (*one_caller)(void *impl, char *err, size_t errlen);
} ps_ops;

#define PS_COUNT 4
extern const ps_ops *const ps_registry[];
const ps_ops *ps_find(const char *name);
void ps_names(char *buf, size_t cap);

/* Backoff names via their table: "none", "linear", "exponential", "random". */
int ps_backoff_parse(const char *name, ps_backoff *out);
const char *ps_backoff_name(ps_backoff b);

ps *ps_create(const ps_ops *ops, const ps_cfg *cfg, char *err, size_t errlen);
void ps_free(ps *p);
const ps_ops *ps_get_ops(const ps *p);

const float *ps_read_begin(ps *p, int slot, float *local, uint64_t *version_read);
void ps_read_end(ps *p, int slot);
int ps_apply(ps *p, int slot, const float *g, uint64_t version_read, uint64_t *version_apply);
/* The two phases of an apply (PS_VT_CAS stores only; ps_ops). */
int ps_apply_build(ps *p, int slot, const float *g, uint64_t version_read);
int ps_apply_commit(ps *p, int slot, uint64_t *version_apply);
uint64_t ps_version(ps *p);
void ps_snapshot(ps *p, int slot, float *theta);
void ps_get_stats(ps *p, ps_stats *st);
/* The store's one_caller (no-op without one), before any read or apply:
 * every later call comes from one thread at a time. 0, or -1 with err. */
int ps_one_caller(ps *p, char *err, size_t errlen);

/* ---- for the implementations ---- */

extern const ps_ops ps_hogwild_ops, ps_mutex_ops, ps_rwlock_ops, ps_leashed_ops;

/* Backoff waits are counted in pause instructions: the initial one is
 * uniform in [1, PS_BACKOFF_INIT], the cap is PS_BACKOFF_MAX (ps.c). */
#define PS_BACKOFF_INIT 32u
#define PS_BACKOFF_MAX 4096u

/* Per-slot backoff state (thesis Sec. 3.5), one per thread, padded. */
typedef struct {
  _Alignas(64) ps_backoff kind;
  uint32_t wait;      /* initial wait of this run of failures */
  uint32_t last;      /* the last wait, in pause iterations */
  uint32_t failures;  /* consecutive failures */
  uint64_t rng;       /* xorshift state */
  uint64_t n_waits;   /* counted by the owner */
} ps_backoff_state;

void ps_backoff_init(ps_backoff_state *b, ps_backoff kind, uint64_t seed);
/* After a failed attempt: waits (pause loop) per the scheme, longer with
 * each consecutive failure up to a cap; a no-op for "none". */
void ps_backoff_wait(ps_backoff_state *b);
/* After a success: the next failure starts from a fresh initial wait. */
void ps_backoff_reset(ps_backoff_state *b);

/* Test hook of the leashed store: if set, called by slot `slot` after it
 * built its new version and right before its CAS on the shared pointer (so a
 * test can make another slot's update land there: a deterministic CAS
 * failure). NULL in production. */
extern void (*ps_leashed_before_cas)(void *store_impl, int slot);

/* The update both lock-based stores and leashed use: lr from tau, then the
 * rule on theta and (if momentum) v. */
void ps_update(const optim_spec *o, float *theta, float *v, const float *g, size_t d, long tau);
/* ps_update out of place: dst = theta updated (theta unchanged, v updated). */
void ps_update_to(const optim_spec *o, float *dst, const float *theta, float *v, const float *g,
                  size_t d, long tau);

#endif
