# figure4.gp - paper Fig. 4 from results.db: per algorithm (runs.label),
# (left) best test accuracy vs threads, (right) seconds until the test
# accuracy first reached THRESHOLD vs threads (runs that never reached it
# are left out). Reads only finished runs of experiment 'figure4'.
#   gnuplot -c plots/figure4.gp DB OUTDIR THRESHOLD
# The queries (all numbers plotted come from them):
#   best:  SELECT r.threads, max(e.test_acc) FROM runs r JOIN evals e USING(run_id) ...
#   time:  SELECT r.threads, min(e.t_ns)/1e9 FROM ... WHERE e.test_acc >= THRESHOLD ...
DB = ARG1
OUT = ARG2
THR = ARG3 + 0
load "plots/style.gp"
SQL = "sqlite3 -batch -readonly ".DB." "
W = "r.experiment = 'figure4' AND r.status IN ('ok','converged')"
labels_n = int(system(SQL."\"SELECT count(DISTINCT label) FROM runs r WHERE ".W."\""))
if (labels_n < 1) { print "figure4: no finished runs of experiment figure4 in ".DB; exit status 1 }
label(i) = system(SQL."\"SELECT DISTINCT label FROM runs r WHERE ".W." ORDER BY label LIMIT 1 OFFSET ".(i-1)."\"")
sel(i) = "r.label = (SELECT DISTINCT label FROM runs r WHERE ".W." ORDER BY label LIMIT 1 OFFSET ".(i-1).")"
best(i) = "< ".SQL."\"SELECT r.threads, max(e.test_acc)*100 FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." GROUP BY r.threads ORDER BY r.threads\""
ttt(i) = "< ".SQL."\"SELECT threads, min(t) FROM (SELECT r.threads, r.run_id, min(e.t_ns)/1e9 AS t FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND ".sel(i)." AND e.test_acc >= ".sprintf("%g", THR)." GROUP BY r.run_id) GROUP BY threads ORDER BY threads\""
machine = system(SQL."\"SELECT host || ', ' || cpu_model || ', ' || dataset || ' ' || model FROM runs r WHERE ".W." LIMIT 1\"")
scale = system(SQL."\"SELECT CASE WHEN max(threads) >= 32 THEN 'paper' ELSE 'quick' END FROM runs r WHERE ".W."\"")

do for [fmt in "png pdf"] {
  if (fmt eq "png") { set terminal pngcairo size 1400,520 font "Sans,11"; set output OUT."/figure4.png" }
  else { set terminal pdfcairo size 11in,4in font "Sans,9"; set output OUT."/figure4.pdf" }
  set multiplot layout 1,2 title sprintf("Fig. 4: scalability (%s scale; %s)", scale, machine)
  set logscale x 2
  set xlabel "threads m"
  set key inside bottom left
  set ylabel "best test accuracy (%)"
  set title "best accuracy reached"
  plot for [i=1:labels_n] best(i) using 1:2 with linespoints ls i title label(i)
  set ylabel "seconds to ".sprintf("%g", THR*100)."% test accuracy"
  set title sprintf("time to threshold accuracy %g%%", THR*100)
  set key inside top left
  plot for [i=1:labels_n] ttt(i) using 1:2 with linespoints ls i title label(i)
  unset multiplot
  unset logscale x
  set output
}
