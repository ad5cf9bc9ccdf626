#!/bin/sh
# it_runner_resume.sh - issue 6, must show 2: a sweep stopped by SIGINT and
# then by SIGKILL of the runner resumes; at the end every run key has exactly
# one row, finished, and no steps/evals/events row belongs to anything else.
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_resume.XXXXXX) || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
db=$tmp/r.db
cat > "$tmp/resume.cfg" <<'CFG'
description = "tiny sweep for the resume test";
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 1.0; epochs = 0.0; };
timeout = 30.0;
eval = { every_s = 0.25; };
sweep = { batch = [4, 8, 16, 32]; };
CFG
. tests/lib_check.sh
q() { sqlite3 -batch -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$db" "$1"; }
# waits (up to 20 s) until the database shows a run in progress after $1 finished ones
wait_running() {
  i=0
  while [ $i -lt 200 ]; do
    f=$(q "SELECT COUNT(*) FROM runs WHERE status='ok'" 2>/dev/null)
    r=$(q "SELECT COUNT(*) FROM runs WHERE status='running'" 2>/dev/null)
    [ "${f:-0}" -ge "$1" ] && [ "${r:-0}" -ge 1 ] && return 0
    sleep 0.1; i=$((i + 1))
  done
  return 1
}
n_runs=$("$PSGD" list "$tmp/resume.cfg" --db "$db" | grep -c '^ *[0-9]\+  [0-9a-f]\{16\} ')
check list_runs "$n_runs" 4

# 1. SIGINT while the second run is going: it is recorded 'interrupted', its rows deleted
"$PSGD" run "$tmp/resume.cfg" --db "$db" > "$tmp/out1" 2>&1 &
pid=$!
wait_running 1 && sleep 0.3
kill -INT "$pid"; wait "$pid"; rc=$?; pid=
check sigint_exit_status "$rc" 130
check sigint_marks_interrupted "$(q "SELECT COUNT(*) FROM runs WHERE status='interrupted'")" 1
check sigint_deletes_partial_steps \
  "$(q "SELECT COUNT(*) FROM steps WHERE run_id IN (SELECT run_id FROM runs WHERE status<>'ok')")" 0

# 2. SIGKILL of the runner mid-run: its child dies with it; the row stays 'running'
"$PSGD" run "$tmp/resume.cfg" --db "$db" > "$tmp/out2" 2>&1 &
pid=$!
wait_running 2 && sleep 0.3
kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=
# the child gets SIGKILL from the kernel when the runner dies; under load its
# exit can take longer than a fixed sleep, so poll (10 s at most)
i=0
while [ $i -lt 100 ] && [ "$(ps -eo args | grep -c "[r]un $tmp/resume.cfg")" != 0 ]; do
  sleep 0.1; i=$((i + 1))
done
left=$(ps -eo args | grep -c "[r]un $tmp/resume.cfg")
check sigkill_takes_child "$left" 0
check sigkill_leaves_running "$(q "SELECT COUNT(*) FROM runs WHERE status='running'")" 1

# 3. resume: only unfinished runs are redone
"$PSGD" run "$tmp/resume.cfg" --db "$db" > "$tmp/out3" 2>&1; rc=$?
check resume_exit_status "$rc" 0
check resume_skips_finished "$(grep -c '^run [0-9]' "$tmp/out3")" 2
check one_row_per_key "$(q "SELECT COUNT(*) || ' ' || COUNT(DISTINCT key) FROM runs")" "4 4"
check all_ok "$(q "SELECT COUNT(*) FROM runs WHERE status='ok'")" 4
keys_db=$(q "SELECT key FROM runs ORDER BY key" | tr '\n' ' ')
keys_cfg=$("$PSGD" list "$tmp/resume.cfg" --db "$db" | grep '^ *[0-9]\+  [0-9a-f]\{16\} ' | awk '{print $2}' | sort | tr '\n' ' ')
check keys_match_list "$keys_db" "$keys_cfg"
for t in steps evals events; do
  check "no_orphan_$t" "$(q "SELECT COUNT(*) FROM $t WHERE run_id NOT IN (SELECT run_id FROM runs)")" 0
done
check every_run_has_steps "$(q "SELECT COUNT(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = r.run_id)")" 0
check integrity "$(q "PRAGMA integrity_check")" ok
