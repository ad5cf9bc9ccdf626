/* ps_leashed.c - Leashed-SGD (thesis Sec. 3.1, Alg. 1 and 3; Baeckstroem,
 * Walulya, Papatriantafilou, Tsigas, IPDPS 2021): lock-free, consistent
 * asynchronous SGD over immutable versions of theta.
 *
 * The shared state is a pointer P to the latest version (theta, momentum,
 * and t = the number of updates it contains). A worker
 *   - reads: acquires the latest version and computes its gradient directly
 *     on it (Alg. 3 lines 18-20; no copy: a version never changes once
 *     published), then releases it;
 *   - updates: takes a fresh vector, and in a retry loop (lines 23-37)
 *     acquires the latest version, copies it into the fresh vector, applies
 *     its update there (t = latest.t + 1) and CASes P from latest to fresh.
 *     On success the old version is marked stale (line 30); on failure the
 *     worker retries with its now stale gradient, at most ps_bound more
 *     times (persistence bound T_p, line 34: give up once num_tries > T_p):
 *     ps = 0 one attempt, ps = 1 two, ps = -1 until it succeeds. A given-up
 *     update is dropped (counted in ps_stats.dropped). Backoff (thesis
 *     Sec. 3.5) waits between attempts.
 * version_read = t of the version read; version_apply = t of the version
 * the successful CAS replaced, so tau = updates between the two.
 *
 * Safe reclamation. Alg. 1/3 count readers per version (n_rdrs) and delete
 * a stale version with no readers; as printed, a reader can load P, get
 * preempted, and increment n_rdrs of a version that was deleted meanwhile.
 * Here:
 *   - versions are never returned to the allocator during a run; a
 *     reclaimed one goes to a free list (Treiber stack with a tag against
 *     ABA) and is reused, so a late increment touches live memory;
 *   - acquire = load P, increment rc, re-check P: only if P still points to
 *     it does the reader keep it (otherwise it decrements and retries). A
 *     version is reclaimed only when stale (replaced in P) and rc == 0, so a
 *     validated reader always holds a version that cannot be reclaimed;
 *   - each version has a `life` word: incarnation:62 | state:2 (current,
 *     stale, free). Reclaiming is a CAS from (inc, stale) to (inc, free), so
 *     exactly one thread reclaims an incarnation, and a thread that decided
 *     on an old incarnation cannot reclaim its reuse;
 *   - whoever brings rc to 0 (a reader, a spurious incrementer, or the
 *     updater that retired it) tries to reclaim; the retirer holds a
 *     reference while marking stale, so the last decrement always sees the
 *     stale mark. All of these are seq_cst: the argument needs the single
 *     order of P's CAS, the stale mark, and the rc updates and loads;
 *   - an updater holds its source version until after its CAS, so P cannot
 *     have been reclaimed and reused in between (no ABA on P).
 * Live versions at any time: P, plus at most two per slot (the one it reads
 * or the source it copies, and its fresh vector): at most 2 * n_slots + 1.
 * The table has that capacity; vectors are preallocated for n_slots + 2
 * (within a memory budget) and the rest allocated on first need. The peak
 * number of live versions is reported (ps_stats.live_peak) with the number
 * ever allocated (the memory footprint). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ps.h"

#define ST_CUR 0u
#define ST_STALE 1u
#define ST_FREE 2u
#define LIFE(inc, st) ((inc) << 2 | (st))
#define LIFE_INC(l) ((l) >> 2)
#define LIFE_ST(l) ((l)&3u)
#define IDX_NIL UINT32_MAX
/* vectors preallocated at create: at most this many bytes */
#define PREALLOC_BUDGET ((size_t)256 << 20)

typedef struct lvec {
  _Atomic int64_t rc;      /* references: readers, sources, spurious increments */
  _Atomic uint64_t life;   /* incarnation | state */
  uint64_t t;              /* updates contained; written before publication */
  uint32_t idx;            /* index in the table */
  float *theta, *v;        /* d floats each (v NULL without momentum) */
} lvec;

typedef struct {
  _Alignas(64) lvec *held; /* the version this slot reads */
  lvec *fresh, *src;       /* an apply in progress: its new vector, its source */
  long tries;              /* failed attempts of that apply */
  ps_backoff_state bo;
} lslot;

typedef struct {
  _Alignas(64) _Atomic(lvec *) P;
  _Alignas(64) _Atomic uint64_t free_head; /* tag:32 | idx:32 */
  _Alignas(64) _Atomic uint64_t applied;
  _Atomic uint64_t dropped, retries, live, live_peak;
  _Atomic uint32_t n_alloc;
  _Atomic uint32_t *next;                  /* free-list links, by index */
  _Atomic(lvec *) *tab;                    /* every vector ever allocated */
  uint32_t cap;
  size_t d;
  int momentum;
  int ps_bound;
  optim_spec opt;
  int n_slots;
  lslot *slot;
} leashed;

void (*ps_leashed_before_cas)(void *store_impl, int slot) = NULL;

static size_t vec_floats(const leashed *L) { return psgd_align_floats(L->d) * (L->momentum ? 2 : 1); }

/* One 64-byte aligned block: header, then theta, then v. */
static lvec *vec_alloc(leashed *L, uint32_t idx) {
  size_t hdr = 64;
  char *mem = psgd_alloc(hdr + vec_floats(L) * sizeof(float));
  if (!mem) return NULL;
  lvec *x = (lvec *)mem;
  atomic_init(&x->rc, 0);
  atomic_init(&x->life, LIFE(0, ST_FREE));
  x->t = 0;
  x->idx = idx;
  x->theta = (float *)(mem + hdr);
  x->v = L->momentum ? x->theta + psgd_align_floats(L->d) : NULL;
  if (x->v) memset(x->v, 0, L->d * sizeof(float));
  memset(x->theta, 0, L->d * sizeof(float));
  return x;
}

static void push_free(leashed *L, lvec *x) {
  /* release on success: the next popper sees the vector's table entry */
  uint64_t h = atomic_load_explicit(&L->free_head, memory_order_relaxed);
  uint64_t nh;
  do {
    atomic_store_explicit(&L->next[x->idx], (uint32_t)h, memory_order_relaxed);
    nh = ((h >> 32) + 1) << 32 | x->idx;
  } while (!atomic_compare_exchange_weak_explicit(&L->free_head, &h, nh, memory_order_release,
                                                  memory_order_relaxed));
}

static lvec *pop_free(leashed *L) {
  /* acquire: pairs with push_free's release (the entry, the link) */
  uint64_t h = atomic_load_explicit(&L->free_head, memory_order_acquire);
  for (;;) {
    uint32_t i = (uint32_t)h;
    if (i == IDX_NIL) return NULL;
    uint32_t nx = atomic_load_explicit(&L->next[i], memory_order_relaxed);
    /* the tag changes on every push and pop: a stale `nx` fails the CAS */
    uint64_t nh = ((h >> 32) + 1) << 32 | nx;
    if (atomic_compare_exchange_weak_explicit(&L->free_head, &h, nh, memory_order_acquire,
                                              memory_order_acquire))
      return atomic_load_explicit(&L->tab[i], memory_order_relaxed);
  }
}

static void live_add(leashed *L, int64_t k) {
  uint64_t now = atomic_fetch_add_explicit(&L->live, (uint64_t)k, memory_order_relaxed) +
                 (uint64_t)k;
  if (k <= 0) return;
  uint64_t pk = atomic_load_explicit(&L->live_peak, memory_order_relaxed);
  while (now > pk && !atomic_compare_exchange_weak_explicit(&L->live_peak, &pk, now,
                                                            memory_order_relaxed,
                                                            memory_order_relaxed))
    ;
}

/* A free vector for a new version: from the free list, else a new one (up to
 * the table capacity). NULL only if memory is exhausted. */
static lvec *get_fresh(leashed *L) {
  lvec *x = pop_free(L);
  if (!x) {
    uint32_t k = atomic_fetch_add_explicit(&L->n_alloc, 1, memory_order_relaxed);
    if (k >= L->cap) {
      atomic_fetch_sub_explicit(&L->n_alloc, 1, memory_order_relaxed);
      return NULL;
    }
    x = vec_alloc(L, k);
    if (!x) {
      /* keep the index allocated but empty: it is never on the free list */
      return NULL;
    }
    atomic_store_explicit(&L->tab[k], x, memory_order_release);
  }
  uint64_t l = atomic_load_explicit(&x->life, memory_order_seq_cst);
  atomic_store_explicit(&x->life, LIFE(LIFE_INC(l) + 1, ST_CUR), memory_order_seq_cst);
  live_add(L, 1);
  return x;
}

static void reclaim(leashed *L, lvec *x) {
  uint64_t l = atomic_load_explicit(&x->life, memory_order_seq_cst);
  if (LIFE_ST(l) != ST_STALE) return;
  if (atomic_load_explicit(&x->rc, memory_order_seq_cst) != 0) return;
  if (!atomic_compare_exchange_strong_explicit(&x->life, &l, LIFE(LIFE_INC(l), ST_FREE),
                                               memory_order_seq_cst, memory_order_seq_cst))
    return;
  live_add(L, -1);
  push_free(L, x);
}

static void release(leashed *L, lvec *x) {
  if (atomic_fetch_sub_explicit(&x->rc, 1, memory_order_seq_cst) == 1) reclaim(L, x);
}

/* Alg. 3 lines 4-12 (latest_pointer), with the validation described above. */
static lvec *acquire_latest(leashed *L) {
  for (;;) {
    lvec *x = atomic_load_explicit(&L->P, memory_order_seq_cst);
    atomic_fetch_add_explicit(&x->rc, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&L->P, memory_order_seq_cst) == x) return x;
    release(L, x);
  }
}

static void ls_destroy(void *impl) {
  leashed *L = impl;
  if (!L) return;
  uint32_t n = L->tab ? atomic_load_explicit(&L->n_alloc, memory_order_relaxed) : 0;
  for (uint32_t i = 0; i < n && i < L->cap; i++)
    psgd_free(atomic_load_explicit(&L->tab[i], memory_order_relaxed));
  free((void *)L->tab);
  free((void *)L->next);
  psgd_free(L->slot);
  psgd_free(L);
}

static void *ls_create(const ps_cfg *cfg, char *err, size_t errlen) {
  leashed *L = psgd_calloc(sizeof *L);
  if (!L) goto oom;
  L->d = cfg->d;
  L->opt = cfg->opt;
  L->momentum = cfg->opt.momentum > 0 && cfg->opt.kind != OPTIM_SGD;
  L->ps_bound = cfg->ps_bound;
  L->n_slots = cfg->n_slots;
  L->cap = 2u * (uint32_t)cfg->n_slots + 2u;
  L->tab = calloc(L->cap, sizeof *L->tab);
  L->next = calloc(L->cap, sizeof *L->next);
  L->slot = psgd_calloc((size_t)cfg->n_slots * sizeof *L->slot);
  if (!L->tab || !L->next || !L->slot) goto oom_with_L;
  atomic_init(&L->free_head, (uint64_t)IDX_NIL);
  atomic_init(&L->n_alloc, 0);
  atomic_init(&L->applied, 0);
  atomic_init(&L->dropped, 0);
  atomic_init(&L->retries, 0);
  atomic_init(&L->live, 0);
  atomic_init(&L->live_peak, 0);
  for (int i = 0; i < cfg->n_slots; i++)
    ps_backoff_init(&L->slot[i].bo, cfg->backoff, cfg->seed + (uint64_t)i);

  /* preallocate what a run typically keeps alive: P + one per slot + one */
  size_t vbytes = 64 + vec_floats(L) * sizeof(float);
  uint32_t pre = (uint32_t)cfg->n_slots + 2u;
  if (pre > L->cap) pre = L->cap;
  if ((size_t)pre * vbytes > PREALLOC_BUDGET) pre = (uint32_t)(PREALLOC_BUDGET / vbytes);
  if (pre < 1) pre = 1;
  for (uint32_t k = 0; k < pre; k++) {
    lvec *x = vec_alloc(L, k);
    if (!x) goto oom_with_L;
    atomic_init(&L->tab[k], x);
    atomic_store_explicit(&L->n_alloc, k + 1, memory_order_relaxed);
    if (k > 0) push_free(L, x);
  }
  lvec *x0 = atomic_load_explicit(&L->tab[0], memory_order_relaxed);
  memcpy(x0->theta, cfg->theta0, cfg->d * sizeof(float));
  x0->t = 0;
  atomic_store_explicit(&x0->life, LIFE(1, ST_CUR), memory_order_relaxed);
  atomic_init(&L->P, x0);
  atomic_store_explicit(&L->live, 1, memory_order_relaxed);
  atomic_store_explicit(&L->live_peak, 1, memory_order_relaxed);
  return L;
oom_with_L:
  ls_destroy(L);
oom:
  psgd_err(err, errlen, "param store leashed: out of memory for d = %zu", cfg->d);
  return NULL;
}

static const float *ls_read_begin(void *impl, int slot, float *local, uint64_t *vr) {
  (void)local;
  leashed *L = impl;
  lvec *x = acquire_latest(L);
  L->slot[slot].held = x;
  *vr = x->t;
  return x->theta;
}

static void ls_read_end(void *impl, int slot) {
  leashed *L = impl;
  lvec *x = L->slot[slot].held;
  L->slot[slot].held = NULL;
  if (x) release(L, x);
}

/* An apply in two phases (ps.h: apply_build / apply_commit): ls_apply runs
 * them in a loop on its own thread; the virtual clock calls them at the
 * start and at the end of an attempt in virtual time, with other workers'
 * events in between (so the CAS below fails exactly when another commit
 * landed during the attempt). Per-slot state between them: fresh, src,
 * tries. */

/* Alg. 3 lines 23-27: take the latest version, build latest - eta g in the
 * fresh vector (taken on the first attempt). 0: no vector, dropped. */
static int ls_build(void *impl, int slot, const float *g, uint64_t vr) {
  leashed *L = impl;
  lslot *S = &L->slot[slot];
  if (!S->fresh) {
    S->fresh = get_fresh(L);
    if (!S->fresh) {
      atomic_fetch_add_explicit(&L->dropped, 1, memory_order_relaxed);
      return 0;
    }
    S->tries = 0;
  }
  lvec *fresh = S->fresh;
  const size_t d = L->d;
  lvec *src = acquire_latest(L);                       /* line 24 */
  memcpy(fresh->theta, src->theta, d * sizeof(float)); /* line 27: new = latest - eta g */
  if (L->momentum) memcpy(fresh->v, src->v, d * sizeof(float));
  fresh->t = src->t + 1; /* line 25 */
  ps_update(&L->opt, fresh->theta, fresh->v, g, d, (long)(src->t - vr));
  S->src = src;
  return 1;
}

/* Alg. 3 lines 28-36: the CAS; on failure another attempt unless the
 * persistence bound is reached (then the fresh vector goes back, dropped). */
static int ls_commit(void *impl, int slot, uint64_t *va) {
  leashed *L = impl;
  lslot *S = &L->slot[slot];
  lvec *src = S->src, *fresh = S->fresh;
  PSGD_CHECK(src && fresh);
  S->src = NULL;
  if (ps_leashed_before_cas) ps_leashed_before_cas(L, slot);
  lvec *expect = src;
  *va = src->t;
  /* seq_cst: the publication of the new version (release for its data)
   * in the single order the reclamation argument uses */
  if (atomic_compare_exchange_strong_explicit(&L->P, &expect, fresh, memory_order_seq_cst,
                                              memory_order_seq_cst)) {
    atomic_fetch_add_explicit(&L->applied, 1, memory_order_relaxed);
    /* line 30-31: mark stale (we still hold it), then let go */
    uint64_t l = atomic_load_explicit(&src->life, memory_order_seq_cst);
    atomic_store_explicit(&src->life, LIFE(LIFE_INC(l), ST_STALE), memory_order_seq_cst);
    release(L, src);
    S->fresh = NULL;
    ps_backoff_reset(&S->bo);
    return 1;
  }
  release(L, src);
  atomic_fetch_add_explicit(&L->retries, 1, memory_order_relaxed);
  if (L->ps_bound < 0 || S->tries + 1 <= L->ps_bound) { /* lines 33-36 */
    S->tries++;
    return 0;
  }
  /* give the fresh vector back: it was never published */
  uint64_t l = atomic_load_explicit(&fresh->life, memory_order_seq_cst);
  atomic_store_explicit(&fresh->life, LIFE(LIFE_INC(l), ST_FREE), memory_order_seq_cst);
  live_add(L, -1);
  push_free(L, fresh);
  S->fresh = NULL;
  atomic_fetch_add_explicit(&L->dropped, 1, memory_order_relaxed);
  ps_backoff_reset(&S->bo);
  return -1;
}

static int ls_apply(void *impl, int slot, const float *g, uint64_t vr, uint64_t *va) {
  leashed *L = impl;
  if (!ls_build(L, slot, g, vr)) {
    *va = atomic_load_explicit(&L->applied, memory_order_relaxed);
    return 0;
  }
  for (;;) {
    int r = ls_commit(L, slot, va);
    if (r != 0) return r > 0;
    ps_backoff_wait(&L->slot[slot].bo);
    ls_build(L, slot, g, vr); /* holds its fresh vector: cannot fail */
  }
}

static uint64_t ls_version(void *impl) {
  leashed *L = impl;
  return atomic_load_explicit(&L->applied, memory_order_relaxed);
}

static void ls_snapshot(void *impl, int slot, float *theta) {
  (void)slot;
  leashed *L = impl;
  lvec *x = acquire_latest(L);
  memcpy(theta, x->theta, L->d * sizeof(float));
  release(L, x);
}

static void ls_stats(void *impl, ps_stats *st) {
  leashed *L = impl;
  st->applied = atomic_load_explicit(&L->applied, memory_order_relaxed);
  st->dropped = atomic_load_explicit(&L->dropped, memory_order_relaxed);
  st->retries = atomic_load_explicit(&L->retries, memory_order_relaxed);
  for (int i = 0; i < L->n_slots; i++) st->backoffs += L->slot[i].bo.n_waits;
  st->live_peak = atomic_load_explicit(&L->live_peak, memory_order_relaxed);
  uint32_t n = atomic_load_explicit(&L->n_alloc, memory_order_relaxed);
  st->allocated = n < L->cap ? n : L->cap;
  st->bytes = (size_t)st->allocated * (64 + vec_floats(L) * sizeof(float));
}

const ps_ops ps_leashed_ops = {
    .name = "leashed",
    .help = "Leashed-SGD: lock-free consistent versions, CAS on a pointer, persistence bound ps",
    .retries = 1,
    .has_ps_bound = 1,
    .versions = 1,
    .consistent = 1,
    .virtual_clock = PS_VT_CAS,
    .create = ls_create,
    .destroy = ls_destroy,
    .read_begin = ls_read_begin,
    .read_end = ls_read_end,
    .apply = ls_apply,
    .apply_build = ls_build,
    .apply_commit = ls_commit,
    .version = ls_version,
    .snapshot = ls_snapshot,
    .stats = ls_stats,
};
