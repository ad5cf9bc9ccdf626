/* test_algo.c - invariants over every entry of the dispatcher, param-store
 * and controller registries: each declared capability matches what the
 * entry does, and algo_resolve's rules follow the capabilities (no name
 * appears here, so a new entry is covered by adding it to its registry). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "algo.h"
#include "common.h"
#include "vclock.h"

#define D 8

/* m = 1: every step is accepted, applied alone (REDUCE iff the dispatcher
 * reduces), and y is there iff declared. */
static void test_dispatchers(void **state) {
  (void)state;
  for (int i = 0; i < DISP_COUNT; i++) {
    const disp_ops *o = disp_registry[i];
    assert_non_null(o);
    assert_true(o->name && o->name[0] && o->help && o->help[0]);
    for (int j = 0; j < i; j++) assert_string_not_equal(o->name, disp_registry[j]->name);
    assert_true(o->create && o->destroy && o->try_start && o->finish);
    assert_int_equal(o->has_y, o->set_y != NULL && o->get_y != NULL);
    if (o->tau == DISP_TAU_Y) assert_true(o->has_y && o->rejects);
    if (o->needs_reduce) assert_true(o->own_gate);
    assert_int_equal(o->needs_reduce, o->reduce != NULL);
    if (o->reduce) {
      /* one participant: its own gradient; three: their mean, summed in
       * worker order (the exact float sequence) */
      const float g0[3] = {1.0f, 0.1f, -3.0f}, g1[3] = {2.0f, 0.2f, 5.0f};
      const float g2[3] = {4.0f, 0.7f, 1e-7f};
      const float *gs[3] = {g0, g1, g2};
      float out[3];
      assert_ptr_equal(o->reduce(gs, 1, 3, out), g0);
      assert_ptr_equal(o->reduce(gs, 3, 3, out), out);
      for (int j = 0; j < 3; j++) {
        float e = g0[j];
        e += g1[j];
        e += g2[j];
        e *= 1.0f / 3.0f;
        assert_memory_equal(&out[j], &e, sizeof e);
      }
    }
    char err[PSGD_ERRLEN];
    disp_cfg dc = {1, 1, 4, NULL, NULL};
    disp *d = disp_create(o, &dc, err, sizeof err);
    if (!d) fail_msg("%s: %s", o->name, err);
    assert_int_equal(disp_y(d) > 0, o->has_y);
    for (int k = 0; k < 20; k++) {
      disp_ticket t;
      assert_int_equal(disp_try_start(d, 0, &t), 1);
      assert_int_equal(t.i, (uint64_t)k);
      int v = disp_finish(d, 0, &t);
      assert_int_equal(v, o->needs_reduce ? DISP_REDUCE : DISP_APPLY);
      disp_done(d, 0, &t);
    }
    disp_stop(d);
    disp_ticket t;
    assert_int_equal(disp_try_start(d, 0, &t), 0);
    disp_free(d);
  }
}

/* Stores: a retry-free store counts no retries and takes no backoff; only
 * a versioned store reports a version pool; every store applies updates. */
static void test_stores(void **state) {
  (void)state;
  float theta0[D] = {0}, g[D];
  for (int j = 0; j < D; j++) g[j] = 1.0f;
  optim_spec os = {OPTIM_SGD, 0.1f, 0.0f, 0.0f};
  for (int i = 0; i < PS_COUNT; i++) {
    const ps_ops *o = ps_registry[i];
    assert_non_null(o);
    assert_true(o->name && o->name[0] && o->help && o->help[0]);
    for (int j = 0; j < i; j++) assert_string_not_equal(o->name, ps_registry[j]->name);
    if (o->has_ps_bound) assert_true(o->retries);
    if (o->versions) assert_true(o->consistent);
    ps_cfg cfg = {D, 2, theta0, os, o->retries ? PS_BACKOFF_LINEAR : PS_BACKOFF_NONE,
                  o->has_ps_bound ? 0 : -1, 1};
    char err[PSGD_ERRLEN];
    ps *p = ps_create(o, &cfg, err, sizeof err);
    if (!p) fail_msg("%s: %s", o->name, err);
    float local[D];
    for (int k = 0; k < 10; k++) {
      uint64_t vr, va;
      ps_read_begin(p, 0, local, &vr);
      ps_read_end(p, 0);
      assert_int_equal(ps_apply(p, 0, g, vr, &va), 1);
    }
    ps_stats st;
    ps_get_stats(p, &st);
    assert_int_equal(st.applied, 10);
    if (!o->retries) assert_int_equal(st.retries + st.backoffs, 0);
    assert_int_equal(st.allocated > 0, o->versions);
    ps_free(p);
    /* the virtual clock takes exactly the entries that say so */
    assert_int_equal(vclock_check(NULL, o, PS_BACKOFF_NONE, 2, "", err, sizeof err) == 0,
                     o->virtual_clock != PS_VT_NONE);
    /* a two-phase apply exactly where the CAS form needs it */
    assert_int_equal(o->apply_build != NULL, o->virtual_clock == PS_VT_CAS);
    assert_int_equal(o->apply_commit != NULL, o->virtual_clock == PS_VT_CAS);
  }
  for (int i = 0; i < DISP_COUNT; i++) {
    char err[PSGD_ERRLEN];
    assert_int_equal(
        vclock_check(disp_registry[i], NULL, PS_BACKOFF_NONE, 2, "", err, sizeof err) == 0,
        disp_registry[i]->virtual_clock);
    /* an own gate under the virtual clock needs its non-waiting test */
    if (disp_registry[i]->own_gate && disp_registry[i]->virtual_clock)
      assert_non_null(disp_registry[i]->can_start);
  }
}

static void no_loss(void *ctx, double *sum, uint64_t *count) {
  (void)ctx;
  *sum = 0;
  *count = 0;
}

/* Controllers: y controllers act, and are refused on a dispatcher without y. */
static void test_controllers(void **state) {
  (void)state;
  for (int i = 0; i < CTL_COUNT; i++) {
    const ctl_ops *o = ctl_registry[i];
    assert_non_null(o);
    assert_true(o->name && o->name[0] && o->help && o->help[0]);
    for (int j = 0; j < i; j++) assert_string_not_equal(o->name, ctl_registry[j]->name);
    assert_false(o->needs_y && o->over_m);
    if (o->needs_y || o->over_m) assert_true(o->on_accept && o->create && o->destroy);
    for (int k = 0; k < DISP_COUNT; k++) {
      if (!o->create) continue;
      char err[PSGD_ERRLEN];
      disp_cfg dc = {2, 1, 4, NULL, NULL};
      disp *d = disp_create(disp_registry[k], &dc, err, sizeof err);
      assert_non_null(d);
      ctl_cfg cc = {0};
      cc.d = d;
      cc.y0 = 4;
      cc.m0 = 1;
      cc.m_max = 2;
      cc.decay_k = 10;
      cc.window = 3;
      cc.probe_steps = 4;
      cc.exec_steps = 8;
      cc.loss = no_loss;
      ctl *c = ctl_create(o, &cc, err, sizeof err);
      int ok = !o->needs_y || disp_registry[k]->has_y;
      if (ok && !c) fail_msg("%s over %s: %s", o->name, disp_registry[k]->name, err);
      if (!ok) assert_null(c);
      ctl_free(c);
      disp_free(d);
    }
  }
}

static void spec_with(run_spec *s, const char *alg) {
  spec_default(s);
  snprintf(s->algorithm, sizeof s->algorithm, "%s", alg);
  char err[PSGD_ERRLEN];
  assert_int_equal(algo_apply_name(s, alg, err, sizeof err), 0);
}

/* Every algorithm word resolves; every combination is accepted exactly when
 * the capabilities allow it, with the setting at fault named. */
static void test_resolve_rules(void **state) {
  (void)state;
  char names[512], err[PSGD_ERRLEN];
  algo_names(names, sizeof names, "|");
  int n_words = 0;
  for (const char *p = names; *p; p++) n_words += *p == '|';
  n_words++;
  int n_over_m = 0;
  for (int i = 0; i < CTL_COUNT; i++) n_over_m += ctl_registry[i]->over_m;
  assert_int_equal(n_words, DISP_COUNT + n_over_m + PS_COUNT);
  run_spec s;
  algo_choice a;
  algo_setting bad;
  for (int i = 0; i < DISP_COUNT; i++) {
    spec_with(&s, disp_registry[i]->name);
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), 0);
    assert_ptr_equal(a.disp, disp_registry[i]);
    for (int k = 0; k < CTL_COUNT; k++) {
      if (ctl_registry[k]->over_m) continue;
      snprintf(s.y_control, sizeof s.y_control, "%s", ctl_registry[k]->name);
      int ok = !ctl_registry[k]->needs_y || disp_registry[i]->has_y;
      assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), ok ? 0 : -1);
      if (!ok) assert_int_equal(bad, ALGO_SET_Y_CONTROL);
    }
  }
  for (int i = 0; i < CTL_COUNT; i++) {
    if (!ctl_registry[i]->over_m) continue;
    spec_with(&s, ctl_registry[i]->name);
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), 0);
    assert_non_null(a.ctl_m);
  }
  for (int i = 0; i < PS_COUNT; i++) {
    const ps_ops *o = ps_registry[i];
    spec_with(&s, o->name);
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), 0);
    assert_ptr_equal(a.store, o);
    snprintf(s.backoff, sizeof s.backoff, "linear");
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), o->retries ? 0 : -1);
    if (!o->retries) assert_int_equal(bad, ALGO_SET_BACKOFF);
    snprintf(s.backoff, sizeof s.backoff, "none");
    s.ps_bound = 0;
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), o->has_ps_bound ? 0 : -1);
    if (!o->has_ps_bound) assert_int_equal(bad, ALGO_SET_PS);
    s.ps_bound = -1;
    /* a store setting other than the one the algorithm names */
    snprintf(s.store, sizeof s.store, "%s", ps_registry[(i + 1) % PS_COUNT]->name);
    assert_int_equal(algo_resolve(&s, &a, &bad, err, sizeof err), -1);
    assert_int_equal(bad, ALGO_SET_STORE);
  }
  spec_default(&s);
  assert_int_equal(algo_apply_name(&s, "semisync", err, sizeof err), -1);
  char want[600];
  algo_names(names, sizeof names, " | ");
  snprintf(want, sizeof want, "unknown algorithm 'semisync' (known: %s)", names);
  assert_string_equal(err, want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dispatchers),
      cmocka_unit_test(test_stores),
      cmocka_unit_test(test_controllers),
      cmocka_unit_test(test_resolve_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
