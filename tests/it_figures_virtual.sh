#!/bin/sh
# it_figures_virtual.sh - the paper's figures drawn from virtual-clock runs:
# tiny stand-ins of experiments figure1..figure4 (synthetic data, simulated
# workers, a lognormal step-time model), every figure script (figure1-5,
# table1) writes its PNG and PDF from them, draws every keyed series
# (tests/plot_series.sh), and says "simulated ... machine" and the step-time
# model in its title; the same scripts on a real-clock run do not say
# "simulated". Also checks that the experiment files' scales resolve: the
# default scale "quick" of figure1..4 is virtual, "quick-real" and "paper"
# are real.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_figvirt.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh

common='dataset = "synthetic"; model = "mlp"; hidden = [32]; seed = 1; record_steps = true;
clock = "virtual"; step_time = "lognormal:200,0.2";'
noeval='eval = { every_s = 0.0; every_steps = 0; test_limit = 200; };'
mkdir -p "$tmp/exp"
cat > "$tmp/exp/figure1.cfg" <<CFG
$common
$noeval
algorithm = "interval"; y0 = 4; threads = 4; batch = 16;
stop = { steps = 200; epochs = 0.0; };
CFG
cat > "$tmp/exp/figure2.cfg" <<CFG
$common
$noeval
algorithm = "interval"; threads = 32;
stop = { steps = 100; epochs = 0.0; };
sweep = { batch = [8, 32]; y0 = [1, 8, 64]; };
CFG
cat > "$tmp/exp/figure3.cfg" <<CFG
$common
$noeval
threads = 64; batch = 16;
stop = { steps = 300; epochs = 0.0; };
sweep = { y0 = [1, 8, 64]; };
variants = (
  { label = "IntAsync"; algorithm = "interval"; },
  { label = "Async"; algorithm = "async"; y0 = 4; },
  { label = "IntAsync y-decay"; algorithm = "interval"; y_control = "decay"; threads = 32; y0 = 64; y_decay_k = 5; }
);
CFG
cat > "$tmp/exp/figure4.cfg" <<CFG
$common
batch = 16; lr = 0.05;
stop = { seconds = 0.02; epochs = 0.0; };
eval = { every_s = 0.004; test_limit = 200; };
sweep = { threads = [16, 64]; };
variants = (
  { label = "Async"; algorithm = "async"; },
  { label = "IntAsync decay y0=64"; algorithm = "interval"; y_control = "decay"; y0 = 64; y_decay_k = 16; }
);
CFG
for n in 1 2 3 4; do
  "$PSGD" run "$tmp/exp/figure$n.cfg" --db "$tmp/v.db" > "$tmp/run$n.out" 2>&1
  check "virtual_figure${n}_runs" "$?" 0
done
check virtual_runs_recorded "$(sqlite3 "$tmp/v.db" "SELECT count(*), sum(clock = 'virtual'), min(step_time) = max(step_time) FROM runs WHERE status = 'ok'")" "16|16|1"

mkdir -p "$tmp/out"
for s in figure1 figure2 figure3 figure4 figure5 table1; do
  thr=; [ "$s" = figure4 ] && thr=0.3
  # shellcheck disable=SC2086  # thr is one word or empty
  gnuplot -c plots/$s.gp "$tmp/v.db" "$tmp/out" $thr > "$tmp/gp_$s.out" 2>&1
  check "virtual_${s}_plots" "$?" 0
  check "virtual_${s}_png_pdf" "$(png "$tmp/out/$s.png") $(pdf "$tmp/out/$s.pdf")" "png pdf"
  check "virtual_${s}_no_gnuplot_warning" "$(grep -ci 'warning\|error' "$tmp/gp_$s.out")" 0
  # shellcheck disable=SC2086
  check_series "virtual_${s}_series_drawn" plots/$s.gp "$tmp/v.db" "$tmp/svg_$s" $thr
  # the title names the simulated machine and the step-time model
  check "virtual_${s}_title_simulated" \
    "$(cat "$tmp"/svg_$s/* | grep -c 'simulated .*machine.*step time lognormal:200,0.2' | sed 's/^[1-9][0-9]*$/yes/')" yes
done
check virtual_table1_md_simulated "$(grep -c 'simulated m-core machine, step time lognormal:200,0.2' "$tmp/out/table1.md")" 1
check virtual_figure2_title_m "$(grep -c 'simulated 32-core machine' "$tmp"/svg_figure2/figure2.png)" 1

# the same script on a real-clock run: no "simulated" in its title
mkdir -p "$tmp/exp/real"
cat > "$tmp/exp/real/figure2.cfg" <<'CFG'
dataset = "synthetic"; model = "mlp"; hidden = [32]; seed = 1; record_steps = true;
eval = { every_s = 0.0; every_steps = 0; test_limit = 200; };
algorithm = "interval"; threads = 2; batch = 8; y0 = 2;
stop = { steps = 40; epochs = 0.0; };
CFG
"$PSGD" run "$tmp/exp/real/figure2.cfg" --db "$tmp/r.db" > "$tmp/runr.out" 2>&1
check real_figure2_runs "$?" 0
sh tests/plot_series.sh plots/figure2.gp "$tmp/r.db" "$tmp/svg_real" > "$tmp/series_real.out" 2>&1
check real_figure2_series "$?" 0
check real_figure2_not_simulated "$(cat "$tmp"/svg_real/* | grep -c 'simulated')" 0

# the experiment files' scales: every run of the default scale "quick" of
# figure1..4 is virtual, none of "quick-real" (paper needs CIFAR, so `psgd
# list` would stop at its dataset check here)
sel() { f=experiments/figure$1.cfg; shift; "$PSGD" list "$f" --db "$tmp/list.db" "$@" 2>&1 | tail -n 1 |
        sed -n 's/^\([0-9]*\) runs selected of \([0-9]*\).*/\1 of \2/p'; }
for n in 1 2 3 4; do
  all=$(sel $n | sed 's/.* of //')
  check "figure${n}_quick_virtual" "$(sel $n --only clock=virtual)" "$all of $all"
  check "figure${n}_quick_real_real" "$(sel $n --scale quick-real --only clock=virtual)" "0 of $all"
done
check figure2_quick_m128 "$(sel 2 --only threads=128)" "27 of 27"
check figure3_quick_m256 "$(sel 3 --only threads=256)" "11 of 12"
check figure4_quick_m "$(sel 4 --only threads=16) $(sel 4 --only threads=128)" "5 of 20 5 of 20"
check figure1_quick_batch16 "$(sel 1 --only batch=16 --only threads=4 --only y0=4)" "1 of 1"
