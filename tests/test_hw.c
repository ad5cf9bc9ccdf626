/* test_hw.c - hw/: golden placements on synthetic topologies (the thesis
 * machine, a 4-node machine, Intel- and AMD-style PU numbering), the
 * reference machines under hw/machines/, oversubscription and
 * keep_core_free, errors for bad topology strings and files and for
 * impossible placements (and their nearest equivalents), and real binding of
 * worker threads on this machine, checked with sched_getcpu inside each
 * thread. Run from the repository top (make test does). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hw.h"

/* the thesis machine (Sec. 4.1): 2 sockets x 8 cores x 2 hyperthreads, one
 * NUMA node per socket; PUs numbered in core order (P#2c, P#2c+1 on core c) */
#define THESIS "synthetic:pack:2 numa:1 l3:1 core:8 pu:2"
/* the same with Intel-style numbering: core c of the machine = P#c, P#c+16 */
#define THESIS_INTEL "synthetic:pack:2 numa:1 l3:1 core:8 pu:2(indexes=core)"
/* four NUMA nodes, two per package (sub-NUMA clustering), 4 cores x 2 PUs */
#define FOUR_NODES "synthetic:pack:2 numa:2 core:4 pu:2"

static hw_topo *load(const char *spec) {
  char err[512] = "";
  hw_topo *t = hw_topo_load(spec, err, sizeof err);
  if (!t) fail_msg("cannot load %s: %s", spec ? spec : "this machine", err);
  return t;
}

static void plan(const hw_topo *t, const char *placement, int m, int flags, hw_plan *p) {
  char err[512] = "";
  if (hw_plan_make(t, placement, m, flags, p, err, sizeof err))
    fail_msg("plan %s x %d failed: %s", placement, m, err);
  assert_int_equal(p->n, m);
}

/* workers per package / per node, and checks on distinctness */
static void count_by(const hw_plan *p, int by_node, int *counts, int n) {
  memset(counts, 0, (size_t)n * sizeof *counts);
  for (int i = 0; i < p->n; i++) {
    int k = by_node ? p->slots[i].node : p->slots[i].package;
    assert_true(k >= 0 && k < n);
    counts[k]++;
  }
}

static int distinct_cores(const hw_plan *p) {
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < i; j++)
      if (p->slots[i].core == p->slots[j].core) return 0;
  return 1;
}

static int distinct_pus(const hw_plan *p) {
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < i; j++)
      if (p->slots[i].pu_os == p->slots[j].pu_os) return 0;
  return 1;
}

static void test_thesis_counts(void **state) {
  (void)state;
  hw_topo *t = load(THESIS);
  assert_int_equal(hw_n_packages(t), 2);
  assert_int_equal(hw_n_numa(t), 2);
  assert_int_equal(hw_n_cores(t), 16);
  assert_int_equal(hw_n_pus(t), 32);
  assert_false(hw_topo_is_thissystem(t));
  char *s = hw_topo_summary(t);
  assert_non_null(s);
  assert_non_null(strstr(s, "packages 2, NUMA nodes 2, cores 16, PUs 32"));
  free(s);
  hw_topo_free(t);
}

/* Thesis Sec. 3.2: UMA = every thread on socket 0 (7 and 8 threads), one per
 * core. Beyond 8 threads socket 0 has no free core: 16 uses both sockets'
 * cores (8 + 8, still one per core), 32 every PU. */
static void test_thesis_uma(void **state) {
  (void)state;
  hw_topo *t = load(THESIS);
  hw_plan p;
  int c[2];
  const int golden8[8] = {0, 2, 4, 6, 8, 10, 12, 14}; /* the first PU of cores 0..7 */
  plan(t, "uma", 8, 0, &p);
  for (int i = 0; i < 8; i++) {
    assert_int_equal(p.slots[i].pu_os, golden8[i]);
    assert_int_equal(p.slots[i].core, i);
    assert_int_equal(p.slots[i].node, 0);
    assert_int_equal(p.slots[i].package, 0);
    assert_int_equal(p.slots[i].shared, 1);
  }
  assert_true(p.exact);
  assert_string_equal(p.policy, "uma");
  hw_plan_free(&p);

  plan(t, "compact", 7, 0, &p); /* compact is uma's other name */
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 7);
  assert_int_equal(c[1], 0);
  assert_true(distinct_cores(&p));
  hw_plan_free(&p);

  plan(t, "uma", 16, 0, &p);
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 8);
  assert_int_equal(c[1], 8);
  assert_true(distinct_cores(&p));
  for (int i = 0; i < 8; i++) assert_int_equal(p.slots[i].package, 0); /* package 0 first */
  hw_plan_free(&p);

  plan(t, "uma", 32, 0, &p);
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 16);
  assert_int_equal(c[1], 16);
  assert_true(distinct_pus(&p));
  assert_string_equal(p.note, "");
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* Thesis Sec. 3.2: NUMA = threads split across the sockets, 4 + 3 for 7
 * threads and 4 + 4 for 8, alternating from socket 0. */
static void test_thesis_numa(void **state) {
  (void)state;
  hw_topo *t = load(THESIS);
  hw_plan p;
  int c[2];
  plan(t, "numa", 7, 0, &p);
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[1], 3);
  for (int i = 0; i < 7; i++) assert_int_equal(p.slots[i].node, i % 2);
  assert_true(distinct_cores(&p));
  hw_plan_free(&p);

  const int golden8[8] = {0, 16, 2, 18, 4, 20, 6, 22};
  plan(t, "spread", 8, 0, &p);
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[1], 4);
  for (int i = 0; i < 8; i++) assert_int_equal(p.slots[i].pu_os, golden8[i]);
  hw_plan_free(&p);

  plan(t, "numa", 16, 0, &p);
  count_by(&p, 1, c, 2);
  assert_int_equal(c[0], 8);
  assert_int_equal(c[1], 8);
  assert_true(distinct_cores(&p));
  hw_plan_free(&p);

  plan(t, "numa", 32, 0, &p);
  count_by(&p, 1, c, 2);
  assert_int_equal(c[0], 16);
  assert_int_equal(c[1], 16);
  assert_true(distinct_pus(&p));
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* Intel numbering (P#c and P#c+16 on core c): placement goes by objects, so
 * uma 8 is P#0..7 and numa 8 alternates P#0, P#8, P#1, P#9, ... */
static void test_thesis_intel_numbering(void **state) {
  (void)state;
  hw_topo *t = load(THESIS_INTEL);
  hw_plan p;
  plan(t, "uma", 8, 0, &p);
  for (int i = 0; i < 8; i++) assert_int_equal(p.slots[i].pu_os, i);
  hw_plan_free(&p);
  const int golden[8] = {0, 8, 1, 9, 2, 10, 3, 11};
  plan(t, "numa", 8, 0, &p);
  for (int i = 0; i < 8; i++) assert_int_equal(p.slots[i].pu_os, golden[i]);
  hw_plan_free(&p);
  /* the 17th uma worker is core 0's hyperthread, P#16 */
  plan(t, "uma", 17, 0, &p);
  assert_int_equal(p.slots[16].pu_os, 16);
  assert_int_equal(p.slots[16].core, 0);
  hw_plan_free(&p);
  hw_topo_free(t);
}

static void test_four_nodes(void **state) {
  (void)state;
  hw_topo *t = load(FOUR_NODES);
  assert_int_equal(hw_n_numa(t), 4);
  assert_int_equal(hw_n_packages(t), 2);
  hw_plan p;
  int c[4];
  plan(t, "numa", 7, 0, &p); /* 2 + 2 + 2 + 1, round-robin */
  count_by(&p, 1, c, 4);
  assert_int_equal(c[0], 2);
  assert_int_equal(c[1], 2);
  assert_int_equal(c[2], 2);
  assert_int_equal(c[3], 1);
  for (int i = 0; i < 7; i++) assert_int_equal(p.slots[i].node, i % 4);
  hw_plan_free(&p);

  plan(t, "numa", 8, 0, &p);
  count_by(&p, 1, c, 4);
  for (int k = 0; k < 4; k++) assert_int_equal(c[k], 2);
  hw_plan_free(&p);

  plan(t, "uma", 7, 0, &p); /* node 0's 4 cores, then node 1's */
  count_by(&p, 1, c, 4);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[1], 3);
  assert_int_equal(c[2] + c[3], 0);
  for (int i = 0; i < 7; i++) assert_int_equal(p.slots[i].package, 0);
  hw_plan_free(&p);

  plan(t, "uma", 16, 0, &p);
  count_by(&p, 1, c, 4);
  for (int k = 0; k < 4; k++) assert_int_equal(c[k], 4);
  assert_true(distinct_cores(&p));
  hw_plan_free(&p);

  plan(t, "numa:2", 8, 0, &p); /* only nodes 0 and 1 */
  count_by(&p, 1, c, 4);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[1], 4);
  hw_plan_free(&p);

  plan(t, "uma", 32, 0, &p);
  assert_true(distinct_pus(&p));
  hw_plan_free(&p);
  hw_topo_free(t);
}

static void test_oversubscription_and_keep_free(void **state) {
  (void)state;
  hw_topo *t = load("synthetic:pack:1 numa:1 core:2 pu:1");
  hw_plan p;
  plan(t, "uma", 5, 0, &p);
  const int golden[5] = {0, 1, 0, 1, 0};
  for (int i = 0; i < 5; i++) assert_int_equal(p.slots[i].pu_os, golden[i]);
  assert_int_equal(p.slots[0].shared, 3);
  assert_int_equal(p.slots[1].shared, 2);
  assert_non_null(strstr(p.note, "oversubscribed: 5 workers on 2 PUs, 2 or 3 per PU"));
  assert_true(p.exact); /* oversubscription is allowed, not a fallback */
  hw_plan_free(&p);

  plan(t, "uma", 3, HW_PLAN_KEEP_CORE_FREE, &p); /* core 1 kept free: all on P#0 */
  for (int i = 0; i < 3; i++) assert_int_equal(p.slots[i].pu_os, 0);
  assert_non_null(strstr(p.note, "core L#1 kept free"));
  hw_plan_free(&p);
  hw_topo_free(t);

  t = load(THESIS);
  plan(t, "uma", 16, HW_PLAN_KEEP_CORE_FREE, &p);
  for (int i = 0; i < 16; i++) assert_int_not_equal(p.slots[i].core, 15);
  hw_plan_free(&p);
  plan(t, "os", 4, 0, &p);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(p.slots[i].pu_os, -1);
    assert_int_equal(p.slots[i].node, -1);
  }
  hw_plan_free(&p);
  plan(t, "list:5,3", 3, 0, &p);
  assert_int_equal(p.slots[0].pu_os, 5);
  assert_int_equal(p.slots[1].pu_os, 3);
  assert_int_equal(p.slots[2].pu_os, 5);
  assert_int_equal(p.slots[0].core, 2);
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* The reference machines load from their files and plan as documented. */
static void test_reference_machines(void **state) {
  (void)state;
  hw_topo *t = load("hw/machines/thesis-2x-e5-2687w-v2.synth");
  assert_int_equal(hw_n_packages(t), 2);
  assert_int_equal(hw_n_numa(t), 2);
  assert_int_equal(hw_n_cores(t), 16);
  assert_int_equal(hw_n_pus(t), 32);
  hw_plan p;
  int c[2];
  plan(t, "numa", 8, 0, &p);
  count_by(&p, 0, c, 2);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[1], 4);
  hw_plan_free(&p);
  char *s = hw_topo_summary(t);
  assert_non_null(strstr(s, "L3 2 x 25 MiB"));
  free(s);
  hw_topo_free(t);

  t = load("hw/machines/epyc-9754.synth");
  assert_int_equal(hw_n_cores(t), 128);
  assert_int_equal(hw_n_pus(t), 256);
  assert_int_equal(hw_n_numa(t), 1);
  hw_topo_free(t);
  t = load("hw/machines/epyc-9754-nps4.synth");
  assert_int_equal(hw_n_numa(t), 4);
  plan(t, "numa", 8, 0, &p);
  for (int i = 0; i < 8; i++) assert_int_equal(p.slots[i].node, i % 4);
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* XML export round trip: write the thesis machine out, load it back. */
static void test_xml_roundtrip(void **state) {
  (void)state;
  hw_topo *t = load(THESIS);
  char *xml = hw_topo_xml(t);
  assert_non_null(xml);
  assert_non_null(strstr(xml, "<topology"));
  char path[] = "/tmp/psgd_test_hw_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
  close(fd);
  free(xml);
  hw_topo_free(t);
  t = load(path);
  assert_int_equal(hw_n_numa(t), 2);
  assert_int_equal(hw_n_pus(t), 32);
  assert_false(hw_topo_is_thissystem(t));
  hw_plan p;
  plan(t, "numa", 7, 0, &p);
  assert_int_equal(p.slots[1].node, 1);
  hw_plan_free(&p);
  hw_topo_free(t);
  unlink(path);
  assert_true(!strncmp(hw_version(), "hwloc 2.", 8));
}

static void expect_load_error(const char *spec, const char *needle) {
  char err[512] = "";
  hw_topo *t = hw_topo_load(spec, err, sizeof err);
  if (t) {
    hw_topo_free(t);
    fail_msg("%s loaded, expected an error with '%s'", spec, needle);
  }
  if (!strstr(err, needle)) fail_msg("%s: error '%s' lacks '%s'", spec, err, needle);
}

static void test_bad_topologies(void **state) {
  (void)state;
  expect_load_error("synthetic:pack:2 bogus:3 pu:1",
                    "topology \"pack:2 bogus:3 pu:1\": not a valid hwloc synthetic description");
  expect_load_error("synthetic:", "needs a description");
  expect_load_error("synthetic:pack:0 pu:1", "not a valid hwloc synthetic description");
  expect_load_error("/nonexistent/machine.xml",
                    "topology /nonexistent/machine.xml: cannot open (No such file or directory)");
  expect_load_error("tests/bad_hw/garbage.xml",
                    "topology tests/bad_hw/garbage.xml: not a valid lstopo XML topology");
  expect_load_error("tests/bad_hw/empty.synth",
                    "topology tests/bad_hw/empty.synth: no synthetic description in the file");
  expect_load_error("tests/bad_hw/bad.synth",
                    "tests/bad_hw/bad.synth:3: \"pack:2 core:x pu:2\" is not a valid hwloc "
                    "synthetic description");
}

static void expect_plan_error(const char *topo, const char *placement, int m, int flags,
                              const char *needle) {
  hw_topo *t = load(topo);
  hw_plan p;
  char err[512] = "";
  int rc = hw_plan_make(t, placement, m, flags, &p, err, sizeof err);
  hw_topo_free(t);
  if (rc == 0) {
    hw_plan_free(&p);
    fail_msg("%s x %d on %s planned, expected an error with '%s'", placement, m, topo, needle);
  }
  if (!strstr(err, needle)) fail_msg("%s: error '%s' lacks '%s'", placement, err, needle);
  assert_null(p.slots);
}

static void test_impossible_placements(void **state) {
  (void)state;
  /* no numa level: hwloc invents one node, so numa would silently collapse */
  expect_plan_error("synthetic:pack:2 core:4 pu:1", "numa", 4, 0,
                    "placement 'numa' needs at least 2 NUMA nodes; synthetic \"pack:2 core:4 "
                    "pu:1\" has 1");
  expect_plan_error(THESIS, "numa:3", 4, 0, "placement 'numa:3' asks for 3 NUMA nodes; "
                                            "synthetic \"pack:2 numa:1 l3:1 core:8 pu:2\" has 2");
  expect_plan_error(THESIS, "list:1,99", 2, 0, "placement 'list:1,99': PU P#99 is not in the "
                                               "topology");
  expect_plan_error(THESIS, "list:1,1", 2, 0, "names PU 1 twice");
  expect_plan_error(THESIS, "list:", 2, 0, "names no PUs");
  expect_plan_error(THESIS, "list:1,a", 2, 0, "not a comma-separated list");
  expect_plan_error(THESIS, "numa:1", 2, 0, "K in numa:K must be a number of NUMA nodes >= 2");
  expect_plan_error(THESIS, "sideways", 2, 0, "unknown placement 'sideways'");
  expect_plan_error(THESIS, "uma", 0, 0, "at least one thread");
  expect_plan_error("synthetic:pack:1 numa:1 core:1 pu:2", "uma", 2, HW_PLAN_KEEP_CORE_FREE,
                    "keep_core_free: the topology has only 1 core");

  /* the same, run as the nearest equivalent and marked as such */
  hw_topo *t = load("synthetic:pack:1 numa:1 core:2 pu:1");
  hw_plan p;
  plan(t, "numa", 2, HW_PLAN_NEAREST, &p);
  assert_false(p.exact);
  assert_string_equal(p.policy, "uma");
  assert_non_null(strstr(p.note, "'numa' ran as uma: the topology has 1 NUMA node"));
  assert_int_equal(p.slots[0].pu_os, 0);
  assert_int_equal(p.slots[1].pu_os, 1);
  hw_plan_free(&p);
  hw_topo_free(t);
  t = load(THESIS);
  plan(t, "numa:4", 4, HW_PLAN_NEAREST, &p);
  assert_false(p.exact);
  assert_int_equal(p.slots[1].node, 1);
  hw_plan_free(&p);
  plan(t, "list:2,99", 2, HW_PLAN_NEAREST, &p);
  assert_false(p.exact);
  assert_int_equal(p.slots[0].pu_os, 2);
  assert_int_equal(p.slots[1].pu_os, 2);
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* Against a planning topology nothing is bound, and that is reported. */
static void test_no_binding_on_synthetic(void **state) {
  (void)state;
  hw_topo *t = load(THESIS);
  hw_plan p;
  plan(t, "uma", 2, 0, &p);
  int bound = 7;
  char err[512] = "";
  assert_int_equal(hw_bind_self(t, &p, 0, &bound, err, sizeof err), 0);
  assert_int_equal(bound, 0);
  char desc[160];
  assert_int_equal(hw_membind_shared(t, &p, 0, desc, sizeof desc, err, sizeof err), 0);
  assert_non_null(strstr(desc, "not bound"));
  assert_int_equal(hw_bind_self(t, &p, 5, &bound, err, sizeof err), -1);
  hw_plan_free(&p);
  hw_topo_free(t);
}

/* ---- real binding on this machine ---------------------------------------- */

typedef struct {
  const hw_topo *t;
  const hw_plan *p;
  int worker, rc, bound, pu_planned, off_pu; /* off_pu: samples not on the planned PU */
  char err[512];
  int *region;
} bind_job;

static void *bind_worker(void *arg) {
  bind_job *j = arg; /* no asserts here: cmocka cannot fail from a thread */
  j->rc = hw_bind_self(j->t, j->p, j->worker, &j->bound, j->err, sizeof j->err);
  j->pu_planned = j->p->slots[j->worker].pu_os;
  volatile double x = 0;
  for (int k = 0; k < 2000; k++) {
    for (int i = 0; i < 1000; i++) x += i * 0.5;
    if (sched_getcpu() != j->pu_planned) j->off_pu++;
    if (k % 100 == 0) sched_yield();
  }
  return NULL;
}

static void test_real_binding(void **state) {
  (void)state;
  hw_topo *t = load(NULL);
  assert_true(hw_topo_is_thissystem(t));
  cpu_set_t allowed;
  assert_int_equal(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if (hw_n_pus(t) < 2 || CPU_COUNT(&allowed) < 2) {
    hw_topo_free(t);
    skip();
  }
  hw_plan p;
  plan(t, "uma", 2, 0, &p);
  assert_int_not_equal(p.slots[0].pu_os, p.slots[1].pu_os);
  bind_job j[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    memset(&j[i], 0, sizeof j[i]);
    j[i].t = t;
    j[i].p = &p;
    j[i].worker = i;
    assert_int_equal(pthread_create(&th[i], NULL, bind_worker, &j[i]), 0);
  }
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < 2; i++) {
    if (j[i].rc) fail_msg("worker %d: %s", i, j[i].err);
    assert_int_equal(j[i].bound, 1);
    if (j[i].off_pu) fail_msg("worker %d ran %d of 2000 samples off P#%d", i, j[i].off_pu,
                              j[i].pu_planned);
  }
  /* memory: bind a buffer to worker 0's node, touch it */
  size_t len = 1 << 20;
  char *buf = aligned_alloc(4096, len);
  assert_non_null(buf);
  char err[512] = "";
  if (hw_bind_memory(t, &p, buf, len, 0, err, sizeof err)) fail_msg("%s", err);
  memset(buf, 1, len);
  if (hw_bind_memory(t, &p, buf, len, 1, err, sizeof err)) fail_msg("%s", err);
  free(buf);
  char desc[160];
  if (hw_membind_shared(t, &p, 0, desc, sizeof desc, err, sizeof err)) fail_msg("%s", err);
  assert_true(strlen(desc) > 0);
  assert_int_equal(hw_membind_default(t, err, sizeof err), 0);
  hw_plan_free(&p);
  hw_topo_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thesis_counts),
      cmocka_unit_test(test_thesis_uma),
      cmocka_unit_test(test_thesis_numa),
      cmocka_unit_test(test_thesis_intel_numbering),
      cmocka_unit_test(test_four_nodes),
      cmocka_unit_test(test_oversubscription_and_keep_free),
      cmocka_unit_test(test_reference_machines),
      cmocka_unit_test(test_xml_roundtrip),
      cmocka_unit_test(test_bad_topologies),
      cmocka_unit_test(test_impossible_placements),
      cmocka_unit_test(test_no_binding_on_synthetic),
      cmocka_unit_test(test_real_binding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
