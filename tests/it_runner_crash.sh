#!/bin/sh
# it_runner_crash.sh - issue 6, must show 3: a run whose child segfaults is
# recorded 'crashed' (with its partial rows deleted) and the sweep goes on; a
# hung run is killed at its wall-clock limit and recorded 'timeout';
# --retry-failed redoes exactly those two. Uses the runner's test hooks
# PSGD_TEST_CRASH_RUN / PSGD_TEST_HANG_RUN (core/runner.h).
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_crash.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
db=$tmp/c.db
cat > "$tmp/crash.cfg" <<'CFG'
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 0.6; epochs = 0.0; };
eval = { every_s = 0.2; };
sweep = { batch = [4, 8, 16]; };
CFG
. tests/lib_check.sh
q() { sqlite3 -batch -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$db" "$1"; }
key() { "$PSGD" list "$tmp/crash.cfg" --db "$db" | grep "^ *$1  " | awk '{print $2}'; }

PSGD_TEST_CRASH_RUN=0 PSGD_TEST_HANG_RUN=1 "$PSGD" run "$tmp/crash.cfg" --db "$db" --timeout 3 \
  > "$tmp/out" 2>&1; rc=$?
check crash_exit_status "$rc" 1
check crashed_recorded "$(q "SELECT status FROM runs WHERE key='$(key 0)'")" crashed
check crash_reason "$(q "SELECT COUNT(*) FROM runs WHERE status='crashed'") $(grep -c 'crashed in .*signal 11' "$tmp/out")" "1 1"
check timeout_recorded "$(q "SELECT status FROM runs WHERE key='$(key 1)'")" timeout
check sweep_went_on "$(q "SELECT status FROM runs WHERE key='$(key 2)'")" ok
check crashed_rows_deleted \
  "$(q "SELECT COUNT(*) FROM steps WHERE run_id IN (SELECT run_id FROM runs WHERE status IN ('crashed','timeout'))")" 0

# a plain re-run skips them (final statuses); --retry-failed redoes exactly those two
"$PSGD" run "$tmp/crash.cfg" --db "$db" > "$tmp/out2" 2>&1; rc=$?
check rerun_skips_failed "$rc $(grep -c '^run [0-9]' "$tmp/out2")" "0 0"
check rerun_says_failed_skipped \
  "$(grep -c '^2 runs recorded timeout or crashed before were skipped: redo with --retry-failed' "$tmp/out2")" 1
"$PSGD" run "$tmp/crash.cfg" --db "$db" --retry-failed > "$tmp/out3" 2>&1; rc=$?
check retry_failed "$rc $(grep -c '^run [0-9]' "$tmp/out3") $(q "SELECT COUNT(*) FROM runs WHERE status='ok'")" "0 2 3"
check one_row_per_key "$(q "SELECT COUNT(*) || ' ' || COUNT(DISTINCT key) FROM runs")" "3 3"
