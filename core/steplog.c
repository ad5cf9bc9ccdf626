/* steplog.c - per-worker chunk chains of step records (see steplog.h).
 *
 * Shape. Worker w appends into its current chunk `cur`; the chunks it filled
 * form a singly linked chain, oldest first, that the drain side walks from
 * `head`. A chunk is complete exactly when its `next` link is set: the worker
 * sets it (release) after writing the chunk's last record and never touches
 * the chunk again; the drainer reads `next` (acquire) and only then the
 * records, so it never reads a record being written.
 *
 * Recycling. A drained chunk goes back to the worker that filled it through a
 * per-worker stack `recycled`: the drainer pushes with a CAS (release, after
 * its last read of the records), the worker takes the whole stack with one
 * exchange (acquire, before its first write). Push-one / take-all has no ABA
 * problem, and each stack has one pusher and one taker.
 *
 * Fresh chunks come from, in order: the worker's private spare list, its
 * recycled stack, the shared preallocated pool (one relaxed fetch-add on an
 * index), and only then a newly allocated block. The worker also gets its first
 * chunk at creation, so a push never allocates until the pool is exhausted.
 *
 * Padding: the fields the worker writes per push sit on their own 64-byte line,
 * apart from the recycled stack (shared with the drainer) and from the
 * drainer's own cursor, so workers and drainer do not false-share. */
#define _POSIX_C_SOURCE 200809L
#include "steplog.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

static_assert((STEPLOG_CHUNK & (STEPLOG_CHUNK - 1)) == 0, "STEPLOG_CHUNK is a power of two");

typedef struct chunk {
  /* Set once by the owning worker when the chunk is full (release); reset to
   * NULL by the drainer before it recycles the chunk. */
  _Atomic(struct chunk *) next;
  /* Link in a spare list or a recycled stack (plain: published by the CAS /
   * exchange that moves the chunk between threads). */
  struct chunk *free_next;
  alignas(64) step_rec rec[STEPLOG_CHUNK];
} chunk;

/* A block of chunks allocated when the log grows; kept on a list for free. */
typedef struct block {
  struct block *next;
  size_t n;
  alignas(64) chunk c[];
} block;

#define GROW_CHUNKS 4 /* chunks per grown block: amortizes the rare allocation */

typedef struct {
  /* Written by the worker only (pushed: also read, relaxed, by steplog_count
   * and, after the join, by the final drain). */
  alignas(64) chunk *cur;
  chunk *spare;
  _Atomic uint64_t pushed;
  /* Drainer pushes, worker takes all. */
  alignas(64) _Atomic(chunk *) recycled;
  /* Drainer only: oldest chunk not fully handed over, and how much of it was. */
  alignas(64) chunk *head;
  size_t head_off;
} wslot;

struct steplog {
  int n_workers;
  wslot *w;
  chunk *pool;
  size_t n_pool;
  _Atomic size_t pool_next; /* next unused pool chunk (may run past n_pool) */
  _Atomic(block *) blocks;  /* grown blocks */
  _Atomic size_t n_grown;
};

steplog *steplog_create(int n_workers, size_t expect_total, char *err, size_t errlen) {
  if (n_workers <= 0) {
    psgd_err(err, errlen, "steplog: %d workers", n_workers);
    return NULL;
  }
  steplog *l = psgd_calloc(sizeof *l);
  if (!l) goto out_of_memory;
  l->n_workers = n_workers;
  l->w = psgd_calloc(sizeof *l->w * (size_t)n_workers);
  if (!l->w) goto out_with_log;
  /* One chunk per worker to write into, one spare each so the handover right
   * at the end of a full chunk does not grow, then room for expect_total. */
  size_t want = (expect_total + STEPLOG_CHUNK - 1) / STEPLOG_CHUNK + 2 * (size_t)n_workers;
  size_t cap = STEPLOG_PREALLOC_MAX_BYTES / sizeof(chunk);
  if (want > cap) want = cap > 2 * (size_t)n_workers ? cap : 2 * (size_t)n_workers;
  l->n_pool = want;
  /* psgd_calloc writes every byte: the pool is prefaulted here, outside the
   * timed region, and every `next` starts NULL. */
  l->pool = psgd_calloc(sizeof(chunk) * want);
  if (!l->pool) {
    psgd_err(err, errlen, "steplog: cannot allocate %zu chunks (%zu MiB) for %zu records", want,
             sizeof(chunk) * want >> 20, expect_total);
    goto out_with_slots;
  }
  for (int i = 0; i < n_workers; i++) {
    l->w[i].cur = l->w[i].head = &l->pool[i];
    atomic_init(&l->w[i].pushed, 0);
    atomic_init(&l->w[i].recycled, NULL);
  }
  atomic_init(&l->pool_next, (size_t)n_workers);
  atomic_init(&l->blocks, NULL);
  atomic_init(&l->n_grown, 0);
  return l;
out_with_slots:
  psgd_free(l->w);
out_with_log:
  psgd_free(l);
  return NULL;
out_of_memory:
  psgd_err(err, errlen, "steplog: out of memory");
  return NULL;
}

void steplog_free(steplog *l) {
  if (!l) return;
  block *b = atomic_load_explicit(&l->blocks, memory_order_relaxed);
  while (b) {
    block *nx = b->next;
    psgd_free(b);
    b = nx;
  }
  psgd_free(l->pool);
  psgd_free(l->w);
  psgd_free(l);
}

/* The uncommon path of a push: a fresh chunk for worker s. */
static chunk *fresh_chunk(steplog *l, wslot *s) {
  if (!s->spare)
    /* acquire: pairs with the drainer's release CAS in recycle(), so its reads
     * of the chunks' records and its NULLing of `next` happen before we write. */
    s->spare = atomic_exchange_explicit(&s->recycled, NULL, memory_order_acquire);
  if (s->spare) {
    chunk *c = s->spare;
    s->spare = c->free_next;
    return c;
  }
  /* relaxed: the pool was initialized before the workers were started (thread
   * creation orders it); the index only has to be unique. */
  size_t i = atomic_fetch_add_explicit(&l->pool_next, 1, memory_order_relaxed);
  if (i < l->n_pool) return &l->pool[i];
  block *b = psgd_calloc(sizeof(block) + GROW_CHUNKS * sizeof(chunk));
  /* Out of memory here would mean losing rows: abort (the runner records the
   * run as crashed) rather than drop them. */
  PSGD_CHECK(b != NULL);
  b->n = GROW_CHUNKS;
  /* release: the block's initialization is visible to steplog_free's walk. */
  b->next = atomic_load_explicit(&l->blocks, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&l->blocks, &b->next, b, memory_order_release,
                                                memory_order_relaxed)) {
  }
  atomic_fetch_add_explicit(&l->n_grown, GROW_CHUNKS, memory_order_relaxed);
  for (size_t k = GROW_CHUNKS - 1; k >= 1; k--) {
    b->c[k].free_next = s->spare;
    s->spare = &b->c[k];
  }
  return &b->c[0];
}

void steplog_push(steplog *l, int w, const step_rec *r) {
  PSGD_CHECK(w >= 0 && w < l->n_workers);
  wslot *s = &l->w[w];
  /* relaxed: only this thread writes `pushed`; others read it for a count. */
  uint64_t k = atomic_load_explicit(&s->pushed, memory_order_relaxed);
  size_t i = (size_t)(k & (STEPLOG_CHUNK - 1));
  s->cur->rec[i] = *r;
  atomic_store_explicit(&s->pushed, k + 1, memory_order_relaxed);
  if (__builtin_expect(i == STEPLOG_CHUNK - 1, 0)) {
    chunk *nc = fresh_chunk(l, s);
    /* release: publishes the chunk's records to the drainer's acquire load. */
    atomic_store_explicit(&s->cur->next, nc, memory_order_release);
    s->cur = nc;
  }
}

/* Gives a drained chunk back to worker s. */
static void recycle(wslot *s, chunk *c) {
  atomic_store_explicit(&c->next, NULL, memory_order_relaxed);
  chunk *old = atomic_load_explicit(&s->recycled, memory_order_relaxed);
  do {
    c->free_next = old;
    /* release: our reads of c's records, and the stores above, happen before
     * the worker's writes after its acquire exchange in fresh_chunk(). */
  } while (!atomic_compare_exchange_weak_explicit(&s->recycled, &old, c, memory_order_release,
                                                  memory_order_relaxed));
}

long steplog_drain(steplog *l, int final, int (*fn)(void *ctx, const step_rec *r, size_t n),
                   void *ctx) {
  long total = 0;
  for (int w = 0; w < l->n_workers; w++) {
    wslot *s = &l->w[w];
    for (;;) {
      chunk *c = s->head;
      /* acquire: pairs with the release in steplog_push; c's records are complete. */
      chunk *nx = atomic_load_explicit(&c->next, memory_order_acquire);
      size_t end;
      if (nx)
        end = STEPLOG_CHUNK;
      else if (final)
        /* The last chunk of the chain is the worker's current one; the caller
         * joined the worker, so its count is final (relaxed suffices). */
        end = (size_t)(atomic_load_explicit(&s->pushed, memory_order_relaxed) &
                       (STEPLOG_CHUNK - 1));
      else
        break;
      if (end > s->head_off) {
        if (fn(ctx, c->rec + s->head_off, end - s->head_off) != 0) return -1;
        total += (long)(end - s->head_off);
      }
      if (!nx) {
        s->head_off = end;
        break;
      }
      s->head = nx;
      s->head_off = 0;
      recycle(s, c);
    }
  }
  return total;
}

size_t steplog_count(const steplog *l) {
  size_t n = 0;
  for (int w = 0; w < l->n_workers; w++)
    n += (size_t)atomic_load_explicit(&l->w[w].pushed, memory_order_relaxed);
  return n;
}

void steplog_get_stats(const steplog *l, steplog_stats *st) {
  st->pool_chunks = l->n_pool;
  st->grown_chunks = atomic_load_explicit(&l->n_grown, memory_order_relaxed);
  st->bytes = (st->pool_chunks + st->grown_chunks) * sizeof(chunk);
}
