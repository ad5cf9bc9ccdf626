#!/bin/sh
# tests/run.sh - runs every unit test binary (cmocka) and every integration
# script tests/it_*.sh, and ends with one line "N passed, N failed, N skipped".
# A cmocka binary counts its test cases (a skip() counts as skipped); a script
# counts its own checks by printing "ok NAME" / "not ok NAME" / "skip NAME
# (reason)" lines.
# Under CI (CI=true, or PSGD_NO_SKIP=1) a skipped test is a failure: CI's
# machine has the bundled data and more than one PU, so a skip there means
# that something the suite needs is missing.
BUILD=${BUILD:-build}
export BUILD
export PSGD="$BUILD/psgd"
# the sqlite3 shell reads the steps view through this extension (rec_steps.h)
export PSGD_STEPS_EXT="$BUILD/psgd_steps"
if [ -f tests/tsan.supp ]; then
  export TSAN_OPTIONS="suppressions=$(pwd)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1"
fi
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pass=0; fail=0; skipped=0
skipnote() { [ "$1" -ne 0 ] && printf ", %s skipped" "$1"; }
strict=0
case "${CI:-}${PSGD_NO_SKIP:-}" in ""|false|0) ;; *) strict=1 ;; esac
log=$(mktemp)
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  "$t" >"$log" 2>&1; rc=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  k=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$strict" = 1 ] && [ "$k" -ne 0 ]; then
    echo "FAIL $name: $k test(s) skipped, and CI must run every test:"
    grep -i 'skip' "$log" | sed 's/^/    /'
    f=$((f + k)); k=0
  fi
  skipped=$((skipped + k))
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"; cat "$log"
  else
    echo "ok   $name ($p tests$(skipnote "$k"))"
  fi
done
for s in tests/it_*.sh; do
  [ -f "$s" ] || continue
  name=$(basename "$s")
  sh "$s" >"$log" 2>&1; rc=$?
  p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); k=$(grep -c '^skip ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$strict" = 1 ] && [ "$k" -ne 0 ]; then
    echo "FAIL $name: $k check(s) skipped, and CI must run every check:"
    grep '^skip ' "$log" | sed 's/^/    /'
    f=$((f + k)); k=0
  fi
  skipped=$((skipped + k))
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"; cat "$log"
  else
    echo "ok   $name ($p checks$(skipnote "$k"))"
  fi
done
rm -f "$log"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
