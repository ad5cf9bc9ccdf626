#!/bin/sh
# plots/db.sh - the one way the figure scripts (plots/*.gp through
# plots/db.gp, plots/thesis-table4-3.sh) and the report (plots/report.sh)
# reach results.db: sqlite3 in batch, read-only mode with one busy timeout
# (a sweep may be writing), the path passed as one argument (spaces and
# quotes work).
#   sh plots/db.sh [-steps] [-sep S] [-bail] [-html] DB [SQL]
#        prints the rows of SQL (without SQL: of the statements on stdin);
#        -steps loads the steps SQL extension ($PSGD_STEPS_EXT, default
#        build/psgd_steps), -sep sets the column separator (default '|'),
#        -bail stops at the first failing statement, -html prints HTML
#        table rows with a header row
#   sh plots/db.sh -check NAME DB [EXPERIMENT]
#        prints "NAME: DB: <what is wrong>" and exits 1 when DB is missing,
#        empty, not a file, not a psgd results database, or (EXPERIMENT
#        given) holds runs of EXPERIMENT but none with a result (ok,
#        converged, diverged: only crashed or timed-out runs, nothing to
#        plot); prints nothing and exits 0 otherwise (also when EXPERIMENT
#        has no runs at all: each script names what it needs then)
BUSY_MS=20000
if [ "${1:-}" = -check ]; then
  name=$2 db=$3 exp=${4:-}
  fail() { echo "$name: $db: $1"; exit 1; }
  [ -e "$db" ] || fail "no such database (run the experiment first, or give DB=PATH)"
  [ -f "$db" ] || fail "not a regular file, not a results database"
  [ -s "$db" ] || fail "empty file: no runs recorded"
  n=$(sqlite3 -batch -readonly -cmd ".timeout $BUSY_MS" "$db" "SELECT count(*) FROM runs" 2>&1) ||
    fail "not a psgd results database ($n)"
  [ "$n" -gt 0 ] 2>/dev/null || fail "no runs recorded"
  [ -n "$exp" ] || exit 0
  e=$(printf '%s' "$exp" | sed "s/'/''/g")
  r=$(sqlite3 -batch -readonly -cmd ".timeout $BUSY_MS" "$db" "SELECT count(*), coalesce(sum(status IN ('ok','converged','diverged')), 0) FROM runs WHERE experiment = '$e'" 2>&1) ||
    fail "cannot read its runs ($r)"
  all=${r%%|*} res=${r##*|}
  # no run at all: the script says what it needs, in its own words
  [ "$all" -gt 0 ] || exit 0
  [ "$res" -gt 0 ] || fail "none of the $all runs of experiment $exp has a result (all crashed, timed out or unfinished): nothing to plot"
  exit 0
fi
load=
sep='|'
bail=
html=
while :; do
  case "${1:-}" in
    -steps) load=${PSGD_STEPS_EXT:-build/psgd_steps}; shift ;;
    -sep) sep=$2; shift 2 ;;
    -bail) bail=-bail; shift ;;
    -html) html=-html; shift ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: sh plots/db.sh [-steps] [-sep S] [-bail] [-html] DB [SQL]" >&2; exit 2; }
db=$1
shift
# sqlite3 -batch -readonly [-bail] [-html -header] [-cmd .load EXT] -cmd .timeout
# -separator S DB [SQL], built back to front
set -- -cmd ".timeout $BUSY_MS" -separator "$sep" "$db" "$@"
[ -z "$load" ] || set -- -cmd ".load $load" "$@"
[ -z "$html" ] || set -- -html -header "$@"
[ -z "$bail" ] || set -- -bail "$@"
exec sqlite3 -batch -readonly "$@"
