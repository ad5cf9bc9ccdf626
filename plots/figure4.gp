# figure4.gp - paper Fig. 4 from results.db: per algorithm (runs.label),
# (left) best test accuracy vs threads, (right) seconds until the test
# accuracy first reached THRESHOLD vs threads. A thread count at which no run
# of a variant reached THRESHOLD is drawn as an open marker at the height of
# the run's time budget (stop_seconds; its wall time when it had none): a
# diverged run stops early, and its wall time would put "never reached" near
# zero, where it reads as "fastest". Times are virtual seconds for
# virtual-clock runs (the axis says so). Variants appear in the order of the
# experiment file (first run_id per label). Reads only finished runs of
# experiment 'figure4', diverged ones included (their best accuracy is the
# best before the divergence: Async's failure at large m is a point here).
# Nothing covers data: one key for both panels, below them in a strip the
# plot areas never enter; the "not reached" explanation is in the panel title.
# Series that share a value at a thread count stay visible: series i of n is
# drawn shifted sideways by (i - (n + 1) / 2) * DX doublings of m (the tics
# mark the true thread counts; the subtitle says so), and each series has its
# own marker shape. The markers are drawn again after all lines, so that no
# line of another series runs across one.
#   gnuplot -c plots/figure4.gp DB OUTDIR THRESHOLD
# The queries (all numbers plotted come from them):
#   best:  SELECT r.threads, max(e.test_acc) FROM runs r JOIN evals e USING(run_id) ...
#   time:  SELECT r.threads, min(e.t_ns)/1e9 FROM ... WHERE e.test_acc >= THRESHOLD ...
#   not reached: thread counts with no such eval, at max(stop_seconds, else r.wall_s)
#   subtitle: cores = Core objects in runs.topology_xml (left out when not
#   recorded), budget = spec stop_seconds / stop_epochs / stop_steps
DB = ARG1
OUT = ARG2
THR = ARG3 + 0
load "plots/style.gp"
NAME = "figure4"; CHECK_EXP = "figure4"; DB_OPTS = ""
load "plots/db.gp"
W = "r.experiment = 'figure4' AND r.status IN ('ok','converged','diverged')"
labels_n = int(system(SQL."\"SELECT count(DISTINCT label) FROM runs r WHERE ".W."\""))
if (labels_n < 1) { print "figure4: no finished runs of experiment figure4 in ".DB; exit status 1 }
LBL = "SELECT label FROM runs r WHERE ".W." GROUP BY label ORDER BY min(run_id) LIMIT 1 OFFSET "
label(i) = system(SQL."\"".LBL.(i-1)."\"")
sel(i) = "r.label = (".LBL.(i-1).")"
best(i) = "< ".SQL."\"SELECT r.threads, max(e.test_acc)*100 FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." GROUP BY r.threads ORDER BY r.threads\""
REACHED = "EXISTS (SELECT 1 FROM evals e WHERE e.run_id = r.run_id AND e.test_acc >= ".sprintf("%g", THR).")"
ttt(i) = "< ".SQL."\"SELECT threads, min(t) FROM (SELECT r.threads, r.run_id, min(e.t_ns)/1e9 AS t FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." AND e.test_acc >= ".sprintf("%g", THR)." GROUP BY r.run_id) GROUP BY threads ORDER BY threads\""
# thread counts where no run of variant i reached THR, at the runs' time budget
# (their wall time if they had none)
NR = "FROM runs r WHERE ".W." AND %s GROUP BY r.threads HAVING max(".REACHED.") = 0"
NRY = "max(CASE WHEN json_extract(r.spec, '$.stop_seconds') > 0 THEN json_extract(r.spec, '$.stop_seconds') ELSE r.wall_s END)"
nr(i) = "< ".SQL."\"SELECT r.threads, ".NRY." ".sprintf(NR, sel(i))." ORDER BY r.threads\""
n_reached(i) = int(system(SQL."\"SELECT count(*) FROM runs r WHERE ".W." AND ".sel(i)." AND ".REACHED."\""))
n_nr(i) = int(system(SQL."\"SELECT count(*) FROM (SELECT 1 ".sprintf(NR, sel(i)).")\""))
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(system(SQL."\"SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'\""))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
n_virtual = int(system(SQL."\"SELECT count(*) FROM runs r WHERE ".W." AND ".VC." = 'virtual'\""))
machine = system(SQL."\"SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated m-core machine, step time ' || ".VST." || ', virtual time' ELSE host || ', ' || cpu_model END || ', ' || dataset || ' ' || model FROM runs r WHERE ".W." LIMIT 1\"")
scale = system(SQL."\"SELECT CASE WHEN max(".VC." = 'virtual') THEN 'quick' WHEN max(threads) >= 32 THEN 'paper' ELSE 'quick' END FROM runs r WHERE ".W."\"")
# cores of the machine the runs ran on, from the recorded hwloc topology (0: not recorded)
cores = int(system(SQL."\"SELECT coalesce(max((length(topology_xml) - length(replace(topology_xml, 'type=\\\"Core\\\"', ''))) / length('type=\\\"Core\\\"')), 0) FROM runs r WHERE ".W." AND ".VC." IS NOT 'virtual'\""))
budget = system(SQL."\"SELECT group_concat(b, ' / ') FROM (SELECT DISTINCT CASE WHEN json_extract(spec, '$.stop_seconds') > 0 THEN json_extract(spec, '$.stop_seconds') || ' s' WHEN json_extract(spec, '$.stop_epochs') > 0 THEN json_extract(spec, '$.stop_epochs') || ' epochs' WHEN json_extract(spec, '$.stop_steps') > 0 THEN json_extract(spec, '$.stop_steps') || ' steps' END AS b FROM runs r WHERE ".W." ORDER BY b)\"")
subtitle = machine.(cores > 0 ? sprintf(", %d cores", cores) : "").(strlen(budget) > 0 ? ", budget ".budget." per run" : "")
array L[labels_n]
do for [i=1:labels_n] { L[i] = label(i) }
# x range padded by a fifth of a doubling so points on the outer thread counts (and their labels) are not on the border
tmin = real(system(SQL."\"SELECT min(threads) FROM runs r WHERE ".W."\""))
tmax = real(system(SQL."\"SELECT max(threads) FROM runs r WHERE ".W."\""))
# sideways shift of series i, as a factor on m (log x): DX doublings apart
DX = 0.09
sh(i) = 2**(DX * (i - (labels_n + 1) / 2.0))
# one plot element per series that has rows (an empty data source makes gnuplot
# warn); the key is drawn once, by the left panel, so these have no titles
P = ""
do for [i=1:labels_n] {
  if (n_reached(i) > 0) { P = P.sprintf("ttt(%d) using ($1 * sh(%d)):2 with linespoints ls %d ps 1.2 notitle, ", i, i, i) }
  if (n_nr(i) > 0) { P = P.sprintf("nr(%d) using ($1 * sh(%d)):2 with points ls %d pt 6 ps 1.8 notitle, ", i, i, i) }
}
do for [i=1:labels_n] {
  if (n_reached(i) > 0) { P = P.sprintf("ttt(%d) using ($1 * sh(%d)):2 with points ls %d ps 1.2 notitle, ", i, i, i) }
}
P = P."1/0 notitle"
any_nr = 0
do for [i=1:labels_n] { any_nr = any_nr + n_nr(i) }
NRNOTE = any_nr > 0 ? "\n{/*0.85 open circle: no run of that variant and m reached it (diverged or out of time), drawn at the budget}" : ""
SHIFT = sprintf("series drawn %.2f doublings of m apart (within +-%.2f) so that equal values stay visible; tics: the thread counts", DX, DX * (labels_n - 1) / 2.0)

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 1400,600 font "Sans,11"', 'size 11in,4.7in font "Sans,9"')
  # the bottom 24% of the page holds the shared key: the panels end above it
  set multiplot layout 1,2 title sprintf("Fig. 4: scalability (%s scale; %s)\n{/*0.85 %s}", scale, subtitle, SHIFT) \
      margins 0.06, 0.98, 0.24, 0.84 spacing 0.07, 0
  set logscale x 2
  set xrange [tmin / 2**0.3 : tmax * 2**0.3]
  set xtics ()
  do for [t in system(SQL."\"SELECT DISTINCT threads FROM runs r WHERE ".W." ORDER BY threads\"")] { set xtics add (t t) }
  set xlabel "threads m"
  set key at screen 0.5, 0.015 center bottom horizontal maxcols 5 box opaque width 1 samplen 3
  set ylabel "best test accuracy (%)"
  set title "best accuracy reached"
  set offsets 0, 0, graph 0.05, graph 0.05
  plot for [i=1:labels_n] best(i) using ($1 * sh(i)):2 with linespoints ls i ps 1.2 title label(i), \
       for [i=1:labels_n] best(i) using ($1 * sh(i)):2 with points ls i ps 1.2 notitle
  set ylabel (n_virtual > 0 ? "virtual seconds" : "seconds")." to ".sprintf("%g", THR*100)."% test accuracy"
  set title sprintf("time to threshold accuracy %g%%", THR*100).NRNOTE
  unset key
  set yrange [0:*]
  set offsets 0, 0, graph 0.08, 0
  plot @P
  set autoscale y
  set offsets 0, 0, 0, 0
  unset multiplot
  unset logscale x
  set autoscale x
  set output
}
