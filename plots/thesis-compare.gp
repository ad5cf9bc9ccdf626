# thesis-compare.gp - thesis Figs. 4.19-4.21 (Ek 2021) from results.db, for
# the runs of experiment 'thesis-compare'. One column per thread count m:
#   row 1: time to epsilon-convergence for the three fractions F1 > F2 > F3 of
#          the initial loss, box plots per algorithm (runs.label) over the
#          repetitions; under each algorithm the runs that did not reach each
#          fraction in the time limit ("no conv.") and the runs that crashed
#          or timed out ("crash");
#   row 2: time per epoch (wall_s / epochs: computational efficiency);
#   row 3: epochs until F3 (statistical efficiency).
# The counts are labelled "miss a/b/c" (not converged to F1/F2/F3) and
# "crash d/n" (crashed or timed out of n runs), as the panel title explains.
# Box: 1st to 3rd quartile (nearest rank, as plots/views.sql), the line in it
# the median, whiskers to the farthest value within 1.5 x the box height,
# points beyond them drawn as outliers (as in the thesis).
#   gnuplot -c plots/thesis-compare.gp DB OUTDIR F1 F2 F3 [SCALE]   (SCALE: the subtitle's scale name)
# When a run reached a fraction: the first accepted step (in apply order,
# steps.finish) at which the mean loss of the last 256 accepted steps is
# <= F x runs.initial_loss -- the engine's own stop criterion, which stops
# the run at stop.epsilon (= F3); failing that, the run's 'epsilon' event.
# Every number comes from the one query Q below (one pass over steps).
DB = ARG1
OUT = ARG2
F1 = ARG3 + 0.0
F2 = ARG4 + 0.0
F3 = ARG5 + 0.0
load "plots/style.gp"
set datafile separator whitespace
if (!(F1 > F2 && F2 > F3 && F3 > 0)) { print "thesis-compare: fractions must satisfy F1 > F2 > F3 > 0, got ".ARG3." ".ARG4." ".ARG5; exit status 2 }
NAME = "thesis-compare"; CHECK_EXP = "thesis-compare"; DB_OPTS = "-steps -sep ' '"
load "plots/db.gp"
q(s) = system(SQL."\"".s."\"")
f(x) = sprintf("%.6g", x)
# finished runs (crashed and timed-out ones too: they are counted) that stop at F3
R = "r.experiment = 'thesis-compare' AND r.status IN ('ok', 'converged', 'diverged', 'timeout', 'crashed') AND abs(r.epsilon - ".f(F3).") < 1e-9"
runs_n_s = q("SELECT count(*) FROM runs r WHERE ".R)
runs_n = runs_n_s eq "" ? 0 : int(runs_n_s)  # "" when the database has no such table
if (runs_n < 1) { print "thesis-compare: no finished runs of experiment thesis-compare with stop.epsilon ".f(F3)." in ".DB." (run: make thesis-compare)"; exit status 1 }

cross(F, what) = "min(CASE WHEN s.k >= 256 AND s.rl <= ".f(F)." * r.initial_loss THEN ".what." END)"
evt(F) = "CASE WHEN ev.v <= ".f(F)." * r.initial_loss THEN ev.t_ns END"
# Q: rows "kind alg threads j a b c d e" with
#   kind 1 (box):     j = metric (1-3 time to F1-F3 s, 4 epoch time s, 5 epochs to F3),
#                     a = n, b = q1, c = median, d = q3, e = whisker low, and column 10 = whisker high
#   kind 2 (outlier): j, a = value
#   kind 3 (counts):  a = runs, b = crashed or timed out, c/d/e = not converged to F1/F2/F3
Q = "WITH lab AS (SELECT label, row_number() OVER (ORDER BY min(run_id)) AS alg FROM runs r WHERE ".R." GROUP BY label), " . \
  "s AS (SELECT st.run_id, st.t_end_ns, row_number() OVER w AS k, avg(st.loss) OVER (w ROWS BETWEEN 255 PRECEDING AND CURRENT ROW) AS rl " . \
  "  FROM steps st WHERE st.accepted = 1 AND st.run_id IN (SELECT run_id FROM runs r WHERE ".R.") WINDOW w AS (PARTITION BY st.run_id ORDER BY st.finish)), " . \
  "c AS (SELECT r.run_id, ".cross(F1, "s.t_end_ns")." AS c1, ".cross(F2, "s.t_end_ns")." AS c2, ".cross(F3, "s.t_end_ns")." AS c3, ".cross(F3, "s.k")." AS k3 " . \
  "  FROM runs r JOIN s ON s.run_id = r.run_id WHERE ".R." GROUP BY r.run_id), " . \
  "ev AS (SELECT run_id, min(t_ns) AS t_ns, min(value) AS v FROM events WHERE kind = 'epsilon' GROUP BY run_id), " . \
  "per AS (SELECT lab.alg, r.threads, r.status IN ('crashed', 'timeout') AS crashed, " . \
  "  coalesce(c.c1, ".evt(F1).") / 1e9 AS t1, coalesce(c.c2, ".evt(F2).") / 1e9 AS t2, coalesce(c.c3, ".evt(F3).") / 1e9 AS t3, " . \
  "  CASE WHEN r.status NOT IN ('crashed', 'timeout') AND r.epochs > 0 THEN r.wall_s / r.epochs END AS epoch_s, " . \
  "  CASE WHEN c.k3 IS NOT NULL THEN c.k3 * r.epochs / r.steps_accepted WHEN ev.v <= ".f(F3)." * r.initial_loss THEN r.epochs END AS ep3 " . \
  "  FROM runs r JOIN lab ON lab.label = r.label LEFT JOIN c ON c.run_id = r.run_id LEFT JOIN ev ON ev.run_id = r.run_id WHERE ".R."), " . \
  "u AS (SELECT alg, threads, 1 AS j, t1 AS v FROM per WHERE t1 IS NOT NULL UNION ALL SELECT alg, threads, 2, t2 FROM per WHERE t2 IS NOT NULL " . \
  "  UNION ALL SELECT alg, threads, 3, t3 FROM per WHERE t3 IS NOT NULL UNION ALL SELECT alg, threads, 4, epoch_s FROM per WHERE epoch_s IS NOT NULL " . \
  "  UNION ALL SELECT alg, threads, 5, ep3 FROM per WHERE ep3 IS NOT NULL), " . \
  "o AS (SELECT alg, threads, j, v, row_number() OVER (PARTITION BY alg, threads, j ORDER BY v) AS rn, count(*) OVER (PARTITION BY alg, threads, j) AS n FROM u), " . \
  "qt AS (SELECT alg, threads, j, n, max(CASE WHEN rn <= (n + 3) / 4 THEN v END) AS q1, max(CASE WHEN rn <= (n + 1) / 2 THEN v END) AS med, " . \
  "  max(CASE WHEN rn <= (3 * n + 3) / 4 THEN v END) AS q3 FROM o GROUP BY alg, threads, j, n) " . \
  "SELECT 1, qt.alg, qt.threads, qt.j, qt.n, qt.q1, qt.med, qt.q3, " . \
  "  (SELECT min(v) FROM u WHERE u.alg = qt.alg AND u.threads = qt.threads AND u.j = qt.j AND u.v >= qt.q1 - 1.5 * (qt.q3 - qt.q1)), " . \
  "  (SELECT max(v) FROM u WHERE u.alg = qt.alg AND u.threads = qt.threads AND u.j = qt.j AND u.v <= qt.q3 + 1.5 * (qt.q3 - qt.q1)) FROM qt " . \
  "UNION ALL SELECT 2, u.alg, u.threads, u.j, u.v, 0, 0, 0, 0, 0 FROM u JOIN qt USING(alg, threads, j) " . \
  "  WHERE u.v < qt.q1 - 1.5 * (qt.q3 - qt.q1) OR u.v > qt.q3 + 1.5 * (qt.q3 - qt.q1) " . \
  "UNION ALL SELECT 3, alg, threads, 0, count(*), sum(crashed), sum(NOT crashed AND t1 IS NULL), sum(NOT crashed AND t2 IS NULL), sum(NOT crashed AND t3 IS NULL), 0 " . \
  "  FROM per GROUP BY alg, threads"

set table $D
plot "< ".SQL."\"".Q."\"" using 1:2:3:4:5:6:7:8:9:10 with table
unset table

labels_n = int(q("SELECT count(DISTINCT label) FROM runs r WHERE ".R))
label(i) = q("SELECT label FROM (SELECT label, min(run_id) AS first FROM runs r WHERE ".R." GROUP BY label) ORDER BY first LIMIT 1 OFFSET ".(i-1))
threads_n = int(q("SELECT count(DISTINCT threads) FROM runs r WHERE ".R))
threads(c) = int(q("SELECT DISTINCT threads FROM runs r WHERE ".R." ORDER BY threads LIMIT 1 OFFSET ".(c-1)))
reps_n = int(q("SELECT max(repetition) + 1 FROM runs r WHERE ".R))
setting = q("SELECT printf('%s %s, %s, eta %g, B %d, limit %g s', dataset, model, optimizer, lr, batch, json_extract(spec, '$.stop_seconds')) FROM runs r WHERE ".R." LIMIT 1")
machine = q("SELECT host || ', ' || cpu_model FROM runs r WHERE ".R." LIMIT 1")
scale = ARG6 eq "" ? "quick" : ARG6
pct(x) = sprintf("%g%%", 100 * x)

# panel y ranges: the largest whisker or outlier of a row, over all thread counts
stats $D using ($1 != 3 && $4 <= 3 ? ($1 == 1 ? $10 : $5) : NaN) nooutput
tmax = STATS_records > 0 ? STATS_max : 1
stats $D using ($1 != 3 && $4 == 4 ? ($1 == 1 ? $10 : $5) : NaN) nooutput
emax = STATS_records > 0 ? STATS_max : 1
stats $D using ($1 != 3 && $4 == 5 ? ($1 == 1 ? $10 : $5) : NaN) nooutput
pmax = STATS_records > 0 ? STATS_max : 1

# outl[5 * (c - 1) + j]: outlier rows of metric j at the c-th thread count.
# An outlier series is plotted only when it has rows (an empty one makes
# gnuplot warn "no valid points"); the box and label series always have rows.
array mt[threads_n]
do for [c=1:threads_n] { mt[c] = threads(c) }
array outl[5 * threads_n]
do for [k=1:5 * threads_n] { outl[k] = 0 }
do for [i=1:|$D|] {
  if (words($D[i]) >= 4 && int(word($D[i], 1) + 0) == 2) {
    do for [c=1:threads_n] {
      if (mt[c] == int(word($D[i], 3) + 0)) { k = 5 * (c - 1) + int(word($D[i], 4) + 0); outl[k] = outl[k] + 1 }
    }
  }
}
off(j) = (j - 2) * 0.26
# the plot clause for the outliers of metric j at the c-th thread count, drawn
# at x offset x in line style ls; "" when there are none
outliers(c, j, x, ls) = outl[5 * (c - 1) + j] > 0 ? sprintf('$D using ($1 == 2 && $3 == %d && $4 == %d ? $2 + %g : NaN):5 with points ls %d pt 6 notitle, ', mt[c], j, x, ls) : ""
do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size (560 * threads_n + 60), 1060 font "Sans,9"', 'size (4.6 * threads_n + 0.5)in, 8.8in font "Sans,7"')
  set multiplot layout 3, threads_n columnsfirst title sprintf("Thesis Figs. 4.19-4.21: epsilon-convergence per synchronization method (%s scale: epsilon = %s, %s, %s of the initial loss)\n%s; %d runs per algorithm and m; %s", scale, pct(F1), pct(F2), pct(F3), setting, reps_n, machine)
  set style fill solid 0.35 border -1
  set boxwidth 0.22 absolute
  set xrange [0.4 : labels_n + 0.6]
  set xtics () nomirror rotate by -20 left
  do for [i=1:labels_n] { set xtics add (label(i) i) }
  set grid ytics
  do for [c=1:threads_n] {
    m = mt[c]
    # the outlier series of this column that have rows, as plot clauses
    OT = outliers(c, 1, off(1), 1).outliers(c, 2, off(2), 2).outliers(c, 3, off(3), 3)
    OE = outliers(c, 4, 0, 5)
    OP = outliers(c, 5, 0, 6)
    set title sprintf("time to epsilon-convergence, m = %d threads\n{/*0.9 above each method: miss = runs not reaching %s/%s/%s, crash = crashed or timed out (of n runs)}", m, pct(F1), pct(F2), pct(F3)) enhanced
    set ylabel "seconds to epsilon-convergence"
    set yrange [0 : 1.36 * tmax]
    set key inside top left horizontal box opaque
    eval 'plot for [j=1:3] $D using ($1 == 1 && $3 == m && $4 == j ? $2 + off(j) : NaN):6:9:10:8 with candlesticks whiskerbars ls j title "epsilon = ".(j == 1 ? pct(F1) : j == 2 ? pct(F2) : pct(F3)), \
         for [j=1:3] $D using ($1 == 1 && $3 == m && $4 == j ? $2 + off(j) : NaN):7:7:7:7 with candlesticks lc rgb "black" lw 2 notitle, '.OT.' \
         $D using ($1 == 3 && $3 == m ? $2 : NaN):(1.16 * tmax):(sprintf("miss %d/%d/%d\ncrash %d/%d", $7, $8, $9, $6, $5)) with labels font ",8" notitle'
    unset key
    set title sprintf("time per epoch (computational efficiency), m = %d threads", m)
    set ylabel "seconds per epoch"
    set yrange [0 : 1.15 * emax]
    eval 'plot $D using ($1 == 1 && $3 == m && $4 == 4 ? $2 : NaN):6:9:10:8 with candlesticks whiskerbars ls 5 notitle, \
         $D using ($1 == 1 && $3 == m && $4 == 4 ? $2 : NaN):7:7:7:7 with candlesticks lc rgb "black" lw 2 notitle, '.OE.' \
         $D using ($1 == 3 && $3 == m ? $2 : NaN):(1.07 * emax):(sprintf("%d runs", $5 - $6)) with labels font ",8" notitle'
    set title sprintf("epochs to %s of the initial loss (statistical efficiency), m = %d threads", pct(F3), m)
    set ylabel "epochs"
    set yrange [0 : 1.15 * pmax]
    eval 'plot $D using ($1 == 1 && $3 == m && $4 == 5 ? $2 : NaN):6:9:10:8 with candlesticks whiskerbars ls 6 notitle, \
         $D using ($1 == 1 && $3 == m && $4 == 5 ? $2 : NaN):7:7:7:7 with candlesticks lc rgb "black" lw 2 notitle, '.OP.' \
         $D using ($1 == 3 && $3 == m ? $2 : NaN):(1.07 * pmax):(sprintf("%d/%d conv.", $5 - $6 - $9, $5)) with labels font ",8" notitle'
  }
  unset multiplot
  set output
}
