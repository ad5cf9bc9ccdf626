#!/bin/sh
# tests/run.sh - runs every unit test binary (cmocka) and every integration
# script tests/it_*.sh, and ends with one line "N passed, N failed".
# A cmocka binary counts its test cases; a script counts its own checks by
# printing "ok NAME" / "not ok NAME" lines.
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
pass=0; fail=0
log=$(mktemp)
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  "$t" >"$log" 2>&1; rc=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"; cat "$log"
  else
    echo "ok   $name ($p tests)"
  fi
done
for s in tests/it_*.sh; do
  [ -f "$s" ] || continue
  name=$(basename "$s")
  sh "$s" >"$log" 2>&1; rc=$?
  p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
    echo "FAIL $name (exit $rc)"; cat "$log"
  else
    echo "ok   $name ($p checks)"
  fi
done
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
