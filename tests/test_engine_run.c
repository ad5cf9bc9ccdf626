/* test_engine_run.c - engine_run end to end on the synthetic set:
 *   - m = 1 under every dispatcher x every store is sequential SGD bit for
 *     bit (against the oracle loop of seq_oracle.h: final test loss, theta
 *     and every step's loss)
 *   - 256 threads on this small machine finish under every dispatcher and
 *     every store
 *   - stop conditions (target accuracy, epsilon), divergence, bad names
 *   - the recorder receives one steps row per step, evals, events and the
 *     placement; a memory sink (mem_sink.h) gets the m = 1 step losses of
 *     the oracle on both clocks */
#include "test_engine_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data.h"
#include "engine.h"
#include "model.h"
#include "optim.h"
#include "problem.h"
#include "test_rec_util.h"
#include "mem_sink.h"
#include "seq_oracle.h"

static void synth_spec(run_spec *s) {
  spec_default(s);
  snprintf(s->dataset, sizeof s->dataset, "synthetic");
  snprintf(s->model, sizeof s->model, "mlp");
  s->n_hidden = 1;
  s->hidden[0] = 32;
  s->batch = 16;
  s->lr = 0.05;
  s->momentum = 0.5;
  s->stop_epochs = 2;
  s->eval_every_s = 0.02;
}

static void set_algo(run_spec *s, const char *disp, const char *store) {
  snprintf(s->algorithm, sizeof s->algorithm, "%s", disp);
  snprintf(s->dispatcher, sizeof s->dispatcher, "%s", disp);
  snprintf(s->store, sizeof s->store, "%s", store);
}

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* engine_run with one thread (psgd train's path) = the sequential oracle
 * (seq_oracle.h), bit for bit (the final test loss is a function of every
 * bit of theta), for every dispatcher x store and for each update rule. */
static void test_m1_equals_sequential(void **state) {
  (void)state;
  static const char *const opts[] = {"momentum", "sgd", "mindthestep"};
  for (int oi = 0; oi < 3; oi++) {
    run_spec s;
    synth_spec(&s);
    snprintf(s.optimizer, sizeof s.optimizer, "%s", opts[oi]);
    seq_oracle seq;
    char err[PSGD_ERRLEN];
    assert_int_equal(seq_oracle_run(&s, &seq, err, sizeof err), 0);
    for (int di = 0; di < DISP_COUNT; di++)
      for (int si = 0; si < PS_COUNT; si++) {
        run_spec p = s;
        set_algo(&p, disp_registry[di]->name, ps_registry[si]->name);
        p.threads = 1;
        p.y0 = 1 + si; /* any y: with one worker every step is accepted */
        run_result r;
        int rc = engine_run(&p, NULL, &r, err, sizeof err);
        if (rc) fprintf(stderr, "%s\n", err);
        assert_int_equal(rc, 0);
        if (!same_double(r.final_test_loss, seq.test_loss))
          fprintf(stderr, "%s over %s (%s): test loss %.17g vs sequential %.17g\n",
                  disp_registry[di]->name, ps_registry[si]->name, opts[oi], r.final_test_loss,
                  seq.test_loss);
        assert_true(same_double(r.final_test_loss, seq.test_loss));
        assert_true(same_double(r.final_test_acc, seq.test_acc));
        assert_true(same_double(r.initial_loss, seq.initial_loss));
        assert_int_equal(r.steps_accepted, seq.steps);
        assert_int_equal(r.steps_started, seq.steps);
        assert_int_equal(r.status, RUN_OK);
      }
    seq_oracle_free(&seq);
  }
}

/* The same at the level of theta and of every step's minibatch loss:
 * par_run over the spec's problem (problem.h) under every dispatcher x
 * store at m = 1, on both clocks (the virtual one for the dispatchers and
 * stores it takes), against the oracle's loop (GETBATCH(i) -> gradient ->
 * optim_apply, written out), with memcmp. */
static int collect_losses(void *ctx, const step_rec *r, size_t n) {
  float *l = ctx;
  for (size_t k = 0; k < n; k++) l[r[k].step] = r[k].loss;
  return 0;
}

static void test_m1_theta_bitwise(void **state) {
  (void)state;
  char err[PSGD_ERRLEN];
  run_spec s;
  synth_spec(&s);
  s.hidden[0] = 24;
  s.batch = 8;
  s.seed = 9;
  s.stop_epochs = 0;
  s.stop_steps = 300;
  seq_oracle seq;
  assert_int_equal(seq_oracle_run(&s, &seq, err, sizeof err), 0);
  problem_setup P;
  assert_int_equal(problem_setup_make(&P, &s, err, sizeof err), 0);
  par_problem pb = problem_setup_par(&P);
  float *out = psgd_alloc(P.d * sizeof(float));
  float *losses = malloc(seq.steps * sizeof(float));
  assert_non_null(out);
  assert_non_null(losses);
  int n_virtual = 0;
  for (int clock = PAR_CLOCK_REAL; clock <= PAR_CLOCK_VIRTUAL; clock++)
  for (int di = 0; di < DISP_COUNT; di++)
    for (int si = 0; si < PS_COUNT; si++) {
      if (clock == PAR_CLOCK_VIRTUAL &&
          !(disp_registry[di]->virtual_clock && ps_registry[si]->virtual_clock))
        continue;
      par_config c;
      par_config_default(&c);
      c.disp = disp_registry[di];
      c.store = ps_registry[si];
      c.clock = clock;
      c.step_time = "lognormal:300,0.5";
      c.opt = P.opt;
      c.y0 = 2;
      c.max_steps = P.max_steps;
      c.log = steplog_create(1, seq.steps, err, sizeof err);
      assert_non_null(c.log);
      memset(losses, 0xff, seq.steps * sizeof(float));
      par_result res;
      assert_int_equal(par_run(&pb, &c, &res, out, err, sizeof err), 0);
      assert_int_equal(res.steps_accepted, seq.steps);
      assert_int_equal(steplog_drain(c.log, 1, collect_losses, losses), (long)seq.steps);
      steplog_free(c.log);
      if (memcmp(out, seq.theta, P.d * sizeof(float)))
        fprintf(stderr, "%s over %s (%s clock): theta differs from the oracle\n",
                disp_registry[di]->name, ps_registry[si]->name, clock ? "virtual" : "real");
      assert_memory_equal(out, seq.theta, P.d * sizeof(float));
      assert_memory_equal(losses, seq.losses, seq.steps * sizeof(float));
      n_virtual += clock == PAR_CLOCK_VIRTUAL;
      par_result_free(&res);
    }
  assert_true(n_virtual >= 2); /* async and interval over hogwild at least */
  free(losses);
  psgd_free(out);
  problem_teardown(&P);
  seq_oracle_free(&seq);
}

/* engine_run at m = 1 into a memory sink (mem_sink.h), async and interval
 * over every store, on both clocks: the step rows' minibatch losses, in
 * step order, are the oracle's bit for bit; one row per step, every record
 * kind arrives once, the last eval is the final theta's. A run with no step
 * budget drains its log through steps_live. */
static void test_m1_sink_steps(void **state) {
  (void)state;
  char err[PSGD_ERRLEN];
  run_spec s;
  synth_spec(&s);
  s.stop_epochs = 0;
  s.stop_steps = 200;
  s.record_steps = 1;
  seq_oracle seq;
  assert_int_equal(seq_oracle_run(&s, &seq, err, sizeof err), 0);
  static const char *const disps[] = {"async", "interval"};
  static mem_sink m;
  int n_virtual = 0;
  for (int virt = 0; virt <= 1; virt++)
    for (int di = 0; di < 2; di++)
      for (int si = 0; si < PS_COUNT; si++) {
        if (virt && !ps_registry[si]->virtual_clock) continue;
        run_spec p = s;
        set_algo(&p, disps[di], ps_registry[si]->name);
        p.threads = 1;
        p.y0 = 3;
        if (virt) {
          snprintf(p.clock, sizeof p.clock, "virtual");
          snprintf(p.step_time, sizeof p.step_time, "lognormal:300,0.5");
        }
        engine_sink k = mem_sink_make(&m, 1);
        engine_io io = {&k, NULL, NULL, NULL};
        run_result r;
        int rc = engine_run(&p, &io, &r, err, sizeof err);
        if (rc) fprintf(stderr, "%s\n", err);
        assert_int_equal(rc, 0);
        assert_int_equal(m.calls_live, 0); /* 200 rows: held in memory */
        assert_int_equal(m.calls_end, 1);
        assert_int_equal(m.calls_info, 1);
        assert_int_equal(m.have_xml, !virt);
        assert_int_equal(m.n_steps, seq.steps);
        assert_int_equal(m.n_place, virt ? 0 : 1);
        assert_true(m.n_evals >= 1);
        assert_true(same_double(m.evals[m.n_evals - 1].test_loss, seq.test_loss));
        assert_true(same_double(r.final_test_loss, seq.test_loss));
        for (size_t i = 0; i < m.n_steps; i++) {
          const step_rec *x = &m.steps[i];
          assert_true(x->step < seq.steps && x->accepted == 1);
          if (memcmp(&x->loss, &seq.losses[x->step], sizeof(float)))
            fail_msg("%s over %s (%s clock): step %llu loss %.9g vs oracle %.9g", disps[di],
                     ps_registry[si]->name, virt ? "virtual" : "real",
                     (unsigned long long)x->step, (double)x->loss,
                     (double)seq.losses[x->step]);
        }
        n_virtual += virt;
        mem_sink_free(&m);
      }
  assert_true(n_virtual >= 2);
  seq_oracle_free(&seq);

  /* no step budget: the log is drained live, and every row still arrives */
  synth_spec(&s);
  s.stop_epochs = 0;
  s.stop_seconds = 0.2;
  s.record_steps = 1;
  engine_sink k = mem_sink_make(&m, 1);
  engine_io io = {&k, NULL, NULL, NULL};
  run_result r;
  assert_int_equal(engine_run(&s, &io, &r, err, sizeof err), 0);
  assert_int_equal(m.calls_live, 1);
  assert_int_equal(m.calls_end, 1);
  assert_int_equal(m.n_steps, r.steps_started);
  assert_true(m.n_steps > 0);
  mem_sink_free(&m);
  /* a sink without steps_live: the same run held in memory */
  k = mem_sink_make(&m, 0);
  assert_int_equal(engine_run(&s, &io, &r, err, sizeof err), 0);
  assert_int_equal(m.calls_live, 0);
  assert_int_equal(m.n_steps, r.steps_started);
  mem_sink_free(&m);
}

/* 256 threads on a 2-core machine: every dispatcher and every store. Under
 * the sanitizers (10-50x slower, and a shared 2-core machine) the same test
 * runs with 64 threads (ASan) or 16 (TSan: every access of the suppressed
 * HOGWILD! race goes through its report path under one global mutex, and 64
 * threads took over 5 minutes even with the final evaluation only): the 256-thread case is the plain build's. */
#if defined(__SANITIZE_THREAD__)
#define MANY_THREADS 16
#elif defined(__SANITIZE_ADDRESS__)
#define MANY_THREADS 64
#else
#define MANY_THREADS 256
#endif
static void test_256_threads(void **state) {
  (void)state;
  for (int di = 0; di < DISP_COUNT; di++)
    for (int si = 0; si < PS_COUNT; si++) {
      run_spec s;
      synth_spec(&s);
      set_algo(&s, disp_registry[di]->name, ps_registry[si]->name);
      s.threads = MANY_THREADS;
      /* evaluate only the final theta: a snapshot every 20 ms of a run that
       * the sanitizers slow down to a minute piles up thousands of them */
      s.eval_every_s = 0;
      s.y0 = 32;
      s.stop_epochs = 0;
      s.stop_steps = 3 * MANY_THREADS;
      run_result r;
      char err[PSGD_ERRLEN];
      int rc = engine_run(&s, NULL, &r, err, sizeof err);
      if (rc) fprintf(stderr, "%s over %s, %d threads: %s\n", disp_registry[di]->name,
                      ps_registry[si]->name, MANY_THREADS, err);
      assert_int_equal(rc, 0);
      assert_int_equal(r.status, RUN_OK);
      assert_true(r.steps_accepted >= 3 * MANY_THREADS);
      assert_true(isfinite(r.final_test_loss));
    }
}

static void test_target_accuracy(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  set_algo(&s, "async", "hogwild");
  s.threads = 2;
  s.stop_epochs = 50;
  s.target_acc = 0.6;
  s.eval_every_s = 0;
  s.eval_every_steps = 64;
  run_result r;
  char err[PSGD_ERRLEN];
  assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), 0);
  assert_int_equal(r.status, RUN_CONVERGED);
  assert_true(r.best_test_acc >= 0.6);
  assert_true(r.epochs < 50);
}

static void test_epsilon(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  set_algo(&s, "interval", "mutex");
  s.threads = 2;
  s.y0 = 4;
  s.stop_epochs = 200;
  s.epsilon = 0.5;
  run_result r;
  char err[PSGD_ERRLEN];
  assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), 0);
  assert_int_equal(r.status, RUN_CONVERGED);
  assert_true(r.epochs < 200);
  assert_true(r.final_train_loss <= 0.5 * r.initial_loss * 1.5);
}

static void test_divergence(void **state) {
  (void)state;
  for (int di = 0; di < DISP_COUNT; di++) {
    run_spec s;
    synth_spec(&s);
    set_algo(&s, disp_registry[di]->name, "hogwild");
    snprintf(s.optimizer, sizeof s.optimizer, "sgd");
    s.lr = 90;
    s.threads = 2;
    s.stop_epochs = 20;
    run_result r;
    char err[PSGD_ERRLEN];
    assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), 0);
    assert_int_equal(r.status, RUN_DIVERGED);
    assert_true(r.epochs < 20);
  }
}

static void test_bad_names(void **state) {
  (void)state;
  run_spec s;
  synth_spec(&s);
  run_result r;
  char err[PSGD_ERRLEN];
  set_algo(&s, "semisync", "hogwild");
  assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), -1);
  char names[128], want[200];
  disp_names(names, sizeof names);
  snprintf(want, sizeof want, "unknown dispatcher 'semisync' (known: %s)", names);
  assert_non_null(strstr(err, want));
  set_algo(&s, "async", "lockfree");
  assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), -1);
  ps_names(names, sizeof names);
  snprintf(want, sizeof want, "unknown param store 'lockfree' (known: %s)", names);
  assert_non_null(strstr(err, want));
  set_algo(&s, "async", "hogwild");
  snprintf(s.y_control, sizeof s.y_control, "decay");
  assert_int_equal(engine_run(&s, NULL, &r, err, sizeof err), -1);
  assert_non_null(strstr(err, "needs algorithm 'interval'"));
}

/* The recorder gets one steps row per step (accepted or not), the evals, the
 * controller's events and one placement row per worker. */
static void test_recorder(void **state) {
  (void)state;
  tmp_place t;
  tmp_make(&t);
  char err[PSGD_ERRLEN];
  rec *r = rec_open(t.db, err, sizeof err);
  assert_non_null(r);
  run_spec s;
  synth_spec(&s);
  set_algo(&s, "interval", "leashed");
  snprintf(s.y_control, sizeof s.y_control, "decay");
  s.y0 = 8;
  s.y_decay_k = 64;
  s.threads = 4;
  s.stop_epochs = 3;
  char key[17];
  spec_key(&s, key);
  int64_t id;
  assert_int_equal(rec_run_begin(r, &s, key, NULL, NULL, &id, err, sizeof err), 0);
  engine_rec_sink rs;
  engine_sink sink = engine_sink_rec(&rs, r, id);
  engine_io io = {&sink, NULL, NULL, NULL};
  run_result res;
  int rc = engine_run(&s, &io, &res, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(rec_run_end(r, id, &res, err, sizeof err), 0);
  rec_close(r);
  char q[160];
  snprintf(q, sizeof q, "SELECT count(*) FROM steps WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_int(t.db, q), (int64_t)res.steps_started);
  snprintf(q, sizeof q, "SELECT sum(accepted) FROM steps WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_int(t.db, q), (int64_t)res.steps_accepted);
  snprintf(q, sizeof q,
           "SELECT count(*) FROM steps WHERE run_id = %lld AND accepted = 1 AND staleness >= y",
           (long long)id);
  assert_int_equal(q_int(t.db, q), 0);
  snprintf(q, sizeof q, "SELECT count(*) FROM placement WHERE run_id = %lld", (long long)id);
  assert_int_equal(q_int(t.db, q), 4);
  snprintf(q, sizeof q, "SELECT count(*) FROM evals WHERE run_id = %lld", (long long)id);
  assert_true(q_int(t.db, q) >= 1);
  snprintf(q, sizeof q, "SELECT count(*) FROM events WHERE run_id = %lld AND kind = 'y'",
           (long long)id);
  assert_true(q_int(t.db, q) >= 3); /* 384 accepted steps / K = 64: y 8 -> 2 */
  snprintf(q, sizeof q,
           "SELECT count(*) FROM events WHERE run_id = %lld AND kind = 'leashed_live_peak'",
           (long long)id);
  assert_int_equal(q_int(t.db, q), 1);
  /* the store's contention counters, once each */
  snprintf(q, sizeof q,
           "SELECT count(*) FROM events WHERE run_id = %lld AND kind IN ('store_retries', "
           "'store_backoffs') AND value >= 0",
           (long long)id);
  assert_int_equal(q_int(t.db, q), 2);
  tmp_remove(&t);
}

/* A slow run (fewer than the running loss's 256-step window in the monitor's
 * remembered span) must still reach its epsilon stop once its recent losses
 * are low: 50 steps of loss 10, then 0.01, at ~80 steps/s. A running loss
 * that fell back to the mean since the start would need ~1000 steps (12 s)
 * to get below 0.5; over the remembered span it takes ~3.2 s. */
typedef struct {
  size_t d;
  float *theta0;
} slow_prob;

static float slow_grad(void *ctx, void *ws, const float *theta, uint64_t step, float *grad) {
  (void)ws;
  (void)theta;
  slow_prob *p = ctx;
  memset(grad, 0, p->d * sizeof *grad);
  struct timespec ts = {0, 12 * 1000 * 1000};
  nanosleep(&ts, NULL);
  return step < 50 ? 10.0f : 0.01f;
}

static void test_epsilon_slow_run(void **state) {
  (void)state;
  slow_prob sp = {4, NULL};
  sp.theta0 = psgd_alloc(sp.d * sizeof(float));
  memset(sp.theta0, 0, sp.d * sizeof(float));
  par_problem pb = {sp.d, sp.theta0, &sp, NULL, NULL, slow_grad};
  par_config c;
  par_config_default(&c);
  c.disp = &disp_async_ops;
  c.store = &ps_mutex_ops;
  c.n_workers = 1;
  c.m0 = 1;
  c.max_seconds = 8;
  c.epsilon = 0.5;
  c.initial_loss = 1.0;
  c.diverge_factor = 1e6;
  par_result res;
  char err[PSGD_ERRLEN];
  int rc = par_run(&pb, &c, &res, NULL, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  assert_int_equal(rc, 0);
  if (res.status != RUN_CONVERGED)
    fprintf(stderr, "slow run: status %d after %.2f s, %llu steps, running loss %g\n",
            (int)res.status, res.wall_s, (unsigned long long)res.steps_accepted,
            res.final_train_loss);
  assert_int_equal(res.status, RUN_CONVERGED);
  assert_true(res.wall_s < 6.0);
  par_result_free(&res);
  psgd_free(sp.theta0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_m1_equals_sequential),
      cmocka_unit_test(test_m1_theta_bitwise),
      cmocka_unit_test(test_m1_sink_steps),
      cmocka_unit_test(test_256_threads),
      cmocka_unit_test(test_target_accuracy),
      cmocka_unit_test(test_epsilon),
      cmocka_unit_test(test_epsilon_slow_run),
      cmocka_unit_test(test_divergence),
      cmocka_unit_test(test_bad_names),
      cmocka_unit_test(test_recorder),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
