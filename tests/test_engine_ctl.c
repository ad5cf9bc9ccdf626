/* test_engine_ctl.c - the controllers: y-decay, y-probing and elastic (m)
 * probing, driven step by step with a scripted loss and clock (so the
 * verdicts are known), and inside real runs (8 threads, delays) where their
 * changes must show up in the intervals' y and the workers' m. */
#include "test_engine_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define MAX_EV 4096
typedef struct {
  event_rec v[MAX_EV];
  int n;
} evlog;

static void ev_take(void *ctx, const event_rec *e) {
  evlog *l = ctx;
  if (l->n < MAX_EV) l->v[l->n++] = *e;
}

/* scripted loss: totals the test advances itself */
typedef struct {
  double sum;
  uint64_t cnt;
} fake_loss;

static void fl_get(void *ctx, double *s, uint64_t *c) {
  fake_loss *f = ctx;
  *s = f->sum;
  *c = f->cnt;
}

static disp *mk_disp(const disp_ops *ops, int n, int m, long y0) {
  disp_cfg dc = {n, m, y0, NULL, NULL};
  char err[PSGD_ERRLEN];
  disp *d = disp_create(ops, &dc, err, sizeof err);
  assert_non_null(d);
  return d;
}

/* one accepted step through the interval dispatcher: lets a pending y open */
static void one_step(disp *d) {
  disp_ticket t;
  assert_int_equal(disp_try_start(d, 0, &t), 1);
  assert_int_equal(disp_finish(d, 0, &t), DISP_APPLY);
  disp_done(d, 0, &t);
}

static void test_decay_schedule(void **state) {
  (void)state;
  disp *d = mk_disp(&disp_interval_ops, 1, 1, 5);
  evlog *ev = calloc(1, sizeof *ev);
  ctl_cfg cc = {0};
  cc.d = d;
  cc.y0 = 5;
  cc.decay_k = 10;
  cc.event = ev_take;
  cc.event_ctx = ev;
  char err[PSGD_ERRLEN];
  ctl *c = ctl_create(&ctl_decay_ops, &cc, err, sizeof err);
  assert_non_null(c);
  for (uint64_t n = 1; n <= 100; n++) ctl_on_accept(c, n, 1000 * n);
  /* y 5 -> 4 at 10, 3 at 20, 2 at 30, 1 at 40, then the floor */
  assert_int_equal(ev->n, 4);
  for (int i = 0; i < 4; i++) {
    assert_string_equal(ev->v[i].kind, "y");
    assert_int_equal((int)ev->v[i].value, 4 - i);
    assert_int_equal(ev->v[i].t_ns, 1000 * 10 * (uint64_t)(i + 1));
  }
  /* the new y opens with the next interval */
  for (int k = 0; k < 5; k++) one_step(d);
  assert_int_equal(disp_y(d), 1);
  ctl_free(c);
  /* decay on a dispatcher without y is refused */
  disp *a = mk_disp(&disp_async_ops, 1, 1, 0);
  cc.d = a;
  assert_null(ctl_create(&ctl_decay_ops, &cc, err, sizeof err));
  assert_non_null(strstr(err, "needs a dispatcher with y, not async"));
  disp_free(a);
  disp_free(d);
  free(ev);
}

/* y-probing, driven step by step: the loss of each step drops at a rate set
 * by the y in force (the last y the controller set), 1 ms per step. */
static double rate_y(long y) { return y == 34 ? 0.003 : y == 36 ? 0.002 : 0.001; }

static void test_probing_schedule(void **state) {
  (void)state;
  disp *d = mk_disp(&disp_interval_ops, 1, 1, 32);
  evlog *ev = calloc(1, sizeof *ev);
  fake_loss fl = {0, 0};
  ctl_cfg cc = {0};
  cc.d = d;
  cc.y0 = 32;
  cc.window = 3;
  cc.probe_steps = 100;
  cc.exec_steps = 200;
  cc.event = ev_take;
  cc.event_ctx = ev;
  cc.loss = fl_get;
  cc.loss_ctx = &fl;
  char err[PSGD_ERRLEN];
  ctl *c = ctl_create(&ctl_probing_ops, &cc, err, sizeof err);
  assert_non_null(c);
  double loss = 100;
  for (uint64_t n = 1; n <= 1300; n++) {
    fl.cnt = n;
    ctl_on_accept(c, n, n * 1000000ull);
    /* the y set last (the events say it) drives this step's loss */
    long y = 32;
    for (int i = ev->n - 1; i >= 0; i--)
      if (!strcmp(ev->v[i].kind, "y")) {
        y = (long)ev->v[i].value;
        break;
      }
    loss -= rate_y(y);
    fl.sum += loss;
  }
  /* exec 200 steps at 32; probe: window w = 3 with k = 32/16 = 2:
   * 30, 32, 34 (100 steps each) -> 34 is fastest; exec 200 at 34; probe
   * 32, 34, 36 -> 34; exec ... */
  const char *kinds[] = {"y", "y", "y", "probe", "y", "y", "y", "y", "probe", "y"};
  const double vals[] = {30, 32, 34, 34, 34, 32, 34, 36, 34, 34};
  const uint64_t at[] = {200, 300, 400, 500, 500, 700, 800, 900, 1000, 1000};
  assert_true(ev->n >= 10);
  for (int i = 0; i < 10; i++) {
    assert_string_equal(ev->v[i].kind, kinds[i]);
    assert_int_equal((long)ev->v[i].value, (long)vals[i]);
    assert_int_equal(ev->v[i].t_ns, at[i] * 1000000ull);
  }
  ctl_free(c);
  disp_free(d);
  free(ev);
}

static double rate_m(long m) { return m == 6 ? 0.004 : m == 7 ? 0.001 : 0.002; }

static void test_elastic_schedule(void **state) {
  (void)state;
  disp *d = mk_disp(&disp_async_ops, 8, 8, 0);
  evlog *ev = calloc(1, sizeof *ev);
  fake_loss fl = {0, 0};
  ctl_cfg cc = {0};
  cc.d = d;
  cc.m0 = 8;
  cc.m_max = 8;
  cc.window = 3;
  cc.probe_steps = 50;
  cc.exec_steps = 100;
  cc.event = ev_take;
  cc.event_ctx = ev;
  cc.loss = fl_get;
  cc.loss_ctx = &fl;
  char err[PSGD_ERRLEN];
  ctl *c = ctl_create(&ctl_elastic_ops, &cc, err, sizeof err);
  assert_non_null(c);
  double loss = 100;
  int m_seen[9] = {0};
  for (uint64_t n = 1; n <= 500; n++) {
    fl.cnt = n;
    ctl_on_accept(c, n, n * 1000000ull);
    int m = disp_m(d); /* set_m takes effect at once */
    m_seen[m] = 1;
    loss -= rate_m(m);
    fl.sum += loss;
  }
  /* window around 8 clipped into [1, 8]: 6, 7, 8; 6 is fastest -> exec at 6;
   * next window 5, 6, 7 */
  const char *kinds[] = {"m", "m", "m", "probe", "m", "m", "m", "m"};
  const double vals[] = {6, 7, 8, 6, 6, 5, 6, 7};
  assert_true(ev->n >= 8);
  for (int i = 0; i < 8; i++) {
    assert_string_equal(ev->v[i].kind, kinds[i]);
    assert_int_equal((long)ev->v[i].value, (long)vals[i]);
  }
  assert_true(m_seen[6] && m_seen[7] && m_seen[8] && m_seen[5]);
  assert_non_null(strstr(ev->v[3].detail, "6:"));
  ctl_free(c);
  disp_free(d);
  free(ev);
}

/* ---- in real runs ---- */

typedef struct {
  par_result res;
  steps s;
  ivl_trace tr;
} run_out;

static void run_ctl(const disp_ops *dop, const ctl_ops *cy, const ctl_ops *cm, int threads,
                    long y0, long k, int window, long p, long x, uint64_t max_steps, run_out *o) {
  quad q;
  quad_init(&q, 16, 11);
  q.delay_pct = 20;
  q.delay_max_us = 150;
  par_problem pb = quad_problem(&q);
  par_config c;
  par_config_default(&c);
  c.disp = dop;
  c.store = &ps_hogwild_ops;
  c.ctl_y = cy;
  c.ctl_m = cm;
  c.n_workers = threads;
  c.m0 = threads;
  c.y0 = y0;
  c.decay_k = k;
  c.window = window;
  c.probe_steps = p;
  c.exec_steps = x;
  c.max_steps = max_steps;
  c.max_seconds = 60;
  memset(o, 0, sizeof *o);
  trace_init(&o->tr);
  c.on_open = trace_on_open;
  c.on_open_ctx = &o->tr;
  char err[PSGD_ERRLEN];
  steplog *l = steplog_create(threads, max_steps * 3, err, sizeof err);
  c.log = l;
  int rc = par_run(&pb, &c, &o->res, NULL, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  steps_collect(l, &o->s);
  steplog_free(l);
  quad_free(&q);
}

static void run_out_free(run_out *o) {
  par_result_free(&o->res);
  free(o->s.v);
  trace_free(&o->tr);
}

static long f_decay(long y0, long k, uint64_t a) {
  long v = y0 - (long)(a / (uint64_t)k);
  return v < 1 ? 1 : v;
}

static void test_decay_in_run(void **state) {
  (void)state;
  const long y0 = 8, K = 60;
  const int T = 8;
  run_out o;
  run_ctl(&disp_interval_ops, &ctl_decay_ops, NULL, T, y0, K, 3, 64, 128, 1200, &o);
  inv_stats st;
  assert_int_equal(check_invariants("interval", &o.s, &o.tr, 0, &st), 0);
  /* events: y decreases, one by one (K = 60 >> 8 threads in flight) */
  long prev = y0;
  int n_y = 0;
  for (int i = 0; i < o.res.n_events; i++) {
    const event_rec *e = &o.res.events[i];
    if (strcmp(e->kind, "y")) continue;
    assert_int_equal((long)e->value, prev - 1);
    prev = (long)e->value;
    n_y++;
  }
  assert_int_equal(n_y, y0 - 1); /* 1200 accepted steps / 60 reach the floor */
  /* every interval's y is what the schedule gives for the steps accepted
   * before it opened, allowing for the lag between acceptance and the
   * controller (the previous interval and the steps in flight) */
  uint64_t n_iv = atomic_load(&o.tr.n), acc_before = 0;
  assert_true(n_iv > 100);
  for (uint64_t iv = 0; iv < n_iv; iv++) {
    long y = o.tr.y[iv];
    long lag = (iv ? o.tr.y[iv - 1] : 0) + T;
    long lo = f_decay(y0, K, acc_before);
    long hi = f_decay(y0, K, acc_before > (uint64_t)lag ? acc_before - (uint64_t)lag : 0);
    if (y < lo || y > hi)
      fprintf(stderr, "interval %llu: y %ld outside [%ld, %ld] after %llu accepted\n",
              (unsigned long long)iv, y, lo, hi, (unsigned long long)acc_before);
    assert_true(y >= lo && y <= hi);
    if (iv) assert_true(y <= o.tr.y[iv - 1]);
    acc_before += (uint64_t)y;
  }
  assert_int_equal(o.tr.y[n_iv - 1], 1);
  run_out_free(&o);
}

static void test_probing_in_run(void **state) {
  (void)state;
  run_out o;
  run_ctl(&disp_interval_ops, &ctl_probing_ops, NULL, 8, 16, 0, 3, 64, 128, 1500, &o);
  inv_stats st;
  assert_int_equal(check_invariants("interval", &o.s, &o.tr, 0, &st), 0);
  /* pattern: y c0, y c1, y c2, probe v, y v (v one of the c), repeated;
   * candidates: the window of 3 around the last value, step max(1, v/16) */
  long cur = 16;
  int i = 0, probes = 0;
  while (i + 4 < o.res.n_events) {
    const event_rec *e = o.res.events;
    long k = cur / 16 > 1 ? cur / 16 : 1;
    for (int j = 0; j < 3; j++) {
      assert_string_equal(e[i + j].kind, "y");
      assert_int_equal((long)e[i + j].value, cur - k + j * k);
    }
    assert_string_equal(e[i + 3].kind, "probe");
    long v = (long)e[i + 3].value;
    assert_true(v == cur - k || v == cur || v == cur + k);
    assert_string_equal(e[i + 4].kind, "y");
    assert_int_equal((long)e[i + 4].value, v);
    cur = v;
    i += 5;
    probes++;
  }
  assert_true(probes >= 2); /* 1500 steps: x 128 + 3 x 64 per probe */
  /* the intervals follow: every y in the trace is a value the controller set */
  for (uint64_t iv = 1; iv < atomic_load(&o.tr.n); iv++) {
    int found = o.tr.y[iv] == 16;
    for (int j = 0; j < o.res.n_events && !found; j++)
      found = !strcmp(o.res.events[j].kind, "y") && (long)o.res.events[j].value == o.tr.y[iv];
    assert_true(found);
  }
  run_out_free(&o);
}

static void test_elastic_in_run(void **state) {
  (void)state;
  for (int di = 0; di < DISP_COUNT; di++) {
    run_out o;
    run_ctl(disp_registry[di], NULL, &ctl_elastic_ops, 8, 4, 0, 3, 64, 128, 1500, &o);
    inv_stats st;
    assert_int_equal(check_invariants(disp_registry[di]->name, &o.s, &o.tr, 0, &st), 0);
    int n_m = 0, n_probe = 0;
    for (int i = 0; i < o.res.n_events; i++) {
      if (!strcmp(o.res.events[i].kind, "m")) n_m++;
      if (!strcmp(o.res.events[i].kind, "probe")) n_probe++;
    }
    assert_true(n_probe >= 2);
    assert_true(n_m >= 4 * n_probe);
    /* the first probe's window around m = 8, clipped into [1, 8] */
    assert_int_equal((long)o.res.events[0].value, 6);
    assert_int_equal((long)o.res.events[1].value, 7);
    assert_int_equal((long)o.res.events[2].value, 8);
    /* no worker ran a step beyond the bound in force when it started */
    int m_lt8 = 0;
    for (size_t k = 0; k < o.s.n; k++) {
      assert_true(o.s.v[k].worker < (int)o.s.v[k].m);
      m_lt8 |= o.s.v[k].m < 8;
    }
    assert_true(m_lt8);
    run_out_free(&o);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decay_schedule),   cmocka_unit_test(test_probing_schedule),
      cmocka_unit_test(test_elastic_schedule), cmocka_unit_test(test_decay_in_run),
      cmocka_unit_test(test_probing_in_run),   cmocka_unit_test(test_elastic_in_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
