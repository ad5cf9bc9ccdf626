/* test_spec.c - run spec defaults, canonical JSON and key stability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "spec.h"

static void test_key_is_stable_and_sensitive(void **state) {
  (void)state;
  run_spec a, b;
  spec_default(&a);
  spec_default(&b);
  char ka[17], kb[17];
  spec_key(&a, ka);
  spec_key(&b, kb);
  assert_string_equal(ka, kb);
  assert_int_equal(strlen(ka), 16);
  b.repetition = 1;
  spec_key(&b, kb);
  assert_string_not_equal(ka, kb);
  b.repetition = 0;
  b.lr = 0.0050000001;
  spec_key(&b, kb);
  assert_string_not_equal(ka, kb);
}

static void test_json_escapes_and_overflow(void **state) {
  (void)state;
  run_spec s;
  spec_default(&s);
  strcpy(s.label, "a\"b\\c");
  char buf[8192];
  int n = spec_to_json(&s, buf, sizeof buf);
  assert_true(n > 0);
  assert_non_null(strstr(buf, "\"label\":\"a\\\"b\\\\c\""));
  assert_non_null(strstr(buf, "\"hidden\":[128,128,128]"));
  assert_int_equal(buf[0], '{');
  assert_int_equal(buf[n - 1], '}');
  char small[40];
  assert_int_equal(spec_to_json(&s, small, sizeof small), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_is_stable_and_sensitive),
      cmocka_unit_test(test_json_escapes_and_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
