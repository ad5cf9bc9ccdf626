#!/bin/sh
# it_figures123.sh - issue 7: make figure1..figure3's plotting works on a tiny
# database made by tiny real runs. The experiment files here are small
# stand-ins named like the real ones (the scripts select runs by experiment
# name): synthetic data, 4 threads, a few hundred steps. Checks that each
# plots/figureN.gp writes a PNG and a PDF from such a database, that each
# fails with a clear message (not an empty plot) on a database without its
# runs, and the staleness bound the figures show (tau <= y - 1).
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_fig123.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh

tiny_fig123 "$tmp" 200
for n in 1 2 3; do
  "$PSGD" run "$tmp/figure$n.cfg" --db "$tmp/f$n.db" > "$tmp/run$n.out" 2>&1
  check "figure${n}_runs" "$?" 0
done
mkdir -p "$tmp/out"
for n in 1 2 3; do
  gnuplot -c plots/figure$n.gp "$tmp/f$n.db" "$tmp/out" > "$tmp/gp$n.out" 2>&1
  check "figure${n}_plots" "$?" 0
  check "figure${n}_png" "$(png "$tmp/out/figure$n.png")" png
  check "figure${n}_pdf" "$(pdf "$tmp/out/figure$n.pdf")" pdf
  check "figure${n}_no_gnuplot_warning" "$(grep -ci 'warning\|error' "$tmp/gp$n.out")" 0
  # every key entry has something drawn (tests/plot_series.sh)
  check_series "figure${n}_series_drawn" plots/figure$n.gp "$tmp/f$n.db" "$tmp/series$n"
done

# a database without the figure's runs: a clear failure, no figure
mkdir -p "$tmp/none"
gnuplot -c plots/figure1.gp "$tmp/f2.db" "$tmp/none" > "$tmp/e1" 2>&1; rc=$?
check figure1_no_runs_fails "$rc $(grep -c 'figure1: no finished' "$tmp/e1")" "1 1"
gnuplot -c plots/figure2.gp "$tmp/f3.db" "$tmp/none" > "$tmp/e2" 2>&1; rc=$?
check figure2_no_runs_fails "$rc $(grep -c 'figure2: no finished' "$tmp/e2")" "1 1"
gnuplot -c plots/figure3.gp "$tmp/f1.db" "$tmp/none" > "$tmp/e3" 2>&1; rc=$?
check figure3_no_runs_fails "$rc $(grep -c 'figure3: no finished' "$tmp/e3")" "1 1"
check no_figure_from_empty "$(ls "$tmp/none" | wc -l)" 0
# figure 1 for an interval the run does not have
gnuplot -c plots/figure1.gp "$tmp/f1.db" "$tmp/none" 999999 > "$tmp/e4" 2>&1; rc=$?
check figure1_bad_interval_fails "$rc $(grep -c 'interval 999999 of run .* has no accepted step' "$tmp/e4")" "1 1"
# figure 1 with an explicit interval draws it
gnuplot -c plots/figure1.gp "$tmp/f1.db" "$tmp/out" 2 > "$tmp/e5" 2>&1
check figure1_explicit_interval "$(grep -c '^figure1: run 1, interval 2 (4 accepted' "$tmp/e5")" 1

# what Fig. 1 and Fig. 3 show: every interval accepts exactly y steps, and
# no accepted step is staler than y - 1
for n in 1 2 3; do
  check "figure${n}_interval_tau_bound" "$(sqlite3 -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$tmp/f$n.db" "SELECT count(*) FROM steps s JOIN runs r
    USING(run_id) WHERE r.sync = 'interval' AND s.accepted AND s.staleness > s.y - 1")" 0
done
check figure1_full_intervals "$(sqlite3 -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$tmp/f1.db" "SELECT count(*) FROM (SELECT interval, sum(accepted) AS a
  FROM steps GROUP BY interval HAVING a != 4 AND interval < (SELECT max(interval) FROM steps))")" 0
