/* test_common.c - error helper, aligned allocation, PRNG determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common.h"
#include "steprec.h"

static void test_err_formats_and_returns_minus_one(void **state) {
  (void)state;
  char buf[32];
  assert_int_equal(psgd_err(buf, sizeof buf, "%s:%d: bad", "f.cfg", 12), -1);
  assert_string_equal(buf, "f.cfg:12: bad");
  assert_int_equal(psgd_err(NULL, 0, "ignored"), -1);
}

static void test_alloc_is_aligned(void **state) {
  (void)state;
  for (size_t n = 1; n < 5000; n += 333) {
    float *p = psgd_calloc(n * sizeof(float));
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % PSGD_ALIGN, 0);
    for (size_t i = 0; i < n; i++) assert_true(p[i] == 0.0f);
    psgd_free(p);
  }
  psgd_free(NULL);
  assert_int_equal(psgd_align_floats(1), 16);
  assert_int_equal(psgd_align_floats(16), 16);
  assert_int_equal(psgd_align_floats(17), 32);
}

static void test_rng_deterministic_and_in_range(void **state) {
  (void)state;
  psgd_rng a, b, c;
  psgd_rng_seed(&a, 42);
  psgd_rng_seed(&b, 42);
  psgd_rng_seed(&c, 43);
  int differ = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = psgd_rng_next(&a), y = psgd_rng_next(&b), z = psgd_rng_next(&c);
    assert_true(x == y);
    differ += x != z;
  }
  assert_true(differ > 990);
  double sum = 0;
  for (int i = 0; i < 10000; i++) {
    double u = psgd_rng_uniform(&a);
    assert_true(u >= 0.0 && u < 1.0);
    assert_true(psgd_rng_below(&a, 7) < 7);
    sum += u;
  }
  assert_true(sum / 10000 > 0.45 && sum / 10000 < 0.55);
}

static void test_status_names(void **state) {
  (void)state;
  assert_string_equal(run_status_name(RUN_OK), "ok");
  assert_string_equal(run_status_name(RUN_CRASHED), "crashed");
  assert_string_equal(run_status_name(RUN_INTERRUPTED), "interrupted");
  assert_string_equal(run_status_name((run_status)99), "unknown");
}

static void test_clock_monotonic(void **state) {
  (void)state;
  uint64_t a = psgd_now_ns(), b = psgd_now_ns();
  assert_true(b >= a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_err_formats_and_returns_minus_one),
      cmocka_unit_test(test_alloc_is_aligned),
      cmocka_unit_test(test_rng_deterministic_and_in_range),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_clock_monotonic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
