# figure2.gp - paper Fig. 2 from results.db: the share of started steps that
# the interval dispatcher accepted, vs the interval size y (log x), one line
# per batch size, at the run's thread count m (a dashed line marks y = m).
# Reads only finished interval runs of experiment 'figure2' with constant y.
#   gnuplot -c plots/figure2.gp DB OUTDIR
# The query (all numbers plotted come from it; v_acceptance is in plots/views.sql):
#   SELECT r.y0, avg(a.rate) * 100 FROM runs r JOIN v_acceptance a USING(run_id)
#   WHERE r.experiment = 'figure2' AND r.batch = B GROUP BY r.y0 ORDER BY r.y0
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "figure2"; CHECK_EXP = "figure2"; DB_OPTS = "-steps"
load "plots/db.gp"
q(s) = system(SQL."\"".s."\"")
W = "r.experiment = 'figure2' AND r.status IN ('ok','converged') AND r.sync = 'interval' AND r.y_control = 'const'"
NB = int(q("SELECT count(DISTINCT r.batch) FROM runs r JOIN v_acceptance a USING(run_id) WHERE ".W))
if (NB < 1) { print "figure2: no finished constant-y interval runs (with steps rows) of experiment figure2 in ".DB; exit status 1 }
batch(i) = q("SELECT DISTINCT r.batch FROM runs r JOIN v_acceptance a USING(run_id) WHERE ".W." ORDER BY r.batch LIMIT 1 OFFSET ".(i-1))
rate(i) = "< ".SQL."\"SELECT r.y0, avg(a.rate) * 100 FROM runs r JOIN v_acceptance a USING(run_id) WHERE ".W.\
          " AND r.batch = ".batch(i)." GROUP BY r.y0 ORDER BY r.y0\""
M = int(q("SELECT max(threads) FROM runs r WHERE ".W))
MS = q("SELECT group_concat(t) FROM (SELECT DISTINCT threads AS t FROM runs r WHERE ".W." ORDER BY t)")
YMAX = real(q("SELECT max(y0) FROM runs r WHERE ".W))
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'"))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
machine = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated ' || threads || '-core machine, step time ' || ".VST." ELSE host || ', ' || cpu_model END || ', ' || dataset || ' ' || model FROM runs r WHERE ".W." LIMIT 1")
secs = q("SELECT printf(CASE WHEN max(".VC." = 'virtual') THEN '%.3f' ELSE '%.1f' END, avg(wall_s)) FROM runs r WHERE ".W)
VIRT = int(q("SELECT count(*) FROM runs r WHERE ".W." AND ".VC." = 'virtual'"))
scale = VIRT > 0 ? "quick" : (M >= 32) ? "paper" : "quick"
unit = VIRT > 0 ? "virtual s" : "s"
# batch sizes whose acceptance is the same at every y draw one line over the
# other: the markers are drawn smaller for each later batch size (all stay
# visible), and the title says that the lines coincide
n_apart = int(q("SELECT count(*) FROM (SELECT y0, count(DISTINCT rt) AS c FROM (SELECT r.y0, r.batch, round(avg(a.rate), 9) AS rt FROM runs r JOIN v_acceptance a USING(run_id) WHERE ".W." GROUP BY r.y0, r.batch) GROUP BY y0) WHERE c > 1"))
same = (NB > 1 && n_apart == 0) ? sprintf("\n{/*0.8 the %d batch-size lines coincide%s}", NB, VIRT > 0 ? " (the step-time model has no batch-dependent cost)" : "") : ""

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 900,600 font "Sans,11"', 'size 6.5in,4.3in font "Sans,9"')
  set title sprintf("Fig. 2: acceptance rate vs interval size y, m = %s threads\n{/*0.8 %s scale; %s; about %s %s per run}%s", MS, scale, machine, secs, unit, same)
  set logscale x 2
  set xrange [0.8 : YMAX * 1.25]
  set yrange [0 : 100]
  set xlabel "interval size y (steps, log scale)"
  set ylabel "accepted steps / started steps (%)"
  set key outside right top title "batch size" box
  set arrow 1 from M, graph 0 to M, graph 1 nohead dt 2 lc rgb "#777777" lw 1.5
  set label 1 sprintf("y = m = %d", M) at M, graph 0.96 left offset 0.5,0 tc rgb "#555555"
  plot for [i=1:NB] rate(i) using 1:2 with linespoints ls i ps 1.0 + 0.7 * (NB - i) title batch(i)
  unset arrow 1; unset label 1
  unset logscale x
  set output
}
