#!/bin/sh
# it_thesis_figs.sh - make thesis-heatmaps / thesis-backoff plotting on tiny
# real runs: experiment files named like the real ones (the scripts select
# runs by experiment name) on the synthetic set, run by psgd into a temporary
# database; the gnuplot scripts must write both PNGs and PDFs, Table 4.3 must
# have one row per algorithm and thread count with the fastest cell and the
# crashed runs (lr 90 diverges) computed from the runs, and a database
# without the experiment's runs must make each script fail with a message.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_thesis.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/h" "$tmp/b" "$tmp/out"
cat > "$tmp/h/thesis-heatmaps.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16]; optimizer = "sgd";
threads = 2; record_steps = false;
stop = { seconds = 0.4; epochs = 0.0; epsilon = 0.6; };
eval = { every_s = 0.2; };
sweep = { lr = [0.05, 90.0]; batch = [8, 32]; };
variants = ( { label = "mutex"; algorithm = "mutex"; },
             { label = "LSH ps=inf"; algorithm = "leashed"; } );
CFG
cat > "$tmp/b/thesis-backoff.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16]; optimizer = "sgd";
lr = 0.05; batch = 8; threads = 2; repeat = 2; record_steps = false;
stop = { seconds = 0.4; epochs = 0.0; epsilon = 0.6; };
eval = { every_s = 0.2; };
sweep = { backoff = ["none", "exponential"]; };
variants = ( { label = "rwlock"; algorithm = "rwlock"; },
             { label = "LSH ps=inf"; algorithm = "leashed"; } );
CFG
. tests/lib_check.sh

"$PSGD" run "$tmp/h/thesis-heatmaps.cfg" --db "$tmp/h.db" > "$tmp/run_h" 2>&1
check heatmaps_ran "$(sqlite3 "$tmp/h.db" "SELECT count(*) FROM runs WHERE experiment = 'thesis-heatmaps' AND status IN ('ok','converged','diverged')")" 8
"$PSGD" run "$tmp/b/thesis-backoff.cfg" --db "$tmp/b.db" > "$tmp/run_b" 2>&1
check backoff_ran "$(sqlite3 "$tmp/b.db" "SELECT count(*) FROM runs WHERE experiment = 'thesis-backoff' AND status IN ('ok','converged')")" 8

gnuplot -c plots/thesis-heatmaps.gp "$tmp/h.db" "$tmp/out" > "$tmp/gp_h" 2>&1
check heatmaps_gnuplot_clean "$?:$(cat "$tmp/gp_h")" "0:"
check heatmaps_png "$(png "$tmp/out/thesis-heatmaps.png")" png
check heatmaps_pdf "$(pdf "$tmp/out/thesis-heatmaps.pdf")" pdf
sh plots/thesis-table4-3.sh "$tmp/h.db" "$tmp/out"
check table_written "$?" 0
rows=$(grep -c '^| 2 | ' "$tmp/out/thesis-table4-3.md")
check table_rows "$rows" 2
# the diverging lr 90 runs are counted as crashes: 2 batch sizes per algorithm
want=$(sqlite3 "$tmp/h.db" "SELECT count(*) FROM runs WHERE label = 'mutex' AND status IN ('diverged','crashed','timeout')")
check lr90_diverges "$want" 2
got=$(grep '^| 2 | mutex |' "$tmp/out/thesis-table4-3.md" | awk -F'|' '{gsub(/ /, "", $9); print $9}')
check table_crashes "$got" "${want}of4"
# the fastest cell, straight from the runs' epsilon events
best=$(sqlite3 "$tmp/h.db" "SELECT printf('%g|%d', r.lr * 1000, r.batch) FROM runs r JOIN events e ON e.run_id = r.run_id AND e.kind = 'epsilon' WHERE r.label = 'mutex' AND r.status = 'converged' ORDER BY e.t_ns, r.lr DESC, r.batch LIMIT 1")
got=$(grep '^| 2 | mutex |' "$tmp/out/thesis-table4-3.md" | awk -F'|' '{gsub(/ /, "", $4); gsub(/ /, "", $5); print $4 "|" $5}')
check table_fastest "$got" "${best:-"-|-"}"

gnuplot -c plots/thesis-backoff.gp "$tmp/b.db" "$tmp/out" > "$tmp/gp_b" 2>&1
check backoff_gnuplot_clean "$?:$(cat "$tmp/gp_b")" "0:"
check backoff_png "$(png "$tmp/out/thesis-backoff.png")" png
check backoff_pdf "$(pdf "$tmp/out/thesis-backoff.pdf")" pdf
check retries_recorded "$(sqlite3 "$tmp/b.db" "SELECT count(*) FROM events WHERE kind = 'store_retries'")" 8
# every key entry has something drawn (tests/plot_series.sh)
check_series heatmaps_series_drawn plots/thesis-heatmaps.gp "$tmp/h.db" "$tmp/series_h"
check_series backoff_series_drawn plots/thesis-backoff.gp "$tmp/b.db" "$tmp/series_b"
# a scheme none of whose runs reached epsilon (seen under load) has only its
# n/c label in the time panel: it must not be keyed there
cp "$tmp/b.db" "$tmp/b_nc.db"
sqlite3 "$tmp/b_nc.db" "UPDATE runs SET status = 'ok' WHERE backoff = 'none'; DELETE FROM events WHERE kind = 'epsilon' AND run_id IN (SELECT run_id FROM runs WHERE backoff = 'none')"
check_series backoff_nc_scheme_not_keyed plots/thesis-backoff.gp "$tmp/b_nc.db" "$tmp/series_bnc"

# no runs of the experiment: a clear failure, no figure
rm -f "$tmp/out/"*
gnuplot -c plots/thesis-heatmaps.gp "$tmp/b.db" "$tmp/out" > "$tmp/e1" 2>&1; r1=$?
check heatmaps_empty_fails "$([ $r1 -ne 0 ] && grep -c 'no finished runs of experiment thesis-heatmaps' "$tmp/e1")" 1
gnuplot -c plots/thesis-backoff.gp "$tmp/h.db" "$tmp/out" > "$tmp/e2" 2>&1; r2=$?
check backoff_empty_fails "$([ $r2 -ne 0 ] && grep -c 'no finished runs of experiment thesis-backoff' "$tmp/e2")" 1
sh plots/thesis-table4-3.sh "$tmp/b.db" "$tmp/out" > "$tmp/e3" 2>&1; r3=$?
check table_empty_fails "$([ $r3 -ne 0 ] && grep -c 'no finished runs' "$tmp/e3")" 1
check no_empty_figures "$(ls "$tmp/out" | wc -l)" 0
