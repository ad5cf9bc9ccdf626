/* test_engine_disp.c - the dispatchers under real concurrency: every
 * dispatcher x every param store (registry-wide), 2..64 threads, random
 * injected delays in the gradient, and the invariants of each dispatcher
 * checked on the step records:
 *   async     accepts every step
 *   interval  accepts exactly y steps per completed interval, never a step
 *             that started before its interval, and every accepted step has
 *             tau <= y - 1 (the bound the authors' code misses)
 *   sync      tau = 0, every step of round r reads version r
 * plus: interval with y >= the run's steps is async, with y = 1 every step
 * has tau = 0; workers beyond the bound m never run; sync shuts down
 * promptly when stopped mid-round; a step rejected while a newer interval is
 * being opened records that interval's y (not 0). */
#include "test_engine_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
  par_result res;
  steps s;
  ivl_trace tr;
  int rc;
  char err[PSGD_ERRLEN];
} run_out;

/* Runs a quadratic problem to max_steps accepted steps with delays. */
static void run_quad(const disp_ops *dop, const ps_ops *sop, int threads, int m, long y,
                     uint64_t max_steps, int delay_pct, run_out *o) {
  quad q;
  quad_init(&q, 32, 7);
  q.delay_pct = delay_pct;
  q.delay_max_us = 200;
  par_problem p = quad_problem(&q);
  par_config c;
  par_config_default(&c);
  c.disp = dop;
  c.store = sop;
  c.n_workers = threads;
  c.m0 = m;
  c.y0 = y;
  c.opt.kind = OPTIM_MOMENTUM;
  c.opt.lr = 0.01f;
  c.opt.momentum = 0.5f;
  c.max_steps = max_steps;
  c.max_seconds = 60; /* a safety net: the tests stop on steps */
  memset(o, 0, sizeof *o);
  trace_init(&o->tr);
  c.on_open = trace_on_open;
  c.on_open_ctx = &o->tr;
  steplog *l = steplog_create(threads, max_steps * 2, o->err, sizeof o->err);
  assert_non_null(l);
  c.log = l;
  float *theta = psgd_alloc(q.d * sizeof(float));
  o->rc = par_run(&p, &c, &o->res, theta, o->err, sizeof o->err);
  if (o->rc) fprintf(stderr, "par_run: %s\n", o->err);
  steps_collect(l, &o->s);
  steplog_free(l);
  for (size_t j = 0; o->rc == 0 && j < q.d; j++) assert_true(isfinite(theta[j]));
  psgd_free(theta);
  quad_free(&q);
}

static void run_out_free(run_out *o) {
  par_result_free(&o->res);
  free(o->s.v);
  trace_free(&o->tr);
}

static void test_registry_invariants(void **state) {
  (void)state;
  static const int threads[] = {2, 8, 64};
  for (int di = 0; di < DISP_COUNT; di++)
    for (int si = 0; si < PS_COUNT; si++)
      for (int ti = 0; ti < 3; ti++) {
        const disp_ops *dop = disp_registry[di];
        const ps_ops *sop = ps_registry[si];
        int t = threads[ti];
        long y = t == 2 ? 3 : t == 8 ? 5 : 16;
        run_out o;
        run_quad(dop, sop, t, t, y, 1500, 20, &o);
        assert_int_equal(o.rc, 0);
        inv_stats st;
        int bad = check_invariants(dop->name, &o.s, &o.tr, 0, &st);
        if (bad)
          fprintf(stderr, "%s over %s with %d threads: %d violations\n", dop->name, sop->name, t,
                  bad);
        assert_int_equal(bad, 0);
        /* the records are the whole run */
        assert_int_equal(o.s.n, o.res.steps_started);
        assert_int_equal(st.accepted, o.res.steps_accepted);
        assert_true(o.res.steps_accepted >= 1500);
        /* at most the steps in flight when the limit was reached */
        assert_true(o.res.steps_accepted < 1500 + (uint64_t)t);
        if (!dop->needs_reduce)
          assert_int_equal(o.res.store.applied, o.res.steps_accepted);
        else /* one update per round of t steps (the last round may be cut) */
          assert_true(o.res.store.applied >= o.res.steps_accepted / (uint64_t)t);
        if (dop->tau == DISP_TAU_Y) {
          assert_true(st.intervals_checked >= 1500 / (uint64_t)y - 1);
          assert_true(st.max_tau <= (uint64_t)y - 1);
        }
        if (!dop->rejects) assert_int_equal(o.res.steps_rejected, 0);
        run_out_free(&o);
      }
}

/* Staleness really happens in these runs (otherwise the bounds above would
 * hold trivially): async over hogwild with 8 threads sees tau > 0, and
 * interval with y = 16 sees tau up to at least 2. */
static void test_interleaving_is_real(void **state) {
  (void)state;
  run_out o;
  run_quad(&disp_async_ops, &ps_hogwild_ops, 8, 8, 0, 2000, 30, &o);
  inv_stats st;
  assert_int_equal(check_invariants("async", &o.s, &o.tr, 0, &st), 0);
  assert_true(st.max_tau >= 1);
  run_out_free(&o);
  run_quad(&disp_interval_ops, &ps_hogwild_ops, 16, 16, 16, 2000, 30, &o);
  assert_int_equal(check_invariants("interval", &o.s, &o.tr, 0, &st), 0);
  assert_true(st.max_tau >= 2);
  assert_true(st.rejected > 0);
  run_out_free(&o);
}

static void test_interval_y1_is_sequential(void **state) {
  (void)state;
  for (int si = 0; si < PS_COUNT; si++) {
    run_out o;
    run_quad(&disp_interval_ops, ps_registry[si], 8, 8, 1, 800, 30, &o);
    assert_int_equal(o.rc, 0);
    inv_stats st;
    assert_int_equal(check_invariants("interval", &o.s, &o.tr, 0, &st), 0);
    assert_int_equal(st.max_tau, 0);
    for (size_t k = 0; k < o.s.n; k++)
      if (o.s.v[k].accepted) assert_int_equal(o.s.v[k].staleness, 0);
    /* one accepted step per interval */
    assert_true(atomic_load(&o.tr.n) >= o.res.steps_accepted);
    run_out_free(&o);
  }
}

static void test_interval_large_y_is_async(void **state) {
  (void)state;
  run_out o;
  run_quad(&disp_interval_ops, &ps_hogwild_ops, 8, 8, DISP_Y_MAX, 2000, 30, &o);
  assert_int_equal(o.rc, 0);
  assert_int_equal(o.res.steps_rejected, 0);
  assert_int_equal(o.res.steps_accepted, o.res.steps_started);
  assert_int_equal(atomic_load(&o.tr.n), 1); /* one interval: the whole run */
  inv_stats st;
  assert_int_equal(check_invariants("interval", &o.s, &o.tr, 0, &st), 0);
  for (size_t k = 0; k < o.s.n; k++) assert_int_equal(o.s.v[k].interval, 0);
  run_out_free(&o);
}

/* The early reject path of the interval finish: a finisher that sees the
 * next interval's first index before its state is published, and started
 * before that interval, is rejected there. Driven in one thread through the
 * on_open hook, which runs between the opener's stores of first/ysz and of
 * state: worker 1's finish inside it sees exactly that window. */
typedef struct {
  disp *d;
  disp_ticket t1;
  int calls, verdict;
} early_ctx;

static void early_on_open(void *ctx, uint64_t id, uint64_t first, long y) {
  early_ctx *e = ctx;
  (void)first;
  (void)y;
  if (id != 1 || !e->d) return;
  e->calls++;
  e->verdict = disp_finish(e->d, 1, &e->t1);
}

static void test_interval_early_reject_records_y(void **state) {
  (void)state;
  early_ctx e;
  memset(&e, 0, sizeof e);
  disp_cfg c = {.n_workers = 2, .m = 2, .y0 = 1, .on_open = early_on_open, .on_open_ctx = &e};
  char err[PSGD_ERRLEN];
  disp *d = disp_create(&disp_interval_ops, &c, err, sizeof err);
  assert_non_null(d);
  e.d = d;
  disp_set_y(d, 3); /* interval 1 gets y = 3, interval 0 has y = 1 */
  disp_ticket t0;
  assert_int_equal(disp_try_start(d, 0, &t0), 1);
  assert_int_equal(disp_try_start(d, 1, &e.t1), 1);
  assert_int_equal(disp_finish(d, 0, &t0), DISP_APPLY);
  assert_int_equal(t0.y, 1);
  /* closes interval 0 (y = 1) and opens interval 1 with I_first = 2 */
  disp_done(d, 0, &t0);
  assert_int_equal(e.calls, 1);
  assert_int_equal(e.verdict, DISP_REJECT);
  assert_int_equal(e.t1.i, 1);
  /* the size of the interval that rejected it, never 0 */
  assert_int_equal(e.t1.y, 3);
  assert_int_equal(e.t1.interval, 1);
  assert_int_equal(disp_y(d), 3);
  disp_free(d);
}

/* Workers w >= m never start a step (they sleep in the dispatcher). */
static void test_bound_m(void **state) {
  (void)state;
  for (int di = 0; di < DISP_COUNT; di++) {
    run_out o;
    run_quad(disp_registry[di], &ps_mutex_ops, 16, 3, 4, 600, 20, &o);
    assert_int_equal(o.rc, 0);
    for (size_t k = 0; k < o.s.n; k++) {
      assert_true(o.s.v[k].worker < 3);
      assert_true(o.s.v[k].m == 3);
    }
    run_out_free(&o);
  }
}

/* Stopping in the middle of sync rounds (stop flag set from another thread)
 * ends the run promptly: the stop releases the round barrier. */
typedef struct {
  _Atomic int *flag;
  int after_ms;
} stopper;

static void *stop_later(void *arg) {
  stopper *s = arg;
  struct timespec ts = {0, (long)s->after_ms * 1000000L};
  nanosleep(&ts, NULL);
  atomic_store(s->flag, 1);
  return NULL;
}

static void test_sync_stops_mid_round(void **state) {
  (void)state;
  quad q;
  quad_init(&q, 32, 3);
  q.delay_pct = 50;
  q.delay_max_us = 2000;
  par_problem p = quad_problem(&q);
  par_config c;
  par_config_default(&c);
  c.disp = &disp_sync_ops;
  c.store = &ps_hogwild_ops;
  c.n_workers = 64;
  c.m0 = 64;
  _Atomic int flag = 0;
  c.stop_flag = &flag;
  c.max_seconds = 30;
  stopper st = {&flag, 150};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stop_later, &st), 0);
  par_result res;
  char err[PSGD_ERRLEN];
  uint64_t t = psgd_now_ns();
  assert_int_equal(par_run(&p, &c, &res, NULL, err, sizeof err), 0);
  double s = (psgd_now_ns() - t) * 1e-9;
  pthread_join(th, NULL);
  assert_int_equal(res.status, RUN_INTERRUPTED);
  assert_true(s < 5.0);
  assert_true(res.steps_accepted > 0);
  par_result_free(&res);
  quad_free(&q);
}

/* A run that is stopped by time ends with status ok, under every dispatcher. */
static void test_time_stop(void **state) {
  (void)state;
  for (int di = 0; di < DISP_COUNT; di++) {
    quad q;
    quad_init(&q, 16, 5);
    q.delay_pct = 10;
    q.delay_max_us = 100;
    par_problem p = quad_problem(&q);
    par_config c;
    par_config_default(&c);
    c.disp = disp_registry[di];
    c.n_workers = 4;
    c.m0 = 4;
    c.y0 = 2;
    c.max_seconds = 0.1;
    par_result res;
    char err[PSGD_ERRLEN];
    assert_int_equal(par_run(&p, &c, &res, NULL, err, sizeof err), 0);
    assert_int_equal(res.status, RUN_OK);
    assert_true(res.wall_s >= 0.1 && res.wall_s < 3.0);
    par_result_free(&res);
    quad_free(&q);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_invariants),
      cmocka_unit_test(test_interleaving_is_real),
      cmocka_unit_test(test_interval_y1_is_sequential),
      cmocka_unit_test(test_interval_large_y_is_async),
      cmocka_unit_test(test_interval_early_reject_records_y),
      cmocka_unit_test(test_bound_m),
      cmocka_unit_test(test_sync_stops_mid_round),
      cmocka_unit_test(test_time_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
