/* test_engine_run.c - engine_run end to end on the synthetic set:
 *   - m = 1 under every dispatcher x every store is sequential SGD bit for
 *     bit (against core's sequential trainer, and theta against a plain loop)
 *   - 256 threads on this small machine finish under every dispatcher and
 *     every store
 *   - stop conditions (target accuracy, epsilon), divergence, bad names
 *   - the recorder receives one steps row per step, evals, events and the
 *     placement */
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
#include "train_seq.h"

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

/* engine_run with one thread = train_seq_run, bit for bit (the final test
 * loss is a function of every bit of theta), for every combination and for
 * each update rule. */
static void test_m1_equals_sequential(void **state) {
  (void)state;
  static const char *const opts[] = {"momentum", "sgd", "mindthestep"};
  for (int oi = 0; oi < 3; oi++) {
    run_spec s;
    synth_spec(&s);
    snprintf(s.optimizer, sizeof s.optimizer, "%s", opts[oi]);
    run_result seq;
    char err[PSGD_ERRLEN];
    assert_int_equal(train_seq_run(&s, NULL, &seq, err, sizeof err), 0);
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
        if (!same_double(r.final_test_loss, seq.final_test_loss))
          fprintf(stderr, "%s over %s (%s): test loss %.17g vs sequential %.17g\n",
                  disp_registry[di]->name, ps_registry[si]->name, opts[oi], r.final_test_loss,
                  seq.final_test_loss);
        assert_true(same_double(r.final_test_loss, seq.final_test_loss));
        assert_true(same_double(r.final_test_acc, seq.final_test_acc));
        assert_true(same_double(r.initial_loss, seq.initial_loss));
        assert_int_equal(r.steps_accepted, seq.steps_accepted);
        assert_int_equal(r.steps_started, seq.steps_accepted);
        assert_int_equal(r.status, RUN_OK);
      }
  }
}

/* The same at the level of theta: par_run over the model gradient (the
 * engine's problem adapter, problem.h) against a plain loop (GETBATCH(i) ->
 * gradient -> optim_apply). */

static void test_m1_theta_bitwise(void **state) {
  (void)state;
  char err[PSGD_ERRLEN];
  data_opts o;
  data_opts_default(&o);
  dataset ds;
  assert_int_equal(data_load("synthetic", &o, &ds, err, sizeof err), 0);
  model_blas_init();
  model_spec ms = {"mlp", ds.train.c, ds.train.h, ds.train.w, ds.train.n_classes, 1, {24}};
  model *m = model_create(&ms, err, sizeof err);
  assert_non_null(m);
  const size_t d = model_n_params(m);
  float *theta0 = psgd_alloc(d * sizeof(float)), *ref = psgd_alloc(d * sizeof(float));
  float *v = psgd_calloc(d * sizeof(float)), *g = psgd_alloc(d * sizeof(float));
  float *out = psgd_alloc(d * sizeof(float));
  model_init(m, theta0, 9);
  memcpy(ref, theta0, d * sizeof(float));
  optim_spec os = {OPTIM_MOMENTUM, 0.05f, 0.5f, 0.0f};
  const uint64_t steps = 300;
  /* the plain loop, written out: not through the engine's problem adapter */
  const int b = 8;
  const uint64_t seed = 9;
  model_ws *ws = model_ws_create(m, b);
  float *xb = psgd_alloc((size_t)b * (size_t)data_dim(&ds.train) * sizeof(float));
  uint8_t yb[8];
  int idx[8];
  assert_non_null(ws);
  assert_non_null(xb);
  for (uint64_t i = 0; i < steps; i++) {
    data_batch_indices(ds.train.n, seed, i, b, idx);
    data_gather(&ds.train, idx, b, xb, yb);
    model_loss_grad(m, ws, ref, xb, yb, b, g);
    optim_apply(&os, optim_lr(&os, 0), ref, v, g, d);
  }
  model_ws_free(ws);
  psgd_free(xb);
  problem_model p = {&ds, m, b, seed};
  par_problem pb = problem_model_make(&p, theta0);
  for (int di = 0; di < DISP_COUNT; di++)
    for (int si = 0; si < PS_COUNT; si++) {
      par_config c;
      par_config_default(&c);
      c.disp = disp_registry[di];
      c.store = ps_registry[si];
      c.opt = os;
      c.y0 = 2;
      c.max_steps = steps;
      par_result res;
      assert_int_equal(par_run(&pb, &c, &res, out, err, sizeof err), 0);
      assert_int_equal(res.steps_accepted, steps);
      if (memcmp(out, ref, d * sizeof(float)))
        fprintf(stderr, "%s over %s: theta differs from the plain loop\n",
                disp_registry[di]->name, ps_registry[si]->name);
      assert_memory_equal(out, ref, d * sizeof(float));
      par_result_free(&res);
    }
  psgd_free(out);
  psgd_free(g);
  psgd_free(v);
  psgd_free(ref);
  psgd_free(theta0);
  model_free(m);
  data_free(&ds);
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
  engine_io io = {r, id, NULL, NULL, NULL};
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
