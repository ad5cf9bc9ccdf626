#!/bin/sh
# it_steps_layout.sh - the figures are the same PNGs from the old step layout
# (one steps row per step) and from the chunked one (schema 3 on), on
# the same runs. Tiny real runs (synthetic data) of stand-ins for the figure
# 1-3 experiments are recorded (chunked); a copy is turned back into the old
# layout with the old DDL (same rows, same order); every figure is plotted
# from the chunked database, from the old-layout copy, and from that copy
# after psgd upgraded it on open; the PNGs are compared with cmp, and the
# upgraded copy's rows with the originals. Everything at the same file path,
# so nothing but the layout differs.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
EXT=${PSGD_STEPS_EXT:-build/psgd_steps}
case "$EXT" in /*) ;; *) EXT=$(pwd)/$EXT ;; esac
export PSGD_STEPS_EXT="$EXT"
tmp=$(mktemp -d /tmp/psgd_it_steps.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh

tiny_fig123 "$tmp" 300
q() { sqlite3 -batch -cmd ".load $EXT" "$@"; }
rows() { q "$1" "SELECT * FROM steps"; }
plot_all() { # outdir
  mkdir -p "$1"
  for n in 1 2 3; do
    gnuplot -c plots/figure$n.gp "$tmp/db/f$n.db" "$1" > "$1/gp$n.out" 2>&1 || echo "figure$n failed" >> "$1/fail"
  done
}
mkdir -p "$tmp/db"
for n in 1 2 3; do
  "$PSGD" run "$tmp/figure$n.cfg" --db "$tmp/new$n.db" > "$tmp/run$n.out" 2>&1
  check "figure${n}_runs" "$?" 0
  q "$tmp/new$n.db" "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null
done
check chunked_layout "$(q "$tmp/new1.db" "SELECT type FROM sqlite_master WHERE name = 'steps'")" view

# A: the chunked databases
for n in 1 2 3; do cp "$tmp/new$n.db" "$tmp/db/f$n.db"; done
plot_all "$tmp/A"
# B: the same rows in the old layout (the DDL of steps before chunks; the
# schema version before the chunks' upgrade, 2 -> 3, without what later
# migrations added: runs.alloc, 3 -> 4; runs.clock and runs.step_time, 4 -> 5)
v=$(q "$tmp/new1.db" "PRAGMA user_version")
old=2
for n in 1 2 3; do
  q "$tmp/db/f$n.db" "CREATE TEMP TABLE t AS SELECT * FROM steps; DROP VIEW steps;
    CREATE TABLE steps (
      run_id INTEGER NOT NULL, step INTEGER, finish INTEGER, worker INTEGER, pu INTEGER,
      t_start_ns INTEGER, t_end_ns INTEGER, version_read INTEGER, version_apply INTEGER,
      staleness INTEGER, accepted INTEGER, interval INTEGER, y INTEGER, m INTEGER, loss REAL);
    CREATE INDEX steps_run ON steps(run_id);
    INSERT INTO steps SELECT * FROM t; DROP TABLE step_chunks; ALTER TABLE runs DROP COLUMN alloc;
    ALTER TABLE runs DROP COLUMN clock; ALTER TABLE runs DROP COLUMN step_time;
    PRAGMA user_version = $old; PRAGMA wal_checkpoint(TRUNCATE);" > /dev/null
done
check old_layout "$(q "$tmp/db/f1.db" "SELECT type FROM sqlite_master WHERE name = 'steps'") $(q "$tmp/db/f1.db" "PRAGMA user_version")" "table $old"
check old_layout_rows "$(rows "$tmp/db/f3.db" | md5sum)" "$(rows "$tmp/new3.db" | md5sum)"
plot_all "$tmp/B"
# C: the old-layout copies after psgd upgraded them on open
for n in 1 2 3; do
  "$PSGD" run "$tmp/figure$n.cfg" --db "$tmp/db/f$n.db" > "$tmp/up$n.out" 2>&1
  check "figure${n}_upgrade_open" "$? $(grep -c '0 ran' "$tmp/up$n.out")" "0 1"
  check "figure${n}_upgraded" "$(q "$tmp/db/f$n.db" "SELECT type FROM sqlite_master WHERE name = 'steps'") $(q "$tmp/db/f$n.db" "PRAGMA user_version")" "view $v"
  check "figure${n}_upgraded_rows" "$(rows "$tmp/db/f$n.db" | md5sum)" "$(rows "$tmp/new$n.db" | md5sum)"
done
plot_all "$tmp/C"

check no_plot_failed "$(cat "$tmp"/A/fail "$tmp"/B/fail "$tmp"/C/fail 2>/dev/null)" ""
for n in 1 2 3; do
  check "figure${n}_png" "$(png "$tmp/A/figure$n.png")" png
  cmp -s "$tmp/A/figure$n.png" "$tmp/B/figure$n.png"
  check "figure${n}_same_png_old_layout" "$?" 0
  cmp -s "$tmp/A/figure$n.png" "$tmp/C/figure$n.png"
  check "figure${n}_same_png_upgraded" "$?" 0
done
