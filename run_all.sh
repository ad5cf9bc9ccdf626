#!/bin/sh
# run_all.sh - runs every experiment file, then every figure; resumable.
#
#   ./run_all.sh [--scale quick|quick-real|paper] [--db PATH] [--timeout S] [--retry-failed]
#                [--dry-run] [--no-figures]
#   ./run_all.sh --slurm [--scale S] [--db PATH] [--partition P] [--runs-per-task N]
#                [--cores N] [--dry-run]
#
# Experiments: experiments/*.cfg, except base.cfg, files whose name starts
# with '_', files that another experiment file @includes (shared fragments),
# and files containing the line "# psgd: not-an-experiment". Each one runs
# with `psgd run FILE --scale S --db PATH`; runs already finished in the
# database are skipped, so running this again resumes where it stopped.
# Figures: `make figures SCALE=S DB=PATH` when plots/figures.mk defines it.
# Then the report: `make report DB=PATH` (results/report/index.html and .pdf).
# Ends with a summary of what ran, was skipped, failed, and the total time.
# --slurm: instead of running, submits each experiment as a Slurm job array
# with `psgd slurm FILE --submit` (what is finished in PATH or its shards is
# not submitted again); each experiment's merge job also waits for the
# previous one, so merges into PATH never overlap. --cores N: the CPUs of one
# compute node (psgd slurm --help). --dry-run only writes the job scripts.
# Figures and report: `make figures`, `make report` once the merge jobs are done.
# Exit status: 0 all good, 1 something failed, 130 interrupted.
set -u
cd "$(dirname "$0")" || exit 1

scale=quick
db=results/results.db
timeout=
retry=
dry=
figures=1
slurm=
partition=
per_task=
cores=
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=${2:?--scale needs a scale name (quick, quick-real or paper)}; shift 2 ;;
    --scale=*) scale=${1#--scale=}; shift ;;
    --db) db=${2:?--db needs a path}; shift 2 ;;
    --db=*) db=${1#--db=}; shift ;;
    --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --timeout=*) timeout=${1#--timeout=}; shift ;;
    --retry-failed) retry=--retry-failed; shift ;;
    --dry-run) dry=--dry-run; shift ;;
    --no-figures) figures=0; shift ;;
    --slurm) slurm=1; shift ;;
    --partition) partition=${2:?--partition needs a name}; shift 2 ;;
    --partition=*) partition=${1#--partition=}; shift ;;
    --runs-per-task) per_task=${2:?--runs-per-task needs a number}; shift 2 ;;
    --runs-per-task=*) per_task=${1#--runs-per-task=}; shift ;;
    --cores) cores=${2:?--cores needs a number}; shift 2 ;;
    --cores=*) cores=${1#--cores=}; shift ;;
    -h|--help) sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "$slurm" ] && { [ -n "$timeout" ] || [ -n "$retry" ]; }; then
  echo "run_all.sh: --timeout and --retry-failed are not supported with --slurm" >&2; exit 2
fi
if [ -z "$slurm" ] && { [ -n "$partition" ] || [ -n "$per_task" ] || [ -n "$cores" ]; }; then
  echo "run_all.sh: --partition, --runs-per-task and --cores go with --slurm" >&2; exit 2
fi

# PSGD may name a prebuilt binary (tests do); otherwise build it
if [ -z "${PSGD:-}" ]; then
  PSGD=${BUILD:-build}/psgd
  if ! make -s "$PSGD" >/dev/null; then
    echo "run_all.sh: building $PSGD failed" >&2
    exit 1
  fi
fi

now() { date +%s; }
dur() { s=$1; if [ "$s" -ge 3600 ]; then printf '%dh%02dm' $((s / 3600)) $((s / 60 % 60));
        elif [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60));
        else printf '%ds' "$s"; fi; }

# Files another experiment file includes are fragments, not experiments.
included=$(sed -n 's/^[ 	]*@include[ 	]*"\([^"]*\)".*/\1/p' experiments/*.cfg 2>/dev/null |
           sed 's|.*/||' | sort -u)
is_experiment() {
  f=$1; b=$(basename "$f")
  case "$b" in base.cfg|_*) return 1 ;; esac
  for i in $included; do [ "$i" = "$b" ] && return 1; done
  grep -q '^# psgd: not-an-experiment' "$f" && return 1
  return 0
}

interrupted=0
trap 'interrupted=1' INT TERM HUP
t_start=$(now)
summary=$(mktemp)
n_exp=0; n_fail=0
after=
for f in experiments/*.cfg; do
  [ -f "$f" ] || continue
  if ! is_experiment "$f"; then
    printf '%-24s %s\n' "$(basename "$f" .cfg)" "not an experiment (base, fragment or marked): skipped" >> "$summary"
    continue
  fi
  [ "$interrupted" = 1 ] && break
  n_exp=$((n_exp + 1))
  name=$(basename "$f" .cfg)
  echo "== $name ($f, scale $scale)"
  if [ -n "$slurm" ]; then
    # shellcheck disable=SC2086  # the optional flags are single words or empty
    out=$("$PSGD" slurm "$f" --scale "$scale" --db "$db" ${partition:+--partition "$partition"} \
          ${per_task:+--runs-per-task "$per_task"} ${cores:+--cores "$cores"} ${after:+--after "$after"} \
          $( [ -z "$dry" ] && echo --submit) 2>&1)
    rc=$?
    echo "$out"
    m=$(echo "$out" | sed -n 's/.*submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\2/p')
    a=$(echo "$out" | sed -n 's/.*submitted array job \([0-9]*\) and merge job.*/\1/p')
    [ -n "$m" ] && after=$m
    if [ "$rc" != 0 ]; then st="FAILED (exit $rc)"; n_fail=$((n_fail + 1))
    elif [ -n "$m" ]; then st="submitted: array job $a, merge job $m"
    elif echo "$out" | grep -q 'nothing to submit'; then st="nothing to submit (all finished)"
    else st="job scripts written (--dry-run): $(echo "$out" | sed -n 's/.*submit with: //p')"; fi
    printf '%-24s %s\n' "$name" "$st" >> "$summary"
    continue
  fi
  before=$("$PSGD" list "$f" --scale "$scale" --db "$db" 2>/dev/null | tail -n 1)
  skipped=$(echo "$before" | sed -n 's/.*; \([0-9]*\) finished, .*/\1/p')
  t0=$(now)
  # psgd writes to the terminal itself (its progress line needs a tty)
  # shellcheck disable=SC2086  # the optional flags are single words or empty
  "$PSGD" run "$f" --scale "$scale" --db "$db" ${timeout:+--timeout "$timeout"} $retry $dry
  rc=$?
  t=$(( $(now) - t0 ))
  case $rc in
    0) st=ok ;;
    1) st="some runs failed"; n_fail=$((n_fail + 1)) ;;
    130) st=interrupted; interrupted=1 ;;
    *) st="FAILED (exit $rc)"; n_fail=$((n_fail + 1)) ;;
  esac
  # the database's view of this experiment: "N runs selected of M: a ok, ...; K finished, ..."
  after=$("$PSGD" list "$f" --scale "$scale" --db "$db" 2>/dev/null | tail -n 1)
  counts=$(echo "$after" | sed -n 's/^[0-9]* runs selected of [0-9]*[^:;]*: \([^;]*\);.*/\1/p')
  left=$(echo "$after" | sed -n 's/.*finished, \([0-9]*\) to run.*/\1/p')
  if [ "$rc" = 2 ]; then
    printf '%-24s %s\n' "$name" "$st: see the message above; nothing ran" >> "$summary"
    continue
  fi
  printf '%-24s %-18s %-8s skipped %s (finished before), now: %s%s\n' "$name" "$st" "$(dur "$t")" \
    "${skipped:-?}" "${counts:-no runs recorded}" "$( [ "${left:-0}" != 0 ] && echo ", $left left")" >> "$summary"
done

fig_status="skipped (--no-figures)"
[ -n "$slurm" ] && figures=0 && fig_status="not made with --slurm: once the merge jobs are done, make figures SCALE=$scale DB=$db"
[ "$interrupted" = 1 ] && fig_status="skipped (interrupted)"
if [ "$figures" = 1 ] && [ "$interrupted" = 0 ]; then
  if [ -n "$dry" ]; then
    fig_status="skipped (--dry-run)"
  elif [ -f plots/figures.mk ] && make -n figures SCALE="$scale" DB="$db" >/dev/null 2>&1; then
    echo "== figures (make figures SCALE=$scale DB=$db)"
    t0=$(now)
    if make figures SCALE="$scale" DB="$db"; then fig_status="ok"
    else fig_status="FAILED"; n_fail=$((n_fail + 1)); fi
    fig_status="$fig_status in $(dur $(( $(now) - t0 )))"
  else
    fig_status="skipped (no 'figures' target in plots/figures.mk yet)"
  fi
fi

# The report: one page with every figure, claim and verdict (plots/mk/report.mk).
rep_status="skipped (interrupted)"
if [ "$interrupted" = 0 ]; then
  if [ -n "$slurm" ]; then
    rep_status="not made with --slurm: once the merge jobs are done, make report DB=$db"
  elif [ -n "$dry" ]; then
    rep_status="skipped (--dry-run)"
  elif [ -f plots/mk/report.mk ]; then
    echo "== report (make report DB=$db)"
    if make report DB="$db"; then rep_status="ok: results/report/index.html and report.pdf"
    else rep_status="FAILED"; n_fail=$((n_fail + 1)); fi
  else
    rep_status="skipped (no plots/mk/report.mk)"
  fi
fi

total=$(( $(now) - t_start ))
echo
echo "== summary: scale $scale, database $db, total $(dur "$total")"
[ "$n_exp" = 0 ] && echo "no experiment files in experiments/"
cat "$summary"
echo "figures: $fig_status"
echo "report: $rep_status"
[ "$interrupted" = 1 ] && echo "INTERRUPTED: run ./run_all.sh again to resume"
rm -f "$summary"
if [ "$interrupted" = 1 ]; then exit 130; fi
[ "$n_fail" = 0 ]
