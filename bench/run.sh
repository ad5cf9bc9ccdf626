#!/bin/sh
# bench/run.sh - runs every benchmark binary build/bench/bench_* in turn.
# Each prints its configuration first and then "bench: NAME VALUE UNIT" lines.
BUILD=${BUILD:-build}
export BUILD
rc=0
for b in "$BUILD"/bench/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" || rc=1
done
exit $rc
