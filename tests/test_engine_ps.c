/* test_engine_ps.c - the param stores hammered directly by many threads:
 * with SGD, lr = 1 and a gradient of all ones, version k of theta is exactly
 * theta0 - k in every coordinate, so a consistent read (mutex, rwlock,
 * leashed) has all coordinates equal to -version_read; the final theta is
 * -applied; version_apply values are distinct and cover [0, applied).
 * Leashed: its persistence bound (ps = 0 drops updates under contention,
 * ps = -1 never does), its live-version bound and its memory accounting;
 * the backoff schemes really back off and stay correct. Workers record,
 * the main thread checks. */
#include "test_engine_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define D 64 /* small vectors: the momentum check */
/* the contention runs' vector size: large copies make collisions certain;
 * smaller under the sanitizers, which instrument every byte copied */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define BIG ((size_t)1 << 14)
#else
#define BIG ((size_t)1 << 17)
#endif

typedef struct {
  ps *p;
  size_t d;
  int slot, iters;
  float *local, *g;
  uint64_t bad_reads, applied, dropped;
  uint64_t *va;  /* version_apply of each applied update */
  int n_va;
} hammer;

static void *hammer_main(void *arg) {
  hammer *h = arg;
  for (int k = 0; k < h->iters; k++) {
    uint64_t vr, va;
    const float *th = ps_read_begin(h->p, h->slot, h->local, &vr);
    for (size_t j = 1; j < h->d; j++)
      if (th[j] != th[0]) {
        h->bad_reads++;
        break;
      }
    if (th[0] != -(float)vr) h->bad_reads++;
    ps_read_end(h->p, h->slot);
    if (ps_apply(h->p, h->slot, h->g, vr, &va)) {
      h->applied++;
      h->va[h->n_va++] = va;
    } else {
      h->dropped++;
    }
  }
  return NULL;
}

typedef struct {
  uint64_t applied, dropped, bad_reads;
  ps_stats st;
  int distinct_ok;
  float final0;
  int final_uniform;
} hammer_out;

/* d large (~1 MB) makes every copy and update long enough that threads on
 * two cores, or preempted mid-update, collide for sure */
static void hammer_run(const ps_ops *ops, ps_backoff bo, int ps_bound, int threads, int iters,
                       size_t d, hammer_out *out) {
  float *theta0 = psgd_calloc(d * sizeof(float));
  ps_cfg cfg = {d, threads + 1, theta0, {OPTIM_SGD, 1.0f, 0.0f, 0.0f}, bo, ps_bound, 5};
  char err[PSGD_ERRLEN];
  ps *p = ps_create(ops, &cfg, err, sizeof err);
  assert_non_null(p);
  hammer *h = calloc((size_t)threads, sizeof *h);
  pthread_t *th = calloc((size_t)threads, sizeof *th);
  for (int i = 0; i < threads; i++) {
    h[i].p = p;
    h[i].slot = i;
    h[i].iters = iters;
    h[i].d = d;
    h[i].local = psgd_alloc(d * sizeof(float));
    h[i].g = psgd_alloc(d * sizeof(float));
    for (size_t j = 0; j < d; j++) h[i].g[j] = 1.0f;
    h[i].va = calloc((size_t)iters, sizeof(uint64_t));
    assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
  }
  memset(out, 0, sizeof *out);
  uint64_t *all = calloc((size_t)threads * (size_t)iters, sizeof *all);
  size_t n_all = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    out->applied += h[i].applied;
    out->dropped += h[i].dropped;
    out->bad_reads += h[i].bad_reads;
    memcpy(all + n_all, h[i].va, (size_t)h[i].n_va * sizeof *all);
    n_all += (size_t)h[i].n_va;
  }
  qsort(all, n_all, sizeof *all, cmp_u64);
  out->distinct_ok = 1;
  for (size_t k = 0; k < n_all; k++)
    if (all[k] != k) out->distinct_ok = 0;
  float *fin = psgd_alloc(d * sizeof(float));
  ps_snapshot(p, threads, fin);
  out->final0 = fin[0];
  out->final_uniform = 1;
  for (size_t j = 1; j < d; j++)
    if (fin[j] != fin[0]) out->final_uniform = 0;
  psgd_free(fin);
  psgd_free(theta0);
  ps_get_stats(p, &out->st);
  for (int i = 0; i < threads; i++) {
    psgd_free(h[i].local);
    psgd_free(h[i].g);
    free(h[i].va);
  }
  free(all);
  free(h);
  free(th);
  ps_free(p);
}

/* consistent stores: every read is one version; every update lands once */
static void test_consistent_stores(void **state) {
  (void)state;
  const ps_ops *ops[] = {&ps_mutex_ops, &ps_rwlock_ops, &ps_leashed_ops};
  for (int i = 0; i < 3; i++) {
    hammer_out o;
    hammer_run(ops[i], PS_BACKOFF_NONE, -1, 16, 1500, 256, &o);
    if (o.bad_reads) fprintf(stderr, "%s: %llu inconsistent reads\n", ops[i]->name,
                             (unsigned long long)o.bad_reads);
    assert_int_equal(o.bad_reads, 0);
    assert_int_equal(o.applied, 16 * 1500);
    assert_int_equal(o.dropped, 0);
    assert_int_equal(o.st.applied, o.applied);
    assert_true(o.distinct_ok);
    assert_true(o.final_uniform);
    assert_true(o.final0 == -(float)o.applied);
  }
}

/* HOGWILD!: reads may mix versions (not checked), but every update gets its
 * own version and the counter is exact. */
static void test_hogwild_versions(void **state) {
  (void)state;
  hammer_out o;
  hammer_run(&ps_hogwild_ops, PS_BACKOFF_NONE, -1, 8, 3000, 256, &o);
  assert_int_equal(o.applied, 8 * 3000);
  assert_int_equal(o.st.applied, o.applied);
  assert_true(o.distinct_ok);
}

/* Leashed under real contention: whatever the scheduling does, ps = 0
 * drops exactly the updates whose CAS failed, ps = 1 needs two failures to
 * drop one, unbounded never drops; reads stay consistent; the versions alive
 * at once stay within 2 x slots + 1. */
static void test_leashed_contention(void **state) {
  (void)state;
  const int T = 8, N = 30;
  const size_t big = BIG;
  hammer_out o0, o1, oi;
  hammer_run(&ps_leashed_ops, PS_BACKOFF_NONE, 0, T, N, big, &o0);
  hammer_run(&ps_leashed_ops, PS_BACKOFF_NONE, 1, T, N, big, &o1);
  hammer_run(&ps_leashed_ops, PS_BACKOFF_NONE, -1, T, N, big, &oi);
  fprintf(stderr,
          "leashed 8 threads x 30 updates of %zu floats: ps=0 dropped %llu, ps=1 dropped %llu, "
          "ps=inf retries %llu; live peak %llu, allocated %llu\n",
          big, (unsigned long long)o0.dropped, (unsigned long long)o1.dropped,
          (unsigned long long)oi.st.retries, (unsigned long long)oi.st.live_peak,
          (unsigned long long)oi.st.allocated);
  assert_int_equal(o0.bad_reads + o1.bad_reads + oi.bad_reads, 0);
  assert_int_equal(o0.applied + o0.dropped, (uint64_t)(T * N));
  assert_int_equal(o0.st.dropped, o0.dropped);
  assert_int_equal(o0.dropped, o0.st.retries);
  assert_int_equal(o1.applied + o1.dropped, (uint64_t)(T * N));
  assert_true(o1.dropped * 2 <= o1.st.retries);
  assert_int_equal(oi.dropped, 0);
  assert_true(o0.final0 == -(float)o0.applied);
  assert_true(o1.final0 == -(float)o1.applied);
  assert_true(oi.final0 == -(float)oi.applied);
  assert_true(o0.distinct_ok && o1.distinct_ok && oi.distinct_ok);
  for (int k = 0; k < 3; k++) {
    const ps_stats *s = k == 0 ? &o0.st : k == 1 ? &o1.st : &oi.st;
    assert_true(s->live_peak >= 2);
    assert_true(s->live_peak <= 2 * (uint64_t)(T + 1) + 1);
    assert_true(s->allocated <= 2 * (uint64_t)(T + 1) + 2);
    assert_true(s->bytes >= s->allocated * big * sizeof(float));
  }
}

/* The persistence bound, deterministically: slot 0's first CAS is made to
 * fail by an update of slot 1 landing right before it (test hook). */
static struct {
  ps *p;
  int fired, collide_every;
  float g[D];
} hk;

static void collide(void *impl, int slot) {
  (void)impl;
  if (slot != 0 || hk.fired >= hk.collide_every) return;
  hk.fired++;
  float local[D];
  uint64_t vr, va;
  ps_read_begin(hk.p, 1, local, &vr);
  ps_read_end(hk.p, 1);
  ps_apply(hk.p, 1, hk.g, vr, &va); /* slot 1's hook call returns at once */
}

static void test_leashed_persistence(void **state) {
  (void)state;
  float theta0[D] = {0};
  for (int j = 0; j < D; j++) hk.g[j] = 1.0f;
  /* collisions on slot 0's first k attempts; ps = bound */
  const struct {
    int bound, collisions, applied, dropped;
  } cases[] = {{0, 1, 0, 1}, {1, 1, 1, 0}, {1, 2, 0, 1}, {-1, 5, 1, 0}};
  ps_leashed_before_cas = collide;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ps_cfg cfg = {D, 3, theta0, {OPTIM_SGD, 1.0f, 0.0f, 0.0f}, PS_BACKOFF_NONE, cases[c].bound, 1};
    char err[PSGD_ERRLEN];
    hk.p = ps_create(&ps_leashed_ops, &cfg, err, sizeof err);
    assert_non_null(hk.p);
    hk.fired = 0;
    hk.collide_every = cases[c].collisions;
    float local[D];
    uint64_t vr, va;
    const float *th = ps_read_begin(hk.p, 0, local, &vr);
    assert_int_equal(vr, 0);
    assert_true(th[0] == 0.0f);
    ps_read_end(hk.p, 0);
    int ok = ps_apply(hk.p, 0, hk.g, vr, &va);
    ps_stats st;
    ps_get_stats(hk.p, &st);
    assert_int_equal(ok, cases[c].applied);
    assert_int_equal(st.dropped, (uint64_t)cases[c].dropped);
    assert_int_equal(st.retries, (uint64_t)cases[c].collisions);
    /* slot 1's updates all landed; slot 0's, if applied, saw them: tau */
    assert_int_equal(st.applied, (uint64_t)(cases[c].collisions + cases[c].applied));
    if (ok) assert_int_equal(va, (uint64_t)cases[c].collisions);
    float out[D];
    ps_snapshot(hk.p, 2, out);
    assert_true(out[0] == -(float)st.applied && out[D - 1] == out[0]);
    ps_free(hk.p);
  }
  ps_leashed_before_cas = NULL;
}

/* The schedules of thesis Sec. 3.5: linear grows by its random initial wait,
 * exponential doubles it, both up to the cap; random is uniform each time;
 * a success starts over. */
static void test_backoff_schedule(void **state) {
  (void)state;
  ps_backoff_state b;
  ps_backoff_init(&b, PS_BACKOFF_NONE, 1);
  ps_backoff_wait(&b);
  assert_int_equal(b.n_waits, 0);
  for (int seed = 1; seed < 20; seed++) {
    ps_backoff_init(&b, PS_BACKOFF_LINEAR, (uint64_t)seed);
    ps_backoff_wait(&b);
    uint32_t w0 = b.last;
    assert_true(w0 >= 1 && w0 <= PS_BACKOFF_INIT);
    for (uint32_t k = 2; k <= 6; k++) {
      ps_backoff_wait(&b);
      assert_int_equal(b.last, w0 * k);
    }
    ps_backoff_init(&b, PS_BACKOFF_EXPONENTIAL, (uint64_t)seed);
    ps_backoff_wait(&b);
    w0 = b.last;
    assert_true(w0 >= 1 && w0 <= PS_BACKOFF_INIT);
    for (int k = 1; k < 20; k++) {
      ps_backoff_wait(&b);
      uint64_t want = (uint64_t)w0 << k;
      assert_int_equal(b.last, want < PS_BACKOFF_MAX ? want : PS_BACKOFF_MAX);
    }
    ps_backoff_reset(&b);
    ps_backoff_wait(&b);
    assert_true(b.last <= PS_BACKOFF_INIT);
    ps_backoff_init(&b, PS_BACKOFF_RANDOM, (uint64_t)seed);
    uint32_t lo = PS_BACKOFF_MAX, hi = 0;
    for (int k = 0; k < 200; k++) {
      ps_backoff_wait(&b);
      if (b.last < lo) lo = b.last;
      if (b.last > hi) hi = b.last;
    }
    assert_true(lo >= 1 && hi <= PS_BACKOFF_MAX && hi > lo + PS_BACKOFF_MAX / 4);
    assert_int_equal(b.n_waits, 200);
  }
}

/* Backoff inside the stores: every failed try-lock / CAS is followed by a
 * wait, and the result is as exact as without backoff. */
static void test_backoff(void **state) {
  (void)state;
  const ps_ops *ops[] = {&ps_mutex_ops, &ps_rwlock_ops, &ps_leashed_ops};
  uint64_t retries = 0;
  for (int i = 0; i < 3; i++)
    for (int b = PS_BACKOFF_LINEAR; b < PS_BACKOFF_COUNT; b++) {
      hammer_out o;
      hammer_run(ops[i], (ps_backoff)b, -1, 6, 30, BIG / 2, &o);
      assert_int_equal(o.bad_reads, 0);
      assert_int_equal(o.applied, 6 * 30);
      assert_true(o.final0 == -(float)o.applied);
      assert_int_equal(o.st.backoffs, o.st.retries);
      retries += o.st.retries;
    }
  fprintf(stderr, "backoff runs: %llu failed attempts in all, each followed by a wait\n",
          (unsigned long long)retries);
  ps_backoff b;
  assert_int_equal(ps_backoff_parse("exponential", &b), 0);
  assert_int_equal(b, PS_BACKOFF_EXPONENTIAL);
  assert_int_equal(ps_backoff_parse("quadratic", &b), -1);
  assert_string_equal(ps_backoff_name(PS_BACKOFF_RANDOM), "random");
}

/* Momentum lives in the shared state: one worker applying k updates of g = 1
 * with mu = 0.5 gives the closed form; every store agrees bit for bit. */
static void test_momentum_shared(void **state) {
  (void)state;
  float ref[D] = {0}, v[D] = {0}, g[D], theta0[D] = {0};
  for (int j = 0; j < D; j++) g[j] = 1.0f;
  optim_spec os = {OPTIM_MOMENTUM, 0.1f, 0.5f, 0.0f};
  for (int k = 0; k < 50; k++) optim_apply(&os, 0.1f, ref, v, g, D);
  for (int i = 0; i < PS_COUNT; i++) {
    ps_cfg cfg = {D, 2, theta0, os, PS_BACKOFF_NONE, -1, 1};
    char err[PSGD_ERRLEN];
    ps *p = ps_create(ps_registry[i], &cfg, err, sizeof err);
    assert_non_null(p);
    float local[D], out[D];
    for (int k = 0; k < 50; k++) {
      uint64_t vr, va;
      ps_read_begin(p, 0, local, &vr);
      ps_read_end(p, 0);
      assert_int_equal(ps_apply(p, 0, g, vr, &va), 1);
      assert_int_equal(va, (uint64_t)k);
    }
    ps_snapshot(p, 1, out);
    assert_memory_equal(out, ref, sizeof ref);
    ps_free(p);
  }
}

/* The name lists are the registries joined with " | ", in registry order,
 * and every entry is found by its name; unknown names are not. */
static void join(char *want, size_t cap, const char *name, int first) {
  if (!first) strncat(want, " | ", cap - strlen(want) - 1);
  strncat(want, name, cap - strlen(want) - 1);
}

static void test_registry_names(void **state) {
  (void)state;
  char buf[256], want[256];
  want[0] = '\0';
  for (int i = 0; i < PS_COUNT; i++) {
    assert_non_null(ps_registry[i]);
    assert_ptr_equal(ps_find(ps_registry[i]->name), ps_registry[i]);
    join(want, sizeof want, ps_registry[i]->name, i == 0);
  }
  ps_names(buf, sizeof buf);
  assert_string_equal(buf, want);
  want[0] = '\0';
  for (int i = 0; i < DISP_COUNT; i++) {
    assert_non_null(disp_registry[i]);
    assert_ptr_equal(disp_find(disp_registry[i]->name), disp_registry[i]);
    join(want, sizeof want, disp_registry[i]->name, i == 0);
  }
  disp_names(buf, sizeof buf);
  assert_string_equal(buf, want);
  want[0] = '\0';
  for (int i = 0; i < CTL_COUNT; i++) {
    assert_non_null(ctl_registry[i]);
    assert_ptr_equal(ctl_find(ctl_registry[i]->name), ctl_registry[i]);
    join(want, sizeof want, ctl_registry[i]->name, i == 0);
  }
  ctl_names(buf, sizeof buf);
  assert_string_equal(buf, want);
  assert_null(ps_find("lockfree"));
  assert_null(disp_find("semisync"));
  assert_null(ctl_find("pid"));
  assert_null(ps_find(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_consistent_stores), cmocka_unit_test(test_hogwild_versions),
      cmocka_unit_test(test_leashed_contention), cmocka_unit_test(test_leashed_persistence),
      cmocka_unit_test(test_backoff_schedule),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_momentum_shared), cmocka_unit_test(test_registry_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
