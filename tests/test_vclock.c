/* test_vclock.c - the virtual execution clock (vclock.h):
 *   - m = 1 under the virtual clock is sequential SGD bit for bit (engine
 *     against the sequential oracle, seq_oracle.h): async, interval and sync over
 *     hogwild, async over mutex, rwlock and leashed
 *   - analytic staleness with constant step times: Async at m = 64 has
 *     tau = 63 for every accepted step after the first round; interval with
 *     y <= m gives the k-th accepted step of every interval tau = k - 1
 *   - the stores in virtual time: below saturation mutex, rwlock and
 *     leashed never wait (Async's durations and tau); saturated, the mutex
 *     gives 1 / (copy + apply) accepted steps per virtual second (copy = 0:
 *     one every apply time exactly), the rwlock more but at most 1 / apply,
 *     with tau at m - 2 .. m - 1; leashed's CAS at m = 2 (one retry per
 *     step unbounded; ps = 0: worker 1 always dropped), each retry costing
 *     one attempt, failed attempts = the store's retries
 *   - sync in virtual time: round = the latest step end + (m - 1) adds,
 *     the next round starts at the reducer's end
 *   - "measured" with mutex, rwlock, leashed and sync: the calibrated holds
 *     recorded (event store_time) and no step shorter than its holds
 *   - determinism: the same step, eval and event records with 1, 2 and 3
 *     compute threads (lognormal step times, interval with y-decay; every
 *     store with y-decay and with elastic; sync), and different ones for
 *     another seed (the check can fail); the same again whether reads
 *     share the store's immutable versions (the default) or copy theta
 *     (par_config.vclock_copy), and the versions are really used
 *   - the refusals: backoff with a retrying store, malformed step-time
 *     models and store options. */
#include "test_engine_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "ctl.h"
#include "engine.h"
#include "spec.h"
#include "seq_oracle.h"
#include "vclock.h"

static int cmp_finish(const void *a, const void *b) {
  const step_rec *x = a, *y = b;
  return x->finish < y->finish ? -1 : x->finish > y->finish;
}

typedef struct {
  par_result res;
  steps s;
  int rc;
  char err[PSGD_ERRLEN];
} vout;

/* par_run under the virtual clock on the quadratic problem; the records
 * sorted by finish order. */
static const ctl_ops *g_ctl_m; /* the m controller of run_virtual (NULL: none) */
static const ps_ops *g_store = &ps_hogwild_ops; /* its store */
static int g_ps_bound = -1;                     /* its persistence bound (leashed) */
static const par_problem *g_prob; /* its problem (NULL: a quadratic of d = 48) */
static int g_copy;              /* par_config.vclock_copy of run_virtual */

static void run_virtual(const disp_ops *dop, const ctl_ops *cy, int m, long y, uint64_t max_steps,
                        const char *step_time, int compute_threads, uint64_t seed, vout *o) {
  quad q;
  quad_init(&q, 48, 3);
  par_problem p = g_prob ? *g_prob : quad_problem(&q);
  par_config c;
  par_config_default(&c);
  c.disp = dop;
  c.store = g_store;
  c.ps_bound = g_ps_bound;
  c.ctl_y = cy;
  c.ctl_m = g_ctl_m;
  c.decay_k = 50;
  c.window = 3;
  c.probe_steps = 40;
  c.exec_steps = 200;
  c.n_workers = m;
  c.m0 = m;
  c.y0 = y;
  c.opt.kind = OPTIM_MOMENTUM;
  c.opt.lr = 0.01f;
  c.opt.momentum = 0.5f;
  c.max_steps = max_steps;
  c.seed = seed;
  c.clock = PAR_CLOCK_VIRTUAL;
  c.step_time = step_time;
  c.compute_threads = compute_threads;
  c.vclock_copy = g_copy;
  c.eval_every_s = 0.003; /* virtual seconds */
  memset(o, 0, sizeof *o);
  steplog *l = steplog_create(1, max_steps * 3, o->err, sizeof o->err);
  assert_non_null(l);
  c.log = l;
  o->rc = par_run(&p, &c, &o->res, NULL, o->err, sizeof o->err);
  if (o->rc) fprintf(stderr, "par_run: %s\n", o->err);
  steps_collect(l, &o->s);
  steplog_free(l);
  quad_free(&q);
  qsort(o->s.v, o->s.n, sizeof *o->s.v, cmp_finish);
}

static void vout_free(vout *o) {
  par_result_free(&o->res);
  free(o->s.v);
}

/* ------------------------------------------------------ m = 1 oracle ---- */

static void test_m1_equals_sequential(void **state) {
  (void)state;
  static const char *const opts[] = {"momentum", "sgd", "mindthestep"};
  /* every dispatcher over hogwild, and Async over every other store */
  static const char *const disps[] = {"async", "interval", "sync", "async", "async", "async"};
  static const char *const stores[] = {"hogwild", "hogwild", "hogwild", "mutex", "rwlock",
                                       "leashed"};
  for (int oi = 0; oi < 3; oi++) {
    run_spec s;
    spec_default(&s);
    snprintf(s.dataset, sizeof s.dataset, "synthetic");
    s.n_hidden = 1;
    s.hidden[0] = 32;
    s.batch = 16;
    s.lr = 0.05;
    s.stop_epochs = 2;
    snprintf(s.optimizer, sizeof s.optimizer, "%s", opts[oi]);
    seq_oracle seq;
    char err[PSGD_ERRLEN];
    assert_int_equal(seq_oracle_run(&s, &seq, err, sizeof err), 0);
    for (int di = 0; di < 6; di++) {
      run_spec p = s;
      snprintf(p.algorithm, sizeof p.algorithm, "%s", disps[di]);
      snprintf(p.dispatcher, sizeof p.dispatcher, "%s", disps[di]);
      snprintf(p.store, sizeof p.store, "%s", stores[di]);
      snprintf(p.clock, sizeof p.clock, "virtual");
      snprintf(p.step_time, sizeof p.step_time, "lognormal:300,0.5");
      p.threads = 1;
      p.y0 = 2;
      p.eval_every_s = 0.01;
      run_result r;
      int rc = engine_run(&p, NULL, &r, err, sizeof err);
      if (rc) fprintf(stderr, "%s\n", err);
      assert_int_equal(rc, 0);
      if (memcmp(&r.final_test_loss, &seq.test_loss, sizeof(double)))
        fprintf(stderr, "%s/%s (%s): test loss %.17g vs sequential %.17g\n", disps[di],
                stores[di], opts[oi],
                r.final_test_loss, seq.test_loss);
      assert_memory_equal(&r.final_test_loss, &seq.test_loss, sizeof(double));
      assert_memory_equal(&r.final_test_acc, &seq.test_acc, sizeof(double));
      assert_int_equal(r.steps_accepted, seq.steps);
      assert_int_equal(r.steps_started, seq.steps);
      assert_int_equal(r.status, RUN_OK);
    }
    seq_oracle_free(&seq);
  }
}

/* ------------------------------------------------ analytic staleness ---- */

static void test_async_m64_tau63(void **state) {
  (void)state;
  const int m = 64;
  const uint64_t T = 1000000; /* constant:1000 us */
  vout o;
  run_virtual(&disp_async_ops, NULL, m, 1, 20 * m, "constant:1000", 2, 1, &o);
  assert_int_equal(o.rc, 0);
  size_t steady = 0, first = 0;
  for (size_t k = 0; k < o.s.n; k++) {
    const step_rec *r = &o.s.v[k];
    assert_true(r->accepted);
    assert_int_equal(r->t_end_ns - r->t_start_ns, T);
    if (r->t_start_ns < T) {
      /* the first round: worker w entered at w T / m, after w others read */
      assert_int_equal(r->staleness, r->worker);
      first++;
      continue;
    }
    if (r->staleness != m - 1)
      fprintf(stderr, "step %llu worker %d t %llu: tau %lld\n", (unsigned long long)r->step,
              r->worker, (unsigned long long)r->t_start_ns, (long long)r->staleness);
    assert_int_equal(r->staleness, m - 1);
    steady++;
  }
  assert_int_equal(first, (size_t)m);
  assert_true(steady >= 18u * m);
  vout_free(&o);
}

static void test_interval_tau_k_minus_1(void **state) {
  (void)state;
  static const struct {
    int m;
    long y;
  } cases[] = {{64, 64}, {64, 16}, {64, 5}, {64, 1}, {8, 3}, {2, 2}};
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int m = cases[ci].m;
    const long y = cases[ci].y;
    vout o;
    run_virtual(&disp_interval_ops, NULL, m, y, 40 * (uint64_t)m, "constant:250", 1, 1, &o);
    assert_int_equal(o.rc, 0);
    uint64_t cur = UINT64_MAX, k = 0, intervals = 0, accepted = 0;
    for (size_t j = 0; j < o.s.n; j++) {
      const step_rec *r = &o.s.v[j];
      if (!r->accepted) continue;
      if (r->interval != cur) {
        assert_true(cur == UINT64_MAX || r->interval == cur + 1);
        assert_true(cur == UINT64_MAX || k == (uint64_t)y); /* the previous one was full */
        cur = r->interval;
        k = 0;
        intervals++;
      }
      k++;
      accepted++;
      if (r->staleness != (int64_t)(k - 1))
        fprintf(stderr, "m %d y %ld interval %llu: accepted step %llu has tau %lld\n", m, y,
                (unsigned long long)cur, (unsigned long long)k, (long long)r->staleness);
      assert_int_equal(r->staleness, (int64_t)(k - 1));
    }
    assert_true(accepted >= 40u * (uint64_t)m);
    assert_true(intervals >= accepted / (uint64_t)y);
    vout_free(&o);
  }
}

/* ------------------------------------------------------- determinism ---- */

static int same_steps(const steps *a, const steps *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++) {
    const step_rec *x = &a->v[i], *y = &b->v[i];
    if (x->step != y->step || x->finish != y->finish || x->t_start_ns != y->t_start_ns ||
        x->t_end_ns != y->t_end_ns || x->version_read != y->version_read ||
        x->version_apply != y->version_apply || x->interval != y->interval ||
        x->staleness != y->staleness || memcmp(&x->loss, &y->loss, sizeof x->loss) ||
        x->worker != y->worker || x->pu != y->pu || x->y != y->y || x->m != y->m ||
        x->accepted != y->accepted)
      return 0;
  }
  return 1;
}

static int same_result(const par_result *a, const par_result *b) {
  if (a->n_snaps != b->n_snaps || a->n_events != b->n_events || a->wall_s != b->wall_s ||
      a->steps_started != b->steps_started || a->steps_accepted != b->steps_accepted ||
      a->steps_rejected != b->steps_rejected)
    return 0;
  for (int i = 0; i < a->n_snaps; i++) {
    if (memcmp(&a->snaps[i].e, &b->snaps[i].e, sizeof a->snaps[i].e)) return 0;
    if (!a->snaps[i].theta != !b->snaps[i].theta) return 0;
    if (a->snaps[i].theta && memcmp(a->snaps[i].theta, b->snaps[i].theta, 48 * sizeof(float)))
      return 0;
  }
  for (int i = 0; i < a->n_events; i++)
    if (memcmp(&a->events[i], &b->events[i], sizeof a->events[i])) return 0;
  return 1;
}

static void test_same_rows_any_compute_threads(void **state) {
  (void)state;
  vout ref, other;
  run_virtual(&disp_interval_ops, &ctl_decay_ops, 32, 8, 3000, "lognormal:400,0.6", 1, 5, &ref);
  assert_int_equal(ref.rc, 0);
  assert_true(ref.res.steps_rejected > 0);
  assert_true(ref.res.n_events > 0); /* y-decay's y changes */
  assert_true(ref.res.n_snaps > 2);
  for (int ct = 2; ct <= 3; ct++) {
    run_virtual(&disp_interval_ops, &ctl_decay_ops, 32, 8, 3000, "lognormal:400,0.6", ct, 5,
                &other);
    assert_int_equal(other.rc, 0);
    assert_true(same_steps(&ref.s, &other.s));
    assert_true(same_result(&ref.res, &other.res));
    vout_free(&other);
  }
  /* another seed draws other durations: the comparison can tell */
  run_virtual(&disp_interval_ops, &ctl_decay_ops, 32, 8, 3000, "lognormal:400,0.6", 2, 6, &other);
  assert_int_equal(other.rc, 0);
  assert_false(same_steps(&ref.s, &other.s));
  vout_free(&other);
  vout_free(&ref);
}


/* ------------------------------------------------ stores in virtual time ---- */

static int count_events(const par_result *r, const char *kind) {
  int n = 0;
  for (int i = 0; i < r->n_events; i++) n += !strcmp(r->events[i].kind, kind);
  return n;
}


/* Accepted steps in order of their end; the rate over the second half of
 * the run (steps per virtual second) and tau's min / mean / max there. */
typedef struct {
  double rate, tau_mean;
  int64_t tau_min, tau_max;
  size_t n;
} steady;

static steady steady_of(const vout *o) {
  steady r = {0, 0, INT64_MAX, INT64_MIN, 0};
  const size_t n = o->s.n;
  uint64_t t_first = 0, t_last = 0;
  double sum = 0;
  for (size_t k = n / 2; k < n; k++) {
    const step_rec *x = &o->s.v[k];
    if (!x->accepted) continue;
    if (!r.n) t_first = x->t_end_ns;
    t_last = x->t_end_ns;
    r.n++;
    sum += (double)x->staleness;
    if (x->staleness < r.tau_min) r.tau_min = x->staleness;
    if (x->staleness > r.tau_max) r.tau_max = x->staleness;
  }
  r.tau_mean = r.n ? sum / (double)r.n : 0;
  r.rate = r.n > 1 ? (double)(r.n - 1) / ((double)(t_last - t_first) * 1e-9) : 0;
  return r;
}

/* Below saturation (m x (copy + apply) <= the step, the workers' entries a
 * step / m apart) a lock or CAS never waits or fails: every step takes its
 * drawn duration and tau is Async's, w in the first round, m - 1 after. */
static void test_stores_unsaturated(void **state) {
  (void)state;
  static const ps_ops *const stores[] = {&ps_mutex_ops, &ps_rwlock_ops, &ps_leashed_ops};
  const int m = 4;
  for (int si = 0; si < 3; si++) {
    g_store = stores[si];
    vout o;
    run_virtual(&disp_async_ops, NULL, m, 1, 200, "constant:1000", 2, 1, &o);
    g_store = &ps_hogwild_ops;
    assert_int_equal(o.rc, 0);
    for (size_t k = 0; k < o.s.n; k++) {
      const step_rec *r = &o.s.v[k];
      assert_true(r->accepted);
      assert_int_equal(r->t_end_ns - r->t_start_ns, 1000000);
      assert_int_equal(r->staleness, r->t_start_ns < 1000000 ? r->worker : m - 1);
    }
    assert_int_equal(o.res.store.retries, 0);
    assert_int_equal(o.res.steps_dropped, 0);
    vout_free(&o);
  }
}

/* Saturated locks (m x (copy + apply) > the step): the mutex serializes
 * every read and apply, so accepted steps come at 1 / (copy + apply) per
 * virtual second, with copy = 0 exactly one every apply time A; the rwlock's
 * reads share, so it is faster than the mutex but never beyond 1 / A, and
 * its tau concentrates at m - 2 .. m - 1. Waiting only adds: no step is
 * shorter than its drawn duration. */
static void test_locks_saturate(void **state) {
  (void)state;
  const int m = 64;
  static const ps_ops *const locks[] = {&ps_mutex_ops, &ps_rwlock_ops};
  double rate_default[2] = {0, 0};
  for (int li = 0; li < 2; li++) {
    g_store = locks[li];
    vout o;
    /* copy = 0: the applies alone serialize: one every A = 100 us */
    run_virtual(&disp_async_ops, NULL, m, 1, 60 * (uint64_t)m, "constant:1000,copy=0,apply=0.1",
                2, 1, &o);
    assert_int_equal(o.rc, 0);
    uint64_t prev = 0;
    size_t n = 0;
    for (size_t k = o.s.n / 2; k < o.s.n; k++) {
      const step_rec *r = &o.s.v[k];
      assert_true(r->accepted);
      if (prev) assert_int_equal(r->t_end_ns - prev, 100000);
      prev = r->t_end_ns;
      n++;
    }
    assert_true(n > 1000);
    vout_free(&o);

    /* the default holds: copy 75 us, apply 120 us of a 1000 us step */
    run_virtual(&disp_async_ops, NULL, m, 1, 60 * (uint64_t)m, "constant:1000", 2, 1, &o);
    assert_int_equal(o.rc, 0);
    for (size_t k = 0; k < o.s.n; k++) assert_true(o.s.v[k].t_end_ns - o.s.v[k].t_start_ns >= 1000000);
    steady r = steady_of(&o);
    rate_default[li] = r.rate;
    fprintf(stderr, "%s m %d constant:1000: %.1f accepted steps per virtual s, tau %lld..%lld "
            "(mean %.2f)\n", locks[li]->name, m, r.rate, (long long)r.tau_min,
            (long long)r.tau_max, r.tau_mean);
    if (locks[li] == &ps_mutex_ops) {
      assert_true(fabs(r.rate - 1e6 / 195.0) < 0.01 * 1e6 / 195.0);
    } else {
      assert_true(r.tau_min >= m - 2 && r.tau_max <= m - 1);
      assert_true(r.rate <= 1e6 / 120.0 * 1.001);
    }
    vout_free(&o);
  }
  g_store = &ps_hogwild_ops;
  assert_true(rate_default[1] > 1.1 * rate_default[0]);
}

/* Leashed's CAS in virtual time, m = 2, a step of 1000 us of which an
 * attempt (copy + apply) is the last 600 us; worker 1 enters at 500 us.
 * Unbounded (ps = -1): worker 1's first attempt sees worker 0's commit at
 * 1000 and retries; from then on the two alternate and every step has
 * exactly one failed attempt: 1600 us, tau = 1. ps = 0: worker 0 commits
 * every 1000 us, and each attempt of worker 1 (900..1500, 1900..2500, ...)
 * contains one of them: every step of worker 1 is dropped. */
static void test_leashed_cas(void **state) {
  (void)state;
  g_store = &ps_leashed_ops;
  vout o;
  g_ps_bound = -1;
  run_virtual(&disp_async_ops, NULL, 2, 1, 400, "constant:1000,copy=0.3,apply=0.3", 1, 1, &o);
  assert_int_equal(o.rc, 0);
  for (size_t k = 0; k < o.s.n; k++) {
    const step_rec *r = &o.s.v[k];
    assert_true(r->accepted);
    if (r->t_start_ns < 2000000) continue; /* the first steps */
    assert_int_equal(r->t_end_ns - r->t_start_ns, 1600000);
    assert_int_equal(r->staleness, 1);
  }
  assert_int_equal(o.res.steps_dropped, 0);
  assert_true(o.res.store.retries >= 395);
  vout_free(&o);

  g_ps_bound = 0;
  run_virtual(&disp_async_ops, NULL, 2, 1, 200, "constant:1000,copy=0.3,apply=0.3", 1, 1, &o);
  assert_int_equal(o.rc, 0);
  size_t dropped = 0;
  for (size_t k = 0; k < o.s.n; k++) {
    const step_rec *r = &o.s.v[k];
    assert_int_equal(r->t_end_ns - r->t_start_ns, 1000000);
    assert_int_equal(r->accepted, r->worker == 0);
    if (r->worker == 0) assert_int_equal(r->staleness, 0);
    dropped += !r->accepted;
  }
  assert_true(dropped >= 199);
  assert_int_equal(o.res.steps_dropped, dropped);
  assert_int_equal(o.res.store.dropped, dropped);
  assert_int_equal(o.res.store.retries, dropped);
  vout_free(&o);

  /* each retry costs one attempt: a step is its drawn 1000 us plus 350 us
   * per failed attempt, at most ps of them before the apply, and a dropped
   * step has had ps + 1 attempts; the failed attempts are the store's
   * retries */
  for (int ps = 0; ps <= 3; ps++) {
    g_ps_bound = ps;
    run_virtual(&disp_async_ops, NULL, 8, 1, 2000, "constant:1000,copy=0.3,apply=0.05", 2, 1, &o);
    assert_int_equal(o.rc, 0);
    uint64_t failed = 0, drops = 0;
    for (size_t k = 0; k < o.s.n; k++) {
      const step_rec *r = &o.s.v[k];
      uint64_t extra = r->t_end_ns - r->t_start_ns - 1000000;
      assert_int_equal(extra % 350000, 0);
      uint64_t f = extra / 350000;
      if (r->accepted) {
        assert_true(f <= (uint64_t)ps);
        failed += f;
      } else {
        assert_int_equal(f, (uint64_t)ps);
        failed += f + 1;
        drops++;
      }
    }
    assert_true(drops > 0);
    assert_int_equal(o.res.store.retries, failed);
    assert_int_equal(o.res.store.dropped, drops);
    vout_free(&o);
  }
  g_ps_bound = -1;
  g_store = &ps_hogwild_ops;
}

/* Sync in virtual time: a round opens when the previous one's reduction is
 * applied; all its m workers start then, each contributor's step is its
 * drawn duration, and the reducer (the last to finish) then adds the other
 * m - 1 gradients, (m - 1) x add, and applies: round = max of the m step
 * durations + the reduction. Constant 1000 us, add = 0.075 (75 us), m = 8:
 * every round after the first lasts 1525 us, the reducer is worker 7 (ties
 * in worker order), tau = 0. */
static void test_sync_rounds(void **state) {
  (void)state;
  const int m = 8;
  vout o;
  run_virtual(&disp_sync_ops, NULL, m, 1, 80 * (uint64_t)m, "constant:1000", 2, 1, &o);
  assert_int_equal(o.rc, 0);
  for (size_t k = 0; k < o.s.n; k++) {
    const step_rec *r = &o.s.v[k];
    assert_true(r->accepted);
    assert_int_equal(r->staleness, 0);
    assert_int_equal(r->m, (uint32_t)m);
    assert_int_equal(r->step, r->interval * m + (uint64_t)r->worker); /* GETBATCH: sequential */
    if (r->interval == 0) continue;
    /* round 0: worker 7 entered at 875 us, ended at 875 + 1000 + 525 */
    assert_int_equal(r->t_start_ns, 2400000 + 1525000 * (r->interval - 1));
    assert_int_equal(r->t_end_ns - r->t_start_ns, r->worker == m - 1 ? 1525000 : 1000000);
  }
  vout_free(&o);

  /* lognormal: per round, the next round starts at the reducer's end, which
   * is the round's latest step end + the reduction */
  run_virtual(&disp_sync_ops, NULL, m, 1, 80 * (uint64_t)m, "lognormal:1000,0.5", 2, 1, &o);
  assert_int_equal(o.rc, 0);
  const uint64_t R = 7 * 75000;
  uint64_t rounds = o.s.v[o.s.n - 1].interval + 1;
  uint64_t *start = calloc(rounds, sizeof *start), *last = calloc(rounds, sizeof *last),
           *red_end = calloc(rounds, sizeof *red_end), *red_d = calloc(rounds, sizeof *red_d);
  assert_non_null(start);
  assert_non_null(last);
  assert_non_null(red_end);
  assert_non_null(red_d);
  for (size_t k = 0; k < o.s.n; k++) {
    const step_rec *r = &o.s.v[k];
    uint64_t g = r->interval;
    /* records in finish order: the round's reducer is its last record */
    if (k + 1 == o.s.n || o.s.v[k + 1].interval != g) {
      red_end[g] = r->t_end_ns;
      red_d[g] = r->t_end_ns - r->t_start_ns - R;
    } else if (r->t_end_ns > last[g]) {
      last[g] = r->t_end_ns;
    }
    start[g] = r->t_start_ns;
  }
  for (uint64_t g = 1; g + 1 < rounds; g++) {
    assert_int_equal(start[g], red_end[g - 1]);
    assert_true(start[g] + red_d[g] >= last[g]); /* the reducer finished last */
  }
  free(start);
  free(last);
  free(red_end);
  free(red_d);
  vout_free(&o);
}

/* The new forms keep the determinism: identical records for 1 and 2
 * compute threads, with lognormal step times and a controller acting. */
static void test_stores_same_rows(void **state) {
  (void)state;
  static const ps_ops *const stores[] = {&ps_mutex_ops, &ps_rwlock_ops, &ps_leashed_ops};
  for (int si = 0; si < 3; si++) {
    g_store = stores[si];
    g_ps_bound = 2;
    vout a, b;
    run_virtual(&disp_interval_ops, &ctl_decay_ops, 16, 8, 2000, "lognormal:400,0.6", 1, 5, &a);
    run_virtual(&disp_interval_ops, &ctl_decay_ops, 16, 8, 2000, "lognormal:400,0.6", 2, 5, &b);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_true(a.res.steps_rejected > 0);
    assert_true(count_events(&a.res, "y") > 0);
    assert_int_equal(count_events(&a.res, "store_time"), 1);
    /* the interval's bound holds with lock waits and CAS retries between
     * finish and apply (done only after the apply) */
    for (size_t k = 0; k < a.s.n; k++)
      if (a.s.v[k].accepted) assert_true(a.s.v[k].staleness <= (int64_t)a.s.v[k].y - 1);
    assert_true(same_steps(&a.s, &b.s));
    assert_true(same_result(&a.res, &b.res));
    vout_free(&a);
    vout_free(&b);
    g_ctl_m = &ctl_elastic_ops;
    run_virtual(&disp_async_ops, NULL, 16, 1, 3000, "lognormal:300,0.4", 1, 3, &a);
    run_virtual(&disp_async_ops, NULL, 16, 1, 3000, "lognormal:300,0.4", 2, 3, &b);
    g_ctl_m = NULL;
    assert_int_equal(a.rc, 0);
    assert_true(count_events(&a.res, "m") >= 2);
    assert_true(same_steps(&a.s, &b.s));
    assert_true(same_result(&a.res, &b.res));
    vout_free(&a);
    vout_free(&b);
  }
  g_store = &ps_hogwild_ops;
  g_ps_bound = -1;
  vout a, b;
  run_virtual(&disp_sync_ops, NULL, 16, 1, 2000, "lognormal:400,0.6", 1, 5, &a);
  run_virtual(&disp_sync_ops, NULL, 16, 1, 2000, "lognormal:400,0.6", 2, 5, &b);
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  assert_true(same_steps(&a.s, &b.s));
  assert_true(same_result(&a.res, &b.res));
  vout_free(&a);
  vout_free(&b);
}

/* Reads that share immutable versions (default) against reads that copy:
 * the same records, snapshots and events, with 1 and 2 compute threads; the
 * versions path holds more than theta and momentum (it ran), the copy path
 * exactly those. Async (every version read by a step in flight) and
 * interval with y-decay (rejections, events). */
static void test_versions_equal_copies(void **state) {
  (void)state;
  const size_t plain = 2 * 48 * sizeof(float); /* theta + momentum of the quadratic */
  for (int k = 0; k < 2; k++) {
    const disp_ops *dop = k ? &disp_interval_ops : &disp_async_ops;
    const ctl_ops *cy = k ? &ctl_decay_ops : NULL;
    vout ref, other;
    g_copy = 1;
    run_virtual(dop, cy, 64, 8, 4000, "lognormal:400,0.6", 1, 7, &ref);
    assert_int_equal(ref.rc, 0);
    assert_true(ref.res.n_snaps > 2);
    assert_int_equal(ref.res.store.bytes, plain);
    g_copy = 0;
    for (int ct = 1; ct <= 2; ct++) {
      run_virtual(dop, cy, 64, 8, 4000, "lognormal:400,0.6", ct, 7, &other);
      assert_int_equal(other.rc, 0);
      assert_true(other.res.store.bytes > plain);
      assert_true(same_steps(&ref.s, &other.s));
      assert_true(same_result(&ref.res, &other.res));
      vout_free(&other);
    }
    vout_free(&ref);
  }
}

/* ---------------------------------------------------------- refusals ---- */

static void test_refusals(void **state) {
  (void)state;
  char err[PSGD_ERRLEN];
  vclock_model mo;
  assert_int_equal(vclock_model_parse("constant:12.5", &mo, err, sizeof err), 0);
  assert_int_equal(mo.kind, VCLOCK_CONSTANT);
  assert_true(mo.mean_us == 12.5);
  assert_int_equal(vclock_model_parse("lognormal:100,0.25", &mo, err, sizeof err), 0);
  assert_int_equal(mo.kind, VCLOCK_LOGNORMAL);
  assert_true(mo.cv == 0.25);
  static const char *const bad[] = {"constant:", "constant:0", "constant:-3", "constant:1x",
                                    "lognormal:100", "lognormal:100,", "lognormal:0,1",
                                    "lognormal:100,-1", "uniform:3", "measured:3",
                                    "run:", "run:0123", "run:0123456789ABCDEF",
                                    "run:0123456789abcdef0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(vclock_model_parse(bad[i], &mo, err, sizeof err), -1);
    assert_non_null(strstr(err, "step_time"));
  }
  assert_int_equal(vclock_model_parse("measured", &mo, err, sizeof err), 0);
  assert_int_equal(mo.kind, VCLOCK_MEASURED);
  assert_int_equal(vclock_model_parse("run:0123456789abcdef", &mo, err, sizeof err), 0);
  assert_int_equal(mo.kind, VCLOCK_RUN);
  assert_string_equal(mo.run_key, "0123456789abcdef");
  assert_int_equal(vclock_model_parse(NULL, &mo, err, sizeof err), 0);
  assert_int_equal(mo.kind, VCLOCK_MEASURED); /* the default */
  /* the store options */
  assert_int_equal(vclock_model_parse("constant:100", &mo, err, sizeof err), 0);
  assert_true(mo.copy_frac == VCLOCK_COPY_FRAC && mo.apply_frac == VCLOCK_APPLY_FRAC &&
              mo.add_frac == VCLOCK_ADD_FRAC && !mo.has_frac);
  assert_int_equal(vclock_model_parse("lognormal:100,0.5,apply=0.2,copy=0,add=0.01", &mo, err,
                                      sizeof err),
                   0);
  assert_true(mo.kind == VCLOCK_LOGNORMAL && mo.mean_us == 100 && mo.cv == 0.5);
  assert_true(mo.copy_frac == 0 && mo.apply_frac == 0.2 && mo.add_frac == 0.01 && mo.has_frac);
  assert_int_equal(vclock_model_parse("run:0123456789abcdef,copy=0.5,apply=0.5", &mo, err,
                                      sizeof err),
                   0);
  assert_string_equal(mo.run_key, "0123456789abcdef");
  static const struct {
    const char *s, *msg;
  } bad_opt[] = {{"constant:100,copy=0.7,apply=0.5", "more than the whole step"},
                 {"constant:100,copy=", "copy needs a fraction"},
                 {"constant:100,apply=1.5", "apply needs a fraction"},
                 {"constant:100,add=-0.1", "add needs a fraction"},
                 {"constant:100,copy=0.1x", "copy needs a fraction"},
                 {"constant:100,hold=0.1", "unknown option"},
                 {"measured,copy=0.1", "measured calibrates"}};
  for (size_t i = 0; i < sizeof bad_opt / sizeof bad_opt[0]; i++) {
    err[0] = '\0';
    assert_int_equal(vclock_model_parse(bad_opt[i].s, &mo, err, sizeof err), -1);
    if (!strstr(err, bad_opt[i].msg)) fprintf(stderr, "%s: %s\n", bad_opt[i].s, err);
    assert_non_null(strstr(err, bad_opt[i].msg));
  }
  /* every dispatcher and store has a virtual-time form now; a backoff
   * (pause loops between try-locks or CASes) has none and is refused,
   * naming itself and the store */
  for (int i = 0; i < DISP_COUNT; i++)
    assert_int_equal(vclock_check(disp_registry[i], &ps_hogwild_ops, PS_BACKOFF_NONE, 4, NULL,
                                  err, sizeof err),
                     0);
  for (int i = 0; i < PS_COUNT; i++) {
    assert_int_equal(vclock_check(&disp_async_ops, ps_registry[i], PS_BACKOFF_NONE, 4, NULL, err,
                                  sizeof err),
                     0);
    for (int b = PS_BACKOFF_LINEAR; b < PS_BACKOFF_COUNT; b++) {
      int rc = vclock_check(&disp_async_ops, ps_registry[i], (ps_backoff)b, 4, NULL, err,
                            sizeof err);
      assert_int_equal(rc, ps_registry[i]->retries ? -1 : 0);
      if (rc) {
        assert_non_null(strstr(err, ps_backoff_name((ps_backoff)b)));
        assert_non_null(strstr(err, ps_registry[i]->name));
      }
    }
  }
  assert_int_equal(vclock_check(&disp_async_ops, &ps_hogwild_ops, PS_BACKOFF_NONE,
                                VCLOCK_MAX_WORKERS, NULL, err, sizeof err),
                   0);
  assert_int_equal(vclock_check(&disp_async_ops, &ps_hogwild_ops, PS_BACKOFF_NONE,
                                VCLOCK_MAX_WORKERS + 1, NULL, err, sizeof err),
                   -1);
  /* the engine refuses the same at resolution */
  run_spec s;
  spec_default(&s);
  snprintf(s.clock, sizeof s.clock, "virtual");
  snprintf(s.store, sizeof s.store, "mutex");
  engine_algo a;
  assert_int_equal(engine_resolve(&s, &a, err, sizeof err), 0);
  snprintf(s.backoff, sizeof s.backoff, "exponential");
  assert_int_equal(engine_resolve(&s, &a, err, sizeof err), -1);
  assert_non_null(strstr(err, "backoff 'exponential' with store 'mutex'"));
}

/* 4096 virtual workers run (and the clock says so in the step records). */
static void test_4096_workers(void **state) {
  (void)state;
  vout o;
  run_virtual(&disp_async_ops, NULL, VCLOCK_MAX_WORKERS, 1, 3 * VCLOCK_MAX_WORKERS,
              "constant:100", 0, 1, &o);
  assert_int_equal(o.rc, 0);
  assert_true(o.res.steps_accepted >= 3u * VCLOCK_MAX_WORKERS);
  int64_t max_tau = 0;
  for (size_t i = 0; i < o.s.n; i++) {
    if (o.s.v[i].staleness > max_tau) max_tau = o.s.v[i].staleness;
    assert_int_equal(o.s.v[i].pu, -1);
  }
  assert_int_equal(max_tau, VCLOCK_MAX_WORKERS - 1);
  vout_free(&o);
}

/* "measured": calibrated times are positive with their spread, recorded as
 * the event step_time, and the bandwidth model's floor holds at large m. */
static void test_measured(void **state) {
  (void)state;
  quad q;
  /* small: at m > 1 the calibration threads race on one scratch theta, and
   * each racy access costs ThreadSanitizer a (suppressed) report */
  quad_init(&q, 1 << 10, 3);
  q.spin_ns = 20000; /* a 20 us gradient */
  par_problem p = quad_problem(&q);
  optim_spec o = {OPTIM_MOMENTUM, 0.01f, 0.5f, 0};
  char err[PSGD_ERRLEN];
  vclock_model m1, m4k;
  assert_int_equal(vclock_calibrate(&p, NULL, &o, 1, &m1, err, sizeof err), 0);
  assert_true(m1.copy_us > 0 && m1.apply_us > 0 && m1.grad_us >= 20.0);
  assert_true(m1.copy_sd >= 0 && m1.grad_sd >= 0 && m1.apply_sd >= 0);
  assert_true(m1.bytes == 4.0 * (1 << 10) * 7);
  assert_true(m1.mem_us == m1.copy_us + m1.apply_us);
  assert_int_equal(vclock_calibrate(&p, NULL, &o, 4096, &m4k, err, sizeof err), 0);
  /* 4096 x 28 kB at 460.8 GB/s = 255 us per step cycle */
  double floor_us = 4096 * m4k.bytes / (VCLOCK_REF_BANDWIDTH_GBS * 1e3);
  /* the cycle is never shorter than the floor, and copy + apply are what
   * was measured unless the floor binds */
  assert_true(m4k.mem_us + m4k.grad_us >= floor_us * (1 - 1e-9));
  const double ca = m4k.copy_us + m4k.apply_us;
  assert_true(fabs(m4k.mem_us - (ca > floor_us - m4k.grad_us ? ca : floor_us - m4k.grad_us)) <
              1e-9 * m4k.mem_us);
  assert_true(m4k.mem_us > m1.mem_us);
  /* as many threads at once as the m workers could run here */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  assert_int_equal(m1.cal_threads, 1);
  assert_int_equal(m4k.cal_threads, ncpu < 256 ? (int)ncpu : 256);
  quad_free(&q);

  vout out;
  run_virtual(&disp_async_ops, NULL, 8, 1, 400, "measured", 2, 1, &out);
  assert_int_equal(out.rc, 0);
  int found = 0;
  for (int i = 0; i < out.res.n_events; i++)
    if (!strcmp(out.res.events[i].kind, "step_time")) {
      found++;
      assert_true(out.res.events[i].value > 0);
      assert_non_null(strstr(out.res.events[i].detail, "grad"));
    }
  assert_int_equal(found, 1);
  vout_free(&out);
}

/* A gradient that is preempted once: calibration call `slow_at` sleeps
 * 100 ms, as a thread does when the OS gives its core to another process. */
typedef struct {
  quad *q;
  uint64_t calls, slow_at;
} slow_once;

static float slow_once_grad(void *ctx, void *ws, const float *theta, uint64_t step, float *grad) {
  slow_once *s = ctx;
  if (s->calls++ == s->slow_at) {
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
  }
  return quad_grad(s->q, ws, theta, step, grad);
}

/* "measured" with the lock, CAS and sync forms: the holds are the calibrated
 * copy and apply (the event store_time says them, in us), and no step is
 * shorter than its read hold + apply hold (sync: a contributor applies
 * nothing, the reducer adds (m - 1) gradients). */
static void test_stores_measured(void **state) {
  (void)state;
  static const struct {
    const disp_ops *d;
    const ps_ops *p;
  } cases[] = {{&disp_async_ops, &ps_mutex_ops},
               {&disp_interval_ops, &ps_rwlock_ops},
               {&disp_async_ops, &ps_leashed_ops},
               {&disp_sync_ops, &ps_hogwild_ops},
               {&disp_sync_ops, &ps_mutex_ops}};
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    g_store = cases[ci].p;
    vout o;
    run_virtual(cases[ci].d, NULL, 8, 4, 400, "measured", 2, 1, &o);
    g_store = &ps_hogwild_ops;
    assert_int_equal(o.rc, 0);
    assert_true(o.res.steps_accepted >= 400);
    int found = 0;
    double hc = -1, ha = -1, add = -1;
    for (int i = 0; i < o.res.n_events; i++)
      if (!strcmp(o.res.events[i].kind, "store_time")) {
        found++;
        const char *q = strstr(o.res.events[i].detail, ": copy ");
        assert_non_null(q);
        assert_int_equal(sscanf(q, ": copy %lf apply %lf add %lf us", &hc, &ha, &add), 3);
      }
    assert_int_equal(found, 1);
    assert_true(add > 0);
    if (cases[ci].p == &ps_hogwild_ops) {
      assert_true(hc == 0 && ha == 0);
    } else {
      assert_true(hc > 0 && ha > 0);
      for (size_t k = 0; k < o.s.n; k++) {
        const step_rec *r = &o.s.v[k];
        double us = (double)(r->t_end_ns - r->t_start_ns) * 1e-3;
        /* a step holds the lock to read and to apply (leashed: an attempt
         * is copy + apply); a rejected step and a sync contributor do not
         * apply, and under sync the reducer is whoever finished last */
        int applies = cases[ci].d != &disp_sync_ops && r->accepted; /* (sync: any may reduce) */
        if (cases[ci].p == &ps_leashed_ops) applies = 1; /* dropped: it attempted */
        assert_true(us >= (applies ? hc + ha : hc) - 0.02);
      }
    }
    vout_free(&o);
  }
}

/* "measured" calibrates the step, not the scheduler: one sample of 31 that
 * lost its core for 100 ms leaves the gradient's time and spread near its
 * 20 us (a mean would be >= 100 ms / 31 = 3.2 ms). */
static void test_measured_robust(void **state) {
  (void)state;
  quad q;
  quad_init(&q, 1 << 12, 3);
  q.spin_ns = 20000;
  slow_once s = {&q, 0, 3 + 17}; /* after the 3 warm-ups: a timed sample */
  par_problem p = {q.d, q.theta0, &s, NULL, NULL, slow_once_grad};
  optim_spec o = {OPTIM_MOMENTUM, 0.01f, 0.5f, 0};
  char err[PSGD_ERRLEN];
  vclock_model mo;
  /* m = 1: one calibration thread (the call counter is not shared) */
  assert_int_equal(vclock_calibrate(&p, NULL, &o, 1, &mo, err, sizeof err), 0);
  assert_int_equal(mo.cal_threads, 1);
  assert_true(s.calls > s.slow_at);
  assert_true(mo.grad_us >= 20.0);
  assert_true(mo.grad_us < 1000.0);
  assert_true(mo.grad_sd < 1000.0);
  quad_free(&q);
}

/* A problem whose gradient is 1 us of busy work and touches no memory (the
 * gradient stays 0): copy and apply of its d floats dominate a step. */
static float idle_grad(void *ctx, void *ws, const float *theta, uint64_t step, float *grad) {
  (void)ctx;
  (void)ws;
  (void)theta;
  (void)step;
  (void)grad;
  uint64_t t = psgd_now_ns();
  while (psgd_now_ns() - t < 1000) {
  }
  return 1.0f;
}

/* teardown: run_virtual's default problem again, also after a failure */
static int reset_problem(void **state) {
  (void)state;
  g_prob = NULL;
  return 0;
}

/* "measured": an update lands at the start of its apply, as the real
 * store's version FAA does, and the worker is busy for apply(m) after it:
 * under interval y = 2 at m = 2 every accepted step's worker starts its
 * next step apply(m) after the step's t_end, a rejected one's at once (and
 * rejections happen: the interval opens when the last apply ends); under
 * Async every step's tau counts the other's updates landed between its read
 * and its landing, and its worker starts again apply(m) after the landing,
 * so the apply is outside the window tau counts. The apply is
 * made the larger part of the cycle: d = 2^14 floats, a gradient of 1 us
 * that touches no memory (small d: the calibration threads race on one
 * scratch theta, and each racy access costs ThreadSanitizer a report). */
static void test_measured_apply_after_landing(void **state) {
  (void)state;
  const size_t d = (size_t)1 << 14;
  float *theta0 = psgd_calloc(d * sizeof *theta0);
  assert_non_null(theta0);
  par_problem pb = {d, theta0, NULL, NULL, NULL, idle_grad};
  g_prob = &pb;
  vout o;
  run_virtual(&disp_interval_ops, NULL, 2, 2, 120, "measured", 2, 1, &o);
  assert_int_equal(o.rc, 0);
  double copy = 0, grad = 0, apply = 0, sd = 0, mem = 0;
  int found = 0;
  for (int i = 0; i < o.res.n_events; i++)
    if (!strcmp(o.res.events[i].kind, "step_time"))
      found = sscanf(o.res.events[i].detail, "copy %lf+-%lf grad %lf+-%lf apply %lf+-%lf us; m 2: %lf",
                     &copy, &sd, &grad, &sd, &apply, &sd, &mem);
  assert_int_equal(found, 7);
  assert_true(apply > 0);
  /* apply(m) = apply(1) at m = 2 (no bandwidth floor); the detail rounds
   * to 0.01 us */
  const double tail = apply * 1e3;
  uint64_t last_end[2] = {0, 0};
  int last_acc[2] = {-1, -1}, n_acc_gap = 0, n_rej_gap = 0;
  /* finish order is each worker's step order */
  for (size_t i = 0; i < o.s.n; i++) {
    const step_rec *r = &o.s.v[i];
    const int w = r->worker;
    if (last_acc[w] >= 0) {
      const double gap = (double)r->t_start_ns - (double)last_end[w];
      if (last_acc[w]) {
        assert_true(fabs(gap - tail) <= 6.0);
        n_acc_gap++;
      } else {
        assert_true(gap == 0);
        n_rej_gap++;
      }
    }
    last_end[w] = r->t_end_ns;
    last_acc[w] = r->accepted;
  }
  assert_true(n_acc_gap > 50 && n_rej_gap > 10);
  vout_free(&o);

  run_virtual(&disp_async_ops, NULL, 2, 1, 400, "measured", 2, 1, &o);
  assert_int_equal(o.rc, 0);
  found = 0;
  for (int i = 0; i < o.res.n_events; i++)
    if (!strcmp(o.res.events[i].kind, "step_time"))
      found = sscanf(o.res.events[i].detail, "copy %lf+-%lf grad %lf+-%lf apply %lf+-%lf us; m 2: %lf",
                     &copy, &sd, &grad, &sd, &apply, &sd, &mem);
  assert_int_equal(found, 7);
  /* every step's tau counts exactly the other worker's updates that landed
   * after its read (at equal times a landing precedes a read) up to its own
   * landing, and every next step starts apply(m) after the landing: the
   * apply is outside the window tau counts */
  last_acc[0] = last_acc[1] = -1;
  for (size_t i = 0; i < o.s.n; i++) {
    const step_rec *r = &o.s.v[i];
    int64_t n_landed = 0;
    for (size_t k = 0; k < i; k++)
      if (o.s.v[k].worker != r->worker && o.s.v[k].t_end_ns > r->t_start_ns) n_landed++;
    assert_int_equal(r->staleness, n_landed);
    if (last_acc[r->worker] >= 0)
      assert_true(fabs((double)r->t_start_ns - (double)last_end[r->worker] - apply * 1e3) <= 6.0);
    last_end[r->worker] = r->t_end_ns;
    last_acc[r->worker] = r->accepted;
  }
  vout_free(&o);
  g_prob = NULL;
  psgd_free(theta0);
}


/* The controllers on virtual time: y-probing over y, elastic over m (its
 * workers w >= m are parked, as the gate of disp.c sleeps them), each with
 * the same records whatever the number of compute threads. */
static void test_controllers(void **state) {
  (void)state;
  vout a, b;
  run_virtual(&disp_interval_ops, &ctl_probing_ops, 16, 8, 3000, "lognormal:300,0.4", 1, 2, &a);
  run_virtual(&disp_interval_ops, &ctl_probing_ops, 16, 8, 3000, "lognormal:300,0.4", 2, 2, &b);
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  assert_true(count_events(&a.res, "probe") >= 3);
  assert_true(same_steps(&a.s, &b.s));
  assert_true(same_result(&a.res, &b.res));
  /* y in the records follows the controller: more than one value */
  uint32_t y0 = a.s.v[0].y;
  int changed = 0;
  for (size_t i = 0; i < a.s.n; i++) changed |= a.s.v[i].accepted && a.s.v[i].y != y0;
  assert_true(changed);
  vout_free(&a);
  vout_free(&b);

  g_ctl_m = &ctl_elastic_ops;
  run_virtual(&disp_async_ops, NULL, 16, 1, 4000, "lognormal:300,0.4", 1, 3, &a);
  run_virtual(&disp_async_ops, NULL, 16, 1, 4000, "lognormal:300,0.4", 2, 3, &b);
  g_ctl_m = NULL;
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  assert_true(count_events(&a.res, "m") >= 3);
  assert_true(same_steps(&a.s, &b.s));
  assert_true(same_result(&a.res, &b.res));
  /* a step starts only below the bound in force at its start, and the
   * bound really moved */
  uint32_t mmin = 16;
  for (size_t i = 0; i < a.s.n; i++) {
    assert_true((uint32_t)a.s.v[i].worker < a.s.v[i].m);
    if (a.s.v[i].m < mmin) mmin = a.s.v[i].m;
  }
  assert_true(mmin < 16);
  vout_free(&a);
  vout_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stores_unsaturated),
      cmocka_unit_test(test_locks_saturate),
      cmocka_unit_test(test_leashed_cas),
      cmocka_unit_test(test_sync_rounds),
      cmocka_unit_test(test_stores_same_rows),
      cmocka_unit_test(test_stores_measured),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_async_m64_tau63),
      cmocka_unit_test(test_interval_tau_k_minus_1),
      cmocka_unit_test(test_same_rows_any_compute_threads),
      cmocka_unit_test(test_versions_equal_copies),
      cmocka_unit_test(test_4096_workers),
      cmocka_unit_test(test_measured),
      cmocka_unit_test(test_measured_robust),
      cmocka_unit_test_teardown(test_measured_apply_after_landing, reset_problem),
      cmocka_unit_test(test_controllers),
      cmocka_unit_test(test_m1_equals_sequential),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
