# thesis-backoff.gp - thesis Figs. 4.22-4.23 from results.db: for every
# thread count one column of two panels, grouped by algorithm (runs.label)
# with one box per backoff scheme (runs.backoff):
#   top     seconds to epsilon-convergence (time of the run's 'epsilon'
#           event): box = quartiles (nearest rank, as plots/views.sql),
#           black bar = median, whiskers = min and max, points = the runs
#           (drawn by hand: gnuplot's boxplot draws only points below 4);
#           runs that did not converge in time or crashed are counted above
#           the box ("n/c k", "crash k")
#   bottom  contention: the store's failed attempts (failed try-locks or
#           CASes, event store_retries) per accepted step, mean over the
#           runs; with no backoff the locks block inside pthreads and count
#           no retries, so only leashed has a "none" bar there; the panel's
#           key names only the schemes that have a bar in it
# Reads only runs of experiment 'thesis-backoff'.
#   gnuplot -c plots/thesis-backoff.gp DB OUTDIR
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "thesis-backoff"; CHECK_EXP = "thesis-backoff"; DB_OPTS = ""
load "plots/db.gp"
W = "experiment = 'thesis-backoff' AND status IN ('ok','converged','diverged','crashed','timeout')"
n_runs = int(system(SQL."\"SELECT count(*) FROM runs WHERE ".W."\""))
if (n_runs < 1) { print "thesis-backoff: no finished runs of experiment thesis-backoff in ".DB; exit status 1 }

LBL = "(SELECT label FROM runs WHERE ".W." GROUP BY label ORDER BY min(run_id))"
n_lbl = int(system(SQL."\"SELECT count(*) FROM ".LBL."\""))
n_thr = int(system(SQL."\"SELECT count(DISTINCT threads) FROM runs WHERE ".W."\""))
label(i) = system(SQL."\"SELECT label FROM ".LBL." LIMIT 1 OFFSET ".(i-1)."\"")
thr(j) = int(system(SQL."\"SELECT DISTINCT threads FROM runs WHERE ".W." ORDER BY threads LIMIT 1 OFFSET ".(j-1)."\""))
# the four schemes in the thesis's order; a scheme without runs is left out of the legend
BO = "none linear exponential random"
reps = int(system(SQL."\"SELECT max(n) FROM (SELECT count(*) AS n FROM runs WHERE ".W." GROUP BY label, threads, backoff)\""))
limit_s = real(system(SQL."\"SELECT max(json_extract(spec, '$.stop_seconds')) FROM runs WHERE ".W."\""))
eps = real(system(SQL."\"SELECT max(epsilon) FROM runs WHERE ".W."\""))
setting = system(SQL."\"SELECT group_concat(s, '; ') FROM (SELECT DISTINCT label || ' η ' || printf('%g', lr) || ' B ' || batch AS s FROM runs WHERE ".W." ORDER BY run_id)\"")
machine = system(SQL."\"SELECT host || ', ' || cpu_model || ', ' || dataset || ' ' || model FROM runs WHERE ".W." LIMIT 1\"")
scale = system(SQL."\"SELECT CASE WHEN max(threads) >= 16 THEN 'paper' ELSE 'quick' END FROM runs WHERE ".W."\"")

# Every query of a panel returns all its groups at once (an empty group would
# make gnuplot warn); x = (algorithm - 1) * 5 + scheme, column "lt" = 10 +
# scheme selects the line type (set below) by "lc variable".
T = "CASE WHEN status = 'converged' THEN coalesce((SELECT min(e.t_ns) / 1e9 FROM events e WHERE e.run_id = r.run_id AND e.kind = 'epsilon'), wall_s) END"
RX = "WITH l AS (SELECT label, row_number() OVER (ORDER BY min(run_id)) AS li FROM runs WHERE ".W." GROUP BY label), b AS (SELECT column1 AS backoff, column2 AS bi FROM (VALUES ('none', 1), ('linear', 2), ('exponential', 3), ('random', 4))), x AS (SELECT r.*, (l.li - 1) * 5 + b.bi AS x, 10 + b.bi AS lt, ".T." AS t FROM runs r JOIN l USING (label) JOIN b USING (backoff) WHERE ".W.")"
# x | t | lt: every converged run
times(j) = "< ".SQL."\"".RX." SELECT x, t, lt FROM x WHERE threads = ".thr(j)." AND t IS NOT NULL\""
# converged runs of scheme b in panel j: its time key names only schemes with a
# drawn box (a scheme whose runs all missed epsilon has only its n/c label)
has_t(j, b) = int(system(SQL."\"".RX." SELECT count(*) FROM x WHERE threads = ".thr(j)." AND lt = ".(10 + b)." AND t IS NOT NULL\""))
# x | min | q1 | median | q3 | max | lt of each group's times
quart(j) = "< ".SQL."\"".RX.", q AS (SELECT x, lt, t, row_number() OVER (PARTITION BY x ORDER BY t) AS rn, count(*) OVER (PARTITION BY x) AS n FROM x WHERE threads = ".thr(j)." AND t IS NOT NULL) SELECT x, min(t), max(CASE WHEN rn <= (n + 3) / 4 THEN t END), max(CASE WHEN rn <= (n + 1) / 2 THEN t END), max(CASE WHEN rn <= (3 * n + 3) / 4 THEN t END), max(t), lt FROM q GROUP BY x, lt\""
# x | text: not converged / crashed counts (a blank row outside the x range keeps it non-empty)
fails(j) = "< ".SQL."\"".RX." SELECT x, trim(CASE WHEN sum(status = 'ok') > 0 THEN 'n/c ' || sum(status = 'ok') ELSE '' END || ' ' || CASE WHEN sum(status IN ('diverged','crashed','timeout')) > 0 THEN 'crash ' || sum(status IN ('diverged','crashed','timeout')) ELSE '' END) AS txt FROM x WHERE threads = ".thr(j)." GROUP BY x HAVING txt <> '' UNION ALL SELECT -10, ' '\""
# x | mean failed attempts per accepted step | lt (zero bars left out: log axis)
contention(j) = "< ".SQL."\"".RX." SELECT x.x, avg(e.value / max(x.steps_accepted, 1)) AS v, x.lt FROM x JOIN events e ON e.run_id = x.run_id AND e.kind = 'store_retries' WHERE x.threads = ".thr(j)." GROUP BY x.x, x.lt HAVING v > 0\""
# bars of scheme b in panel j's contention plot: its key names only drawn ones
has_c(j, b) = int(system(SQL."\"".RX." SELECT count(*) FROM (SELECT x.x, avg(e.value / max(x.steps_accepted, 1)) AS v FROM x JOIN events e ON e.run_id = x.run_id AND e.kind = 'store_retries' WHERE x.threads = ".thr(j)." AND x.lt = ".(10 + b)." GROUP BY x.x HAVING v > 0)\""))
# "min max" of those values ("0 0" if none): the log axis's range is set from
# them, so a panel whose bars are all equal gets a range instead of a warning
crange(j) = system(SQL."\"".RX.", c AS (SELECT avg(e.value / max(x.steps_accepted, 1)) AS v FROM x JOIN events e ON e.run_id = x.run_id AND e.kind = 'store_retries' WHERE x.threads = ".thr(j)." GROUP BY x.x HAVING v > 0) SELECT coalesce(min(v), 0) || ' ' || coalesce(max(v), 0) FROM c\"")

xt = ""
do for [i = 1:n_lbl] { xt = xt.(i > 1 ? ", " : "").sprintf("'%s' %g", label(i), (i - 1) * 5 + 2.5) }
eval "set xtics (".xt.")"
set xrange [0:n_lbl * 5]
set boxwidth 0.7
set style fill solid 0.35 border
unset grid
set grid ytics
set key outside right top box opaque
set linetype 11 lc rgb "#4d4d4d" lw 1.5 pt 7 ps 0.8
set linetype 12 lc rgb "#1f77b4" lw 1.5 pt 5 ps 0.8
set linetype 13 lc rgb "#d62728" lw 1.5 pt 9 ps 0.9
set linetype 14 lc rgb "#2ca02c" lw 1.5 pt 11 ps 0.9

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 700 * n_thr + 150, 860 font "Sans,10"', 'size (5.5 * n_thr + 1.2) * 1in, 7in font "Sans,8"')
  set multiplot layout 2, n_thr title sprintf("Thesis Figs. 4.22-4.23: linear / exponential / random / no backoff, time to ε = %g%% of the initial training loss\n%s scale, %d run(s) per box, %g s limit, OS placement; %s; %s", eps * 100, scale, reps, limit_s, setting, machine)
  do for [j = 1:n_thr] {
    set title sprintf("%d threads: seconds to ε (n/c: not converged in %g s)", thr(j), limit_s)
    set ylabel "seconds to ε"
    set yrange [0:limit_s * 1.15]
    plot quart(j) using 1:3:2:6:5:7 with candlesticks whiskerbars 0.5 lc variable notitle, \
         quart(j) using 1:4:4:4:4 with candlesticks lc rgb "black" lw 2 notitle, \
         times(j) using 1:2:3 with points lc variable pt 7 notitle, \
         fails(j) using 1:(limit_s * 1.07):2 with labels font ",8" notitle, \
         for [b = 1:4] keyentry with boxes lt (10 + b) title (has_t(j, b) ? word(BO, b) : "")
    set title sprintf("%d threads: contention (no backoff: the locks block, no retries counted)", thr(j))
    set ylabel "failed try-locks / CASes per accepted step"
    set logscale y 10
    cr = crange(j)
    c_lo = word(cr, 1) + 0.0
    c_hi = word(cr, 2) + 0.0
    if (c_hi > 0) {
      set yrange [c_lo / 3.0 : c_hi * 3.0]
      plot contention(j) using 1:2:3 with boxes lc variable notitle, \
           for [b = 1:4] keyentry with boxes lt (10 + b) title (has_c(j, b) ? word(BO, b) : "")
    } else {
      # nothing to draw: say so (an empty data source would only warn)
      set yrange [0.001 : 1]
      set label 99 "no failed try-locks or CASes recorded" at graph 0.5, 0.5 center
      # (and no key: its entries would name boxes drawn nowhere)
      plot 0.01 with lines lc rgb "white" notitle
      unset label 99
    }
    unset logscale y
  }
  unset multiplot
  set output
}
