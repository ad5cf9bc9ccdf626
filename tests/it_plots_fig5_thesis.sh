#!/bin/sh
# it_plots_fig5_thesis.sh - the figure5, table1, thesis-compare and
# thesis-staleness scripts on a tiny database made by tiny real runs (the
# synthetic dataset, experiment files named like the real ones so the
# scripts find them): every PNG/PDF is written, table1.md holds the numbers
# an independent query gives, and an empty database is a clear error.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_plots5.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
db=$tmp/t.db
out=$tmp/fig
mkdir -p "$tmp/exp" "$out"
. tests/lib_check.sh
q() { sqlite3 -batch "$db" "$1"; }

cat > "$tmp/exp/figure4.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16];
batch = 8; lr = 0.05; optimizer = "sgd";
stop = { seconds = 0.6; epochs = 0.0; };
eval = { every_s = 0.1; };
sweep = { threads = [1, 2]; };
variants = (
  { label = "Async"; algorithm = "async"; },
  { label = "IntAsync decay y0=4"; algorithm = "interval"; y_control = "decay"; y0 = 4; y_decay_k = 50; }
);
CFG
cat > "$tmp/exp/thesis-compare.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16];
batch = 8; lr = 0.05; optimizer = "sgd";
stop = { seconds = 0.6; epochs = 0.0; epsilon = 0.3; };
eval = { every_s = 0.2; };
repeat = 2;
sweep = { threads = [1, 2]; };
variants = (
  { label = "mutex"; algorithm = "mutex"; },
  { label = "leashed ps=0"; algorithm = "leashed"; ps = 0; }
);
CFG
cat > "$tmp/exp/thesis-staleness.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [16];
lr = 0.05; optimizer = "sgd";
stop = { seconds = 0.3; epochs = 0.0; };
eval = { every_s = 0.0; };
sweep = { threads = [2, 4]; batch = [4, 16]; };
variants = (
  { label = "rwlock"; algorithm = "rwlock"; },
  { label = "HOGWILD!"; algorithm = "hogwild"; }
);
CFG

# a database without psgd's tables, then one with only other experiments' runs:
# each script fails with a message naming what is missing and draws nothing
sqlite3 "$db" "CREATE TABLE other (x)"
msg=$(gnuplot -c plots/thesis-staleness.gp "$db" "$out" 2>&1); rc=$?
check no_tables_fails "$rc $(echo "$msg" | grep -c 'thesis-staleness: .*: not a psgd results database')" "1 1"
rm -f "$db"
"$PSGD" run "$tmp/exp/thesis-staleness.cfg" --db "$db" > "$tmp/run_thesis-staleness.log" 2>&1
check run_thesis-staleness $? 0
for s in figure5 table1; do
  msg=$(gnuplot -c plots/$s.gp "$db" "$out" 2>&1); rc=$?
  check "${s}_no_runs_fails" "$rc $(echo "$msg" | grep -c 'no evaluations of finished runs of experiment figure4')" "1 1"
done
msg=$(gnuplot -c plots/thesis-compare.gp "$db" "$out" 0.5 0.4 0.3 2>&1); rc=$?
check thesis-compare_no_runs_fails "$rc $(echo "$msg" | grep -c 'no finished runs of experiment thesis-compare')" "1 1"
msg=$(gnuplot -c plots/thesis-compare.gp "$db" "$out" 0.3 0.4 0.5 2>&1); rc=$?
check thesis-compare_bad_fractions "$rc $(echo "$msg" | grep -c 'F1 > F2 > F3')" "2 1"
check nothing_drawn_when_empty "$(ls "$out" | wc -l)" 0

for e in figure4 thesis-compare; do
  "$PSGD" run "$tmp/exp/$e.cfg" --db "$db" > "$tmp/run_$e.log" 2>&1
  check "run_$e" $? 0
done

for s in figure5 table1 thesis-staleness; do
  gnuplot -c plots/$s.gp "$db" "$out" quick > "$tmp/plot_$s.log" 2>&1
  check "plot_$s" $? 0
done
gnuplot -c plots/thesis-compare.gp "$db" "$out" 0.5 0.4 0.3 quick > "$tmp/plot_cmp.log" 2>&1
check plot_thesis-compare $? 0
# every key entry has something drawn (tests/plot_series.sh)
for s in figure5 table1 thesis-staleness; do
  check_series "${s}_series_drawn" plots/$s.gp "$db" "$tmp/series_$s" quick
done
check_series thesis-compare_series_drawn plots/thesis-compare.gp "$db" "$tmp/series_cmp" 0.5 0.4 0.3 quick
check_series figure4_series_drawn plots/figure4.gp "$db" "$tmp/series_fig4" 0.5
# no gnuplot warnings (e.g. an outlier series without rows)
for l in plot_cmp plot_thesis-staleness; do check "${l}_gnuplot_clean" "$(cat "$tmp/$l.log")" ""; done
for f in figure5 table1 thesis-compare thesis-staleness; do
  for x in png pdf; do
    check "${f}_$x" "$([ -s "$out/$f.$x" ] && echo written)" written
  done
  check "${f}_png_is_png" "$(head -c 8 "$out/$f.png" | od -An -c | tr -d ' ')" '211PNG\r\n032\n'
done

# table1.md: one row per algorithm, and the common accuracy is the smallest
# of the algorithms' best accuracies (computed here independently)
check table1_rows "$(grep -c '^| Async \|^| IntAsync decay y0=4 ' "$out/table1.md")" 2
# (rounded as table1 states: one decimal, half up)
common=$(q "SELECT printf('%.1f', CAST(min(b) * 1000 + 0.5 + 1e-9 AS INTEGER) / 10.0) FROM (SELECT max(e.test_acc) AS b FROM runs r JOIN evals e USING(run_id) WHERE r.experiment = 'figure4' GROUP BY r.label)")
check table1_common_acc "$(grep -c "common accuracy $common%" "$out/table1.md")" 1
best_async=$(q "SELECT printf('%.1f%%', CAST(max(e.test_acc) * 1000 + 0.5 + 1e-9 AS INTEGER) / 10.0) FROM runs r JOIN evals e USING(run_id) WHERE r.experiment = 'figure4' AND r.label = 'Async'")
check table1_best_async "$(grep '^| Async ' "$out/table1.md" | cut -d'|' -f3 | tr -d ' ')" "$best_async"
# an algorithm whose best accuracy is the common one reaches it: its best time is a number
low=$(q "SELECT r.label FROM runs r JOIN evals e USING(run_id) WHERE r.experiment = 'figure4' GROUP BY r.label ORDER BY max(e.test_acc) LIMIT 1")
check table1_lowest_reaches "$(grep "^| $low " "$out/table1.md" | cut -d'|' -f6 | grep -c ' s')" 1
