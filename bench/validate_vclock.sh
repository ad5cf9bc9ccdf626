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
#   2. what the real runs were: step durations (t_end - t_start, median and
#      p10..p90; real: read to the end of the apply) against the virtual
#      runs' (read to the instant the update lands: copy + gradient, the
#      apply follows) and the calibration (event step_time: median copy,
#      gradient, apply of min(m, cores) threads at once, robust spread);
#      the share of steps longer than 3x the
#      run's median (preempted: the OS took the thread away mid-step) and
#      "both running", the share of the run's wall time in which both
#      workers were inside a step that was not preempted (1.0 = two really
#      concurrent threads);
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

# what the real runs were: durations, preemption, both-running share
echo
echo "step durations (us; median [p10..p90] over all repetitions' steps), preempted steps (> 3x"
echo "the run's median) and both running (share of wall time with both workers in a step that"
echo "was not preempted; real runs), and the calibrated model (virtual runs' event step_time):"
printf '%-15s | %-24s %-10s %-8s | %-24s %s\n' "m = 2" "real read..applied" "preempted" "both run" \
  "virtual read..landed" "calibration per run: step us (copy grad apply: median+-sd us)"
for l in "Async" "interval y = 2" "interval y = 4" "interval y = 8"; do
  le=$(printf '%s' "$l" | sed "s/'/''/g")
  real=$(q "SELECT s.run_id, s.worker, s.t_start_ns, s.t_end_ns FROM steps s JOIN runs r USING (run_id)
            WHERE r.label = '$le' AND r.clock = 'real' AND r.status = 'ok'" |
    awk '{ d = ($4 - $3) / 1e3; print $1, $2, $3, $4, d }' | sort -k1,1n -k3,3n |
    awk '
      function flush(   i, n, med, k, t, cnt, both, last, lo, hi, wall) {
        if (!nr) return
        n = nr
        for (i = 1; i <= n; i++) srt[i] = dur[i]
        asort_(srt, n)
        med = srt[int((n + 1) / 2)]
        # both running: sweep over the non-preempted steps of both workers
        k = 0
        for (i = 1; i <= n; i++) {
          if (dur[i] > 3 * med) { pre++; continue }
          ev[++k] = ts[i] " 1"; ev[++k] = te[i] " -1"
        }
        tot += n
        sortev(k)
        cnt = 0; both = 0; last = 0
        for (i = 1; i <= k; i++) {
          split(ev[i], p, " ")
          if (cnt >= 2) both += p[1] - last
          cnt += p[2]; last = p[1]
        }
        lo = ts[1]; hi = te[1]
        for (i = 1; i <= n; i++) { if (ts[i] < lo) lo = ts[i]; if (te[i] > hi) hi = te[i] }
        wall = hi - lo
        bsum += wall > 0 ? both / wall : 0; nrun++
        nr = 0
      }
      # insertion sorts would be quadratic: a heap sort on numbers / event strings
      function asort_(a, n,   i, t, end) {
        for (i = int(n / 2); i >= 1; i--) sift(a, i, n)
        for (end = n; end > 1; end--) { t = a[1]; a[1] = a[end]; a[end] = t; sift(a, 1, end - 1) }
      }
      function sift(a, i, n,   c, t) {
        while ((c = 2 * i) <= n) {
          if (c < n && a[c + 1] + 0 > a[c] + 0) c++
          if (a[i] + 0 >= a[c] + 0) break
          t = a[i]; a[i] = a[c]; a[c] = t; i = c
        }
      }
      function sortev(n,   i, t, end) {
        for (i = 1; i <= n; i++) { split(ev[i], p, " "); key[i] = p[1] + (p[2] < 0 ? 0 : 0.5) }
        for (i = int(n / 2); i >= 1; i--) sifte(i, n)
        for (end = n; end > 1; end--) { swp(1, end); sifte(1, end - 1) }
      }
      function swp(i, j,   t) { t = ev[i]; ev[i] = ev[j]; ev[j] = t; t = key[i]; key[i] = key[j]; key[j] = t }
      function sifte(i, n,   c) {
        while ((c = 2 * i) <= n) {
          if (c < n && key[c + 1] > key[c]) c++
          if (key[i] >= key[c]) break
          swp(i, c); i = c
        }
      }
      $1 != run { flush(); run = $1 }
      { nr++; ts[nr] = $3; te[nr] = $4; dur[nr] = $5; all[++na] = $5 }
      END {
        flush()
        asort_(all, na)
        printf "%.0f [%.0f..%.0f] %.1f%% %.2f\n", all[int((na + 1) / 2)], all[int(na * 0.1) + 1],
               all[int(na * 0.9)], 100 * pre / tot, bsum / nrun
      }')
  virt=$(q "SELECT (s.t_end_ns - s.t_start_ns) / 1e3 FROM steps s JOIN runs r USING (run_id)
            WHERE r.label = '$le' AND r.clock = 'virtual' AND r.status = 'ok'" | sort -g |
    awk '{ x[NR] = $1 } END { printf "%.0f [%.0f..%.0f]", x[int((NR + 1) / 2)], x[int(NR * 0.1) + 1], x[int(NR * 0.9)] }')
  cal=$(q "SELECT printf('%.0f', e.value), e.detail FROM events e JOIN runs r USING (run_id)
           WHERE r.label = '$le' AND r.clock = 'virtual' AND e.kind = 'step_time' ORDER BY r.run_id" |
    sed 's/; m 2:.*//' | awk '{ printf "%s%s (%s %s %s)", (NR > 1 ? "; " : ""), $1, $3, $5, $7 }')
  set -- $real
  printf '%-15s | %-24s %-10s %-8s | %-24s %s\n' "$l" "$1 $2" "$3" "$4" "$virt" "$cal"
done
echo
echo "load average before: $load_before; after: $load_after; $(( $(date +%s) - t_begin )) s"
echo "(the real runs measure the algorithm only where \"both run\" is near 1: below, one thread"
echo " was preempted while the other ran, and their tau was made by the scheduler's time slices)"
