#!/bin/sh
# it_concurrent.sh - several `psgd run` on one database. Two sweeps of the
# same file started 0.5 s apart: every run finishes exactly once (one row per
# key, all ok, each run executed by exactly one of them, its evals kept) and
# both exit 0. A 'running' row whose claimer is gone (process dead, or its
# pid reused by another process: other start time) is redone; one whose
# claimer lives is waited for and never touched, and redone once if that
# claimer dies. The database is checked (integrity, contents) after each case.
# A database deleted or replaced during a sweep (at any moment, also between
# the runner's identity check and its open) stops it with that message.
PSGD=${PSGD:-build/psgd}
tmp=$(mktemp -d /tmp/psgd_it_conc.XXXXXX) || exit 1
p1= p2= holder=
trap 'for p in $p1 $p2 $holder; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
db=$tmp/c.db
cat > "$tmp/conc.cfg" <<'CFG'
description = "tiny sweep for the concurrent-runners test";
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 0.8; epochs = 0.0; };
timeout = 30.0;
eval = { every_s = 0.2; };
sweep = { batch = [4, 8, 16, 32]; };
CFG
. tests/lib_check.sh
q() { sqlite3 -batch "$db" "$1"; }
integrity() { check "$1_integrity" "$(q 'PRAGMA integrity_check')" ok; }
# started runs: lines "run k/n [i] KEY ..." followed by an outcome line "  -> STATUS"
ran() { grep -c '^  -> ok' "$1"; }

# 1. two sweeps of the same file, 0.5 s apart
t0=$(date +%s.%N)
"$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/a" 2>&1 & p1=$!
sleep 0.5
"$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/b" 2>&1 & p2=$!
wait "$p1"; rc1=$?; p1=
wait "$p2"; rc2=$?; p2=
t1=$(date +%s.%N)
check two_sweeps_exit "$rc1 $rc2" "0 0"
check two_sweeps_one_row_per_key "$(q "SELECT COUNT(*) || ' ' || COUNT(DISTINCT key) || ' ' ||
  SUM(status = 'ok') FROM runs")" "4 4 4"
na=$(ran "$tmp/a") nb=$(ran "$tmp/b")
check two_sweeps_each_run_once "$((na + nb))" 4
check two_sweeps_both_worked "$([ "$na" -ge 1 ] && [ "$nb" -ge 1 ] && echo yes)" yes
check two_sweeps_second_says_why "$(grep -c 'not run here (finished by another' "$tmp/b")" \
  "$((4 - nb))"
check two_sweeps_evals_kept "$(q "SELECT COUNT(DISTINCT run_id) FROM evals")" 4
check two_sweeps_no_orphans "$(q "SELECT COUNT(*) FROM evals WHERE run_id NOT IN (SELECT run_id FROM runs)")" 0
integrity two_sweeps
echo "# two sweeps 0.5 s apart: first ran $na, second ran $nb, exit $rc1 $rc2," \
  "$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s in all"
sed 's/^/#   a: /' "$tmp/a"
sed 's/^/#   b: /' "$tmp/b"

# 2. a 'running' row of a dead claimer (and one of a reused pid) is redone
k0=$(q "SELECT key FROM runs ORDER BY run_id LIMIT 1")
k1=$(q "SELECT key FROM runs ORDER BY run_id LIMIT 1 OFFSET 1")
sleep 0.1 & dead=$!; wait $dead
boot=$(cat /proc/sys/kernel/random/boot_id)
q "UPDATE runs SET status='running', pid=$dead, claim='$boot $dead 1' WHERE key='$k0';
   UPDATE runs SET status='running', pid=$$, claim='$boot $$ 1' WHERE key='$k1'"
"$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/c" 2>&1; rc=$?
check dead_claimer_redone "$rc $(ran "$tmp/c") $(grep -c 'is gone' "$tmp/c")" "0 2 2"
check dead_claimer_rows "$(q "SELECT COUNT(*) || ' ' || SUM(status = 'ok') FROM runs")" "4 4"
integrity dead_claimer

# 3. a live claimer's row is not touched; the sweep waits, and redoes it
#    once when that claimer dies
sleep 60 & holder=$!
start=$(awk '{sub(/.*\) /, ""); print $20}' /proc/$holder/stat)
q "UPDATE runs SET status='running', pid=$holder, claim='$boot $holder $start' WHERE key='$k0'"
id0=$(q "SELECT run_id FROM runs WHERE key='$k0'")
"$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/d" 2>&1 & p1=$!
# until the sweep has reached the claimed run and said so (a sanitizer build
# can take seconds to get there; a fixed sleep made this check flaky), 60 s
# at most: the other runs are done by then, only the claimed one is left
i=0
while [ $i -lt 600 ] && ! grep -q 'being run by pid '"$holder" "$tmp/d" && kill -0 $p1 2>/dev/null; do
  sleep 0.1; i=$((i + 1))
done
sleep 0.5
check live_claimer_untouched "$(q "SELECT run_id || ' ' || status || ' ' || pid FROM runs WHERE key='$k0'")" \
  "$id0 running $holder"
check live_claimer_waits "$(grep -c 'being run by pid '"$holder" "$tmp/d") $(kill -0 $p1 2>/dev/null && echo waiting)" \
  "1 waiting"
kill -9 $holder; wait $holder 2>/dev/null; holder=
wait "$p1"; rc=$?; p1=
check live_claimer_redone_once "$rc $(ran "$tmp/d")" "0 1"
check live_claimer_rows "$(q "SELECT COUNT(*) || ' ' || SUM(status = 'ok') FROM runs")" "4 4"
integrity live_claimer

# 4. the database deleted, or replaced by another file, during a sweep: the
#    sweep stops with an error, exit 1, and records nothing into a new file
for how in deleted replaced; do
  db=$tmp/$how.db
  "$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/$how" 2>&1 & p1=$!
  # until the first run is recorded (60 s at most: a loaded machine or a
  # sanitizer build is slow to get there)
  i=0
  while [ $i -lt 600 ] && [ "$(q "SELECT COUNT(*) FROM runs WHERE status='ok'" 2>/dev/null)" != 1 ]; do
    sleep 0.1; i=$((i + 1))
  done
  if [ $how = deleted ]; then
    rm -f "$db" "$db-wal" "$db-shm"
  else
    cp "$tmp/c.db" "$tmp/other.db"; mv "$tmp/other.db" "$db"; rm -f "$db-wal" "$db-shm"
  fi
  wait "$p1"; rc=$?; p1=
  check db_${how}_stops "$rc $(grep -c 'the database was deleted or replaced during the sweep' "$tmp/$how")" "1 1"
  if [ $how = deleted ]; then
    check db_deleted_not_recreated "$([ -e "$db" ] && echo exists || echo absent)" absent
  else
    check db_replaced_untouched "$(q "SELECT COUNT(*) || ' ' || SUM(status = 'ok') FROM runs")" "4 4"
    integrity db_replaced
  fi
done

# 5. the same, deleted in the window between the runner's identity check and
#    its next open (PSGD_TEST_VANISH_RUN): the open fails first, and must say
#    that the database was deleted, not only that the file does not exist
db=$tmp/vanish.db
PSGD_TEST_VANISH_RUN=1 "$PSGD" run "$tmp/conc.cfg" --db "$db" > "$tmp/vanish" 2>&1; rc=$?
check db_vanished_at_open_stops "$rc $(grep -c 'the database was deleted or replaced during the sweep' "$tmp/vanish") $(grep -c '^  -> ok' "$tmp/vanish")" "1 1 1"
check db_vanished_not_recreated "$([ -e "$db" ] && echo exists || echo absent)" absent
