#!/bin/sh
# bench/validate_vclock.sh - the virtual clock against real threads at m = 2
# on this machine (a benchmark: it prints a table, it never passes or fails
# on the numbers; exit 1 only if a run fails or a tool is missing).
#
# For one spec and seed (Fashion-MNIST, MLP 784-128-128-128-10, batch 16,
# momentum lr 0.005 mu 0.5; the synthetic set if Fashion-MNIST is absent),
# Async and interval y = 2, 4, 8 run at m = 2 once on the real clock (2
# threads pinned one per core, placement compact) and once on the virtual
# clock with step_time "measured", REPS repetitions each (seeds 1..REPS, the
# same for both clocks), through `psgd run` into a scratch database. From the
# recorded steps it prints, side by side:
#   1. acceptance rate and mean tau (accepted steps): median over the
#      repetitions [min..max], the ratio virtual / real of the medians and
#      whether it is within 15 %;
#   2. what the real runs were: "concurrent", the share of steps during
#      which the other worker finished a step (1 for two threads that really
#      run side by side, 0 for one running alone while the other is
#      preempted), and the median durations (t_end - t_start) of solo and
#      concurrent steps; against them the virtual runs' read-to-landing
#      durations (copy + gradient: the apply follows) and the calibration
#      (event step_time);
#   3. the load average before and after (uptime): real 2-thread runs on a
#      loaded 2-core machine are preempted, and their staleness is then made
#      by the scheduler's time slices, not by the algorithm.
#
# Usage: sh bench/validate_vclock.sh [REPS [STEPS]]   (default 3 and 10000;
#        about 1-3 minutes here). BUILD (default build) names the build dir;
#        KEEP=DIR keeps the database and experiment file in DIR; NICE=N runs
#        psgd under `nice -n N` (N < 0 needs root): at -20 each thread weighs
#        as much as 86 processes of nice 0, which shields it from a few busy
#        processes, not from a hundred (measured here at load 50: still
#        preempted).
set -u
BUILD=${BUILD:-build}
REPS=${1:-3}
STEPS=${2:-10000}
PSGD=$BUILD/psgd
EXT=$BUILD/psgd_steps
for f in "$PSGD" "$EXT.so"; do
  [ -e "$f" ] || { echo "validate_vclock: $f missing (make first)" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "validate_vclock: sqlite3 not found" >&2; exit 1; }
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-512}

if [ -n "${KEEP:-}" ]; then
  dir=$KEEP
  mkdir -p "$dir" || exit 1
  rm -f "$dir/validate.db"
else
  dir=$(mktemp -d "${TMPDIR:-/tmp}/validate_vclock.XXXXXX") || exit 1
  trap 'rm -rf "$dir"' EXIT
fi
db=$dir/validate.db
cfg=$dir/validate-vclock.cfg

dataset=fashion-mnist
fdir=${PSGD_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
[ -d "$fdir" ] || dataset=synthetic

cat >"$cfg" <<CFG
description = "virtual clock against real threads at m = 2 (bench/validate_vclock.sh)";
dataset = "$dataset"; model = "mlp"; hidden = [128, 128, 128];
optimizer = "momentum"; lr = 0.005; momentum = 0.5; batch = 16;
threads = 2; placement = "compact"; seed = 1; repeat = $REPS; record_steps = true;
eval = { every_s = 0.0; test_limit = 200; };
stop = { steps = $STEPS; epochs = 0.0; };
timeout = 300.0;
sweep = { clock = ["real", "virtual"]; };
variants = (
  { label = "Async"; algorithm = "async"; },
  { label = "interval y = 2"; algorithm = "interval"; y0 = 2; },
  { label = "interval y = 4"; algorithm = "interval"; y0 = 4; },
  { label = "interval y = 8"; algorithm = "interval"; y0 = 8; }
);
CFG

load_before=$(uptime | sed 's/.*load average: *//')
t_begin=$(date +%s)
echo "validate_vclock: m = 2, $dataset MLP 784-128-128-128-10 batch 16, $STEPS accepted steps per run,"
echo "  $REPS repetitions per clock, $(nproc) online CPUs ($(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo | head -1))"
echo "  load average before: $load_before"
if [ -n "${NICE:-}" ]; then
  echo "  psgd runs under nice -n $NICE"
  set -- nice -n "$NICE"
else
  set --
fi
if ! "$@" "$PSGD" run "$cfg" --db "$db" >"$dir/run.log" 2>&1; then
  echo "validate_vclock: psgd run failed:" >&2
  sed 's/^/  /' "$dir/run.log" >&2
  exit 1
fi
load_after=$(uptime | sed 's/.*load average: *//')

q() { sqlite3 -batch -readonly -cmd ".load $EXT" -separator ' ' "$db" "$1"; }

# per run: label clock rep accept tau, from the steps
q "SELECT replace(r.label, ' ', '_'), r.clock, r.repetition,
          avg(s.accepted), avg(CASE WHEN s.accepted THEN s.staleness END)
   FROM runs r JOIN steps s USING (run_id) WHERE r.status = 'ok'
   GROUP BY r.run_id ORDER BY r.run_id" >"$dir/per_run"
n_ok=$(wc -l <"$dir/per_run")
n_want=$((8 * REPS))
[ "$n_ok" -eq "$n_want" ] || { echo "validate_vclock: $n_ok of $n_want runs ok" >&2; exit 1; }

# medians [min..max] over repetitions: label clock metric median min max
stats() { # $1 = column (4 accept, 5 tau)
  for l in Async interval_y_=_2 interval_y_=_4 interval_y_=_8; do
    for c in real virtual; do
      awk -v l="$l" -v c="$c" -v k="$1" '$1 == l && $2 == c { print $k }' "$dir/per_run" | sort -g |
        awk -v l="$l" -v c="$c" '{ x[NR] = $1 } END {
          med = NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
          print l, c, med, x[1], x[NR] }'
    done
  done
}
stats 4 >"$dir/acc"
stats 5 >"$dir/tau"

echo
echo "acceptance rate and mean tau (accepted steps), median over $REPS repetitions [min..max]:"
printf '%-15s | %-25s %-25s %-7s %-5s | %-25s %-25s %-7s %-5s\n' "m = 2" "accept real" \
  "accept virtual" "v/r" "15%" "tau real" "tau virtual" "v/r" "15%"
for l in Async interval_y_=_2 interval_y_=_4 interval_y_=_8; do
  for f in acc tau; do
    awk -v l="$l" '$1 == l && $2 == "real" { r = $3; rl = $4; rh = $5 }
      $1 == l && $2 == "virtual" { v = $3; vl = $4; vh = $5 }
      END { ratio = r > 0 ? v / r : (v == 0 ? 1 : -1)
            ok = ratio >= 0.85 && ratio <= 1.15 ? "yes" : "no"
            printf "%.3f [%.3f..%.3f] | %.3f [%.3f..%.3f] | %s | %s\n", r, rl, rh, v, vl, vh,
                   ratio < 0 ? "inf" : sprintf("%.3f", ratio), ok }' "$dir/$f"
  done | awk -v l="$l" -F' [|] ' '{ a[NR] = $0; r[NR] = $1; v[NR] = $2; q[NR] = $3; o[NR] = $4 }
    END { lab = l; gsub(/_/, " ", lab)
          printf "%-15s | %-25s %-25s %-7s %-5s | %-25s %-25s %-7s %-5s\n", lab, r[1], v[1], q[1],
                 o[1], r[2], v[2], q[2], o[2] }'
done

# what the real runs were: how often the two threads overlapped, and what
# a step cost alone and next to the other thread
echo
echo "real runs: concurrent = share of steps during which the other worker finished a step"
echo "(two threads really running side by side: about 1; one thread running alone while the other"
echo "is preempted: 0), and the median step duration (us, read to end of apply) of the steps"
echo "without (solo) and with (concurrent) such a finish; virtual runs: median read-to-landing"
echo "(copy + gradient; the apply follows) and the calibration (median copy, gradient, apply of"
echo "min(m, cores) threads at once, robust sd):"
sqlite3 -batch -separator " " -cmd ".load $EXT" "$db" "
  CREATE TEMP TABLE rs AS SELECT s.run_id, s.worker, s.t_start_ns AS ts, s.t_end_ns AS te
    FROM steps s JOIN runs r USING (run_id) WHERE r.clock = 'real' AND r.status = 'ok';
  CREATE INDEX rs_end ON rs (run_id, worker, te);
  CREATE TEMP TABLE rc AS SELECT a.run_id, a.te - a.ts AS d,
    EXISTS (SELECT 1 FROM rs b WHERE b.run_id = a.run_id AND b.worker = 1 - a.worker
            AND b.te > a.ts AND b.te < a.te) AS conc FROM rs a;
  SELECT replace(r.label, ' ', '_'), rc.conc, rc.d FROM rc JOIN runs r USING (run_id);" |
  sort -k1,1 -k2,2n -k3,3n >"$dir/conc"
printf '%-15s | %-10s %-9s %-10s | %-20s %s\n' "m = 2" "concurrent" "solo us" "concur. us" \
  "virtual read..landed" "calibration per run: step us (copy grad apply: median+-sd us)"
for l in "Async" "interval y = 2" "interval y = 4" "interval y = 8"; do
  le=$(printf '%s' "$l" | sed "s/'/''/g")
  lu=$(printf '%s' "$l" | tr ' ' _)
  real=$(awk -v l="$lu" '$1 == l { n[$2]++; x[$2, n[$2]] = $3 }
    END { t = n[0] + n[1]
          m0 = n[0] ? x[0, int((n[0] + 1) / 2)] / 1e3 : 0
          m1 = n[1] ? x[1, int((n[1] + 1) / 2)] / 1e3 : 0
          printf "%.3f %.0f %.0f", t ? n[1] / t : 0, m0, m1 }' "$dir/conc")
  virt=$(q "SELECT (s.t_end_ns - s.t_start_ns) / 1e3 FROM steps s JOIN runs r USING (run_id)
            WHERE r.label = '$le' AND r.clock = 'virtual' AND r.status = 'ok'" | sort -g |
    awk '{ x[NR] = $1 } END { printf "%.0f [%.0f..%.0f]", x[int((NR + 1) / 2)], x[int(NR * 0.1) + 1], x[int(NR * 0.9)] }')
  cal=$(q "SELECT printf('%.0f', e.value), e.detail FROM events e JOIN runs r USING (run_id)
           WHERE r.label = '$le' AND r.clock = 'virtual' AND e.kind = 'step_time' ORDER BY r.run_id" |
    sed 's/; m 2:.*//' | awk '{ printf "%s%s (%s %s %s)", (NR > 1 ? "; " : ""), $1, $3, $5, $7 }')
  set -- $real
  printf '%-15s | %-10s %-9s %-10s | %-20s %s\n' "$l" "$1" "$2" "$3" "$virt" "$cal"
done
ncal=$(q "SELECT detail FROM events WHERE kind = 'step_time' LIMIT 1" | sed -n 's/.*; \([0-9]*\) threads$/\1/p')
echo "(calibration threads at once: ${ncal:-?})"
echo "load average before: $load_before; after: $load_after; $(( $(date +%s) - t_begin )) s"
echo "(the real runs measure the algorithm only where \"concurrent\" is near 1: below, one"
echo " thread ran alone while the other was preempted, and their tau was made by the scheduler)"
