# figure4.gp - paper Fig. 4 from results.db: per algorithm (runs.label),
# (left) best test accuracy vs threads, (right) seconds until the test
# accuracy first reached THRESHOLD vs threads. A thread count at which no run
# of a variant reached THRESHOLD is drawn as an open marker at the run's wall
# time with the text "not reached". Variants appear in the order of the
# experiment file (first run_id per label). Reads only finished runs of
# experiment 'figure4'.
#   gnuplot -c plots/figure4.gp DB OUTDIR THRESHOLD
# The queries (all numbers plotted come from them):
#   best:  SELECT r.threads, max(e.test_acc) FROM runs r JOIN evals e USING(run_id) ...
#   time:  SELECT r.threads, min(e.t_ns)/1e9 FROM ... WHERE e.test_acc >= THRESHOLD ...
#   not reached: thread counts with no such eval, at max(r.wall_s)
#   subtitle: cores = Core objects in runs.topology_xml (left out when not
#   recorded), budget = spec stop_seconds / stop_epochs / stop_steps
DB = ARG1
OUT = ARG2
THR = ARG3 + 0
load "plots/style.gp"
SQL = "sqlite3 -batch -readonly ".DB." "
W = "r.experiment = 'figure4' AND r.status IN ('ok','converged')"
labels_n = int(system(SQL."\"SELECT count(DISTINCT label) FROM runs r WHERE ".W."\""))
if (labels_n < 1) { print "figure4: no finished runs of experiment figure4 in ".DB; exit status 1 }
LBL = "SELECT label FROM runs r WHERE ".W." GROUP BY label ORDER BY min(run_id) LIMIT 1 OFFSET "
label(i) = system(SQL."\"".LBL.(i-1)."\"")
sel(i) = "r.label = (".LBL.(i-1).")"
best(i) = "< ".SQL."\"SELECT r.threads, max(e.test_acc)*100 FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." GROUP BY r.threads ORDER BY r.threads\""
REACHED = "EXISTS (SELECT 1 FROM evals e WHERE e.run_id = r.run_id AND e.test_acc >= ".sprintf("%g", THR).")"
ttt(i) = "< ".SQL."\"SELECT threads, min(t) FROM (SELECT r.threads, r.run_id, min(e.t_ns)/1e9 AS t FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." AND e.test_acc >= ".sprintf("%g", THR)." GROUP BY r.run_id) GROUP BY threads ORDER BY threads\""
# thread counts where no run of variant i reached THR, at the longest wall time of those runs
NR = "FROM runs r WHERE ".W." AND %s GROUP BY r.threads HAVING max(".REACHED.") = 0"
nr(i) = "< ".SQL."\"SELECT r.threads, max(r.wall_s) ".sprintf(NR, sel(i))." ORDER BY r.threads\""
n_reached(i) = int(system(SQL."\"SELECT count(*) FROM runs r WHERE ".W." AND ".sel(i)." AND ".REACHED."\""))
n_nr(i) = int(system(SQL."\"SELECT count(*) FROM (SELECT 1 ".sprintf(NR, sel(i)).")\""))
machine = system(SQL."\"SELECT host || ', ' || cpu_model || ', ' || dataset || ' ' || model FROM runs r WHERE ".W." LIMIT 1\"")
scale = system(SQL."\"SELECT CASE WHEN max(threads) >= 32 THEN 'paper' ELSE 'quick' END FROM runs r WHERE ".W."\"")
# cores of the machine the runs ran on, from the recorded hwloc topology (0: not recorded)
cores = int(system(SQL."\"SELECT coalesce(max((length(topology_xml) - length(replace(topology_xml, 'type=\\\"Core\\\"', ''))) / length('type=\\\"Core\\\"')), 0) FROM runs r WHERE ".W."\""))
budget = system(SQL."\"SELECT group_concat(b, ' / ') FROM (SELECT DISTINCT CASE WHEN json_extract(spec, '$.stop_seconds') > 0 THEN json_extract(spec, '$.stop_seconds') || ' s' WHEN json_extract(spec, '$.stop_epochs') > 0 THEN json_extract(spec, '$.stop_epochs') || ' epochs' WHEN json_extract(spec, '$.stop_steps') > 0 THEN json_extract(spec, '$.stop_steps') || ' steps' END AS b FROM runs r WHERE ".W." ORDER BY b)\"")
subtitle = machine.(cores > 0 ? sprintf(", %d cores", cores) : "").(strlen(budget) > 0 ? ", budget ".budget." per run" : "")
array L[labels_n]
do for [i=1:labels_n] { L[i] = label(i) }
# x range padded by a fifth of a doubling so points on the outer thread counts (and their labels) are not on the border
tmin = real(system(SQL."\"SELECT min(threads) FROM runs r WHERE ".W."\""))
tmax = real(system(SQL."\"SELECT max(threads) FROM runs r WHERE ".W."\""))
# one plot element per series that has rows (an empty data source makes gnuplot warn)
P = ""
do for [i=1:labels_n] {
  if (n_reached(i) > 0) { P = P.sprintf("ttt(%d) using 1:2 with linespoints ls %d title label(%d), ", i, i, i) }
  else { P = P.sprintf("keyentry with linespoints ls %d title label(%d), ", i, i) }
  if (n_nr(i) > 0) {
    P = P.sprintf("nr(%d) using 1:2 with points ls %d pt 6 ps 2 notitle, ", i, i)
    P = P.sprintf("nr(%d) using 1:2:(sprintf('%%s: not reached in %%.3g s', L[%d], $2)) with labels right offset -1.5,0 tc ls %d notitle, ", i, i, i)
  }
}
P = P."1/0 notitle"

do for [fmt in "png pdf"] {
  if (fmt eq "png") { set terminal pngcairo size 1400,520 font "Sans,11"; set output OUT."/figure4.png" }
  else { set terminal pdfcairo size 11in,4in font "Sans,9"; set output OUT."/figure4.pdf" }
  set multiplot layout 1,2 title sprintf("Fig. 4: scalability (%s scale; %s)", scale, subtitle)
  set logscale x 2
  set xrange [tmin / 2**0.2 : tmax * 2**0.2]
  set xlabel "threads m"
  set key inside bottom left
  set ylabel "best test accuracy (%)"
  set title "best accuracy reached"
  plot for [i=1:labels_n] best(i) using 1:2 with linespoints ls i title label(i)
  set ylabel "seconds to ".sprintf("%g", THR*100)."% test accuracy"
  set title sprintf("time to threshold accuracy %g%%", THR*100)
  set key inside bottom right
  set yrange [0:*]
  set offsets 0, 0, graph 0.1, 0
  plot @P
  set autoscale y
  set offsets 0, 0, 0, 0
  unset multiplot
  unset logscale x
  set autoscale x
  set output
}
