#!/bin/sh
# it_thesis_memory.sh - make thesis-memory's plotting on tiny real runs: an
# experiment file named like the real one (the script selects runs by
# experiment name) on the synthetic set, UMA and NUMA variants (NUMA runs as
# its recorded nearest equivalent on a one-node machine), run by psgd into a
# temporary database; the gnuplot script must write the PNG and the PDF
# without a warning, and fail with a message on a database without the runs.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_memory.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/m" "$tmp/out" "$tmp/empty"
cat > "$tmp/m/thesis-memory.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16]; optimizer = "sgd";
lr = 0.05; batch = 8; record_steps = true; placement_nearest = true;
stop = { seconds = 0.6; epochs = 0.0; epsilon = 0.6; };
eval = { every_s = 0.2; };
variants = ( { label = "UMA"; placement = "uma"; },
             { label = "NUMA"; placement = "numa"; } );
sweep = { algorithm = ["hogwild", "mutex"]; threads = [3, 4]; };
CFG
. tests/lib_check.sh

"$PSGD" run "$tmp/m/thesis-memory.cfg" --db "$tmp/m.db" > "$tmp/run_m" 2>&1
check memory_ran "$(sqlite3 "$tmp/m.db" "SELECT count(*) FROM runs WHERE experiment = 'thesis-memory' AND status IN ('ok','converged')")" 8
check memory_placement_rows "$(sqlite3 "$tmp/m.db" "SELECT count(*) FROM placement")" 28
out=$(gnuplot -c plots/thesis-memory.gp "$tmp/m.db" "$tmp/out" 2>&1)
check memory_gnuplot_clean "$?:$out" "0:"
check memory_png "$(png "$tmp/out/thesis-memory.png")" png
check memory_pdf "$(pdf "$tmp/out/thesis-memory.pdf")" pdf
check_series memory_series_drawn plots/thesis-memory.gp "$tmp/m.db" "$tmp/series_m"
sqlite3 "$tmp/e.db" "CREATE TABLE runs (run_id INTEGER, experiment TEXT, status TEXT);" 2>/dev/null
out=$(gnuplot -c plots/thesis-memory.gp "$tmp/e.db" "$tmp/empty" 2>&1)
rc=$?
check memory_empty_fails "$([ "$rc" != 0 ] && [ -n "$out" ] && echo failed)" failed
check memory_empty_no_png "$([ -e "$tmp/empty/thesis-memory.png" ] && echo written)" ""
