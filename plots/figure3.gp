# figure3.gp - paper Fig. 3a-c from results.db (experiment 'figure3').
# Staleness tau = steps.staleness of ACCEPTED steps (the updates that reached
# the model), as in plots/views.sql.
#   3a  mean tau vs the interval size y (log x) of the constant-y IntAsync
#       runs, Async's mean tau as a dashed line; also the largest tau seen
#       and the bound y - 1 that no accepted step may exceed
#   3b  the distribution of tau (share of accepted steps per tau) per y,
#       Async's dotted; lines with a point per bin (a one-bin series is drawn)
#   3c  the y-decay run: tau quartiles (q1, median, q3; nearest rank) and
#       largest tau of the accepted steps in each of NBINS time bins, with the
#       y in force and the thread count m
#   gnuplot -c plots/figure3.gp DB OUTDIR
# The queries (all numbers plotted come from them):
#   3a: SELECT r.y0, s.tau_mean, s.tau_max FROM runs r JOIN ".SUMM." s USING(run_id)
#       WHERE r.experiment = 'figure3' AND r.sync = 'interval' AND r.y_control = 'const'
#   3b: SELECT staleness / TW, sum(frac) * 100 / TW FROM v_staleness_hist WHERE run_id = R AND accepted > 0
#       GROUP BY staleness / TW
#   (both views' definitions are written out below, restricted to this
#   experiment's runs, so that a large results.db does not slow the figure)
#   3c: quartiles per time bin over steps WHERE run_id = (the decay run) AND accepted
DB = ARG1
OUT = ARG2
NBINS = 40
load "plots/style.gp"
NAME = "figure3"; CHECK_EXP = "figure3"; DB_OPTS = "-steps"
load "plots/db.gp"
q(s) = system(SQL."\"".s."\"")
OKR = "r.experiment = 'figure3' AND r.status IN ('ok','converged')"
WI = OKR." AND r.sync = 'interval' AND r.y_control = 'const'"
# tau_mean and tau_max of v_staleness_summary (plots/views.sql), computed for
# this experiment's finished runs only: the view works through the steps of
# every run in the database (window functions keep SQLite from filtering
# first), which took minutes per figure once a whole sweep is in results.db
SUMM = "(SELECT run_id, count(*) AS n_accepted, avg(staleness) AS tau_mean, max(staleness) AS tau_max FROM steps WHERE accepted = 1 AND run_id IN (SELECT run_id FROM runs WHERE experiment = 'figure3' AND status IN ('ok','converged','diverged')) GROUP BY run_id)"
NY = int(q("SELECT count(*) FROM runs r JOIN ".SUMM." s USING(run_id) WHERE ".WI))
if (NY < 1) { print "figure3: no finished constant-y interval runs (with steps rows) of experiment figure3 in ".DB; exit status 1 }
RA = q("SELECT max(r.run_id) FROM runs r JOIN ".SUMM." s USING(run_id) WHERE ".OKR." AND r.sync = 'async' AND r.y_control = 'const'")
if (RA eq "") { print "figure3: no finished async run (with steps rows) of experiment figure3 in ".DB; exit status 1 }
RD = q("SELECT max(r.run_id) FROM runs r JOIN ".SUMM." s USING(run_id) WHERE ".OKR." AND r.sync = 'interval' AND r.y_control = 'decay'")
if (RD eq "") { print "figure3: no finished y-decay interval run (with steps rows) of experiment figure3 in ".DB; exit status 1 }

# 3a/3b: one run per y (the latest if repeated)
YRUNS = "SELECT r.y0, max(r.run_id) AS run_id FROM runs r JOIN ".SUMM." s USING(run_id) WHERE ".WI." GROUP BY r.y0"
MEAN = "< ".SQL."\"SELECT y.y0, s.tau_mean, s.tau_max, y.y0 - 1 FROM (".YRUNS.") y JOIN ".SUMM." s USING(run_id) ORDER BY y.y0\""
ASYNC_MEAN = real(q("SELECT tau_mean FROM ".SUMM." WHERE run_id = ".RA))
ASYNC_MAX = int(q("SELECT tau_max FROM ".SUMM." WHERE run_id = ".RA))
MI = int(q("SELECT max(threads) FROM runs r WHERE ".WI))
MA = int(q("SELECT threads FROM runs WHERE run_id = ".RA))
YMAX = real(q("SELECT max(r.y0) FROM runs r WHERE ".WI))
TAUTOP = real(q("SELECT max(s.tau_max) FROM runs r JOIN ".SUMM." s USING(run_id) WHERE ".WI))
TAUTOP = (TAUTOP > ASYNC_MAX ? TAUTOP : ASYNC_MAX) * 1.15 + 1
# 3b leaves out y = 1 (every accepted step has tau 0: one point at 100%)
NYB = int(q("SELECT count(*) FROM (".YRUNS.") WHERE y0 > 1"))
yval(i) = q("SELECT y0 FROM (".YRUNS.") WHERE y0 > 1 ORDER BY y0 LIMIT 1 OFFSET ".(i-1))
yrun(i) = q("SELECT run_id FROM (".YRUNS.") WHERE y0 > 1 ORDER BY y0 LIMIT 1 OFFSET ".(i-1))
# 3b's bins: TW tau values each (1 up to tau 30, ~30 bins beyond), the share
# of accepted steps per tau value averaged over the bin
hist(r) = "< ".SQL."\"SELECT (staleness / ".TW.") * ".TW." + (".TW." - 1) / 2.0, sum(frac) * 100 / ".TW.\
          " FROM (SELECT staleness, sum(accepted) AS accepted, CAST(sum(accepted) AS REAL) / sum(sum(accepted)) OVER () AS frac FROM steps WHERE run_id = ".r." GROUP BY staleness) WHERE accepted > 0 GROUP BY staleness / ".TW." ORDER BY 1\""
# 3b's x range: up to Async's 99th percentile of tau (nearest rank)
TAU99 = int(q("WITH a AS (SELECT staleness, row_number() OVER (ORDER BY staleness) AS rn, count(*) OVER () AS n ".\
              "FROM steps WHERE run_id = ".RA." AND accepted) SELECT max(staleness) FROM a WHERE rn <= (99 * n + 99) / 100"))
TW = (TAU99 + 29) / 30
TW = TW < 1 ? 1 : TW
# (the two palest of the sequential palette darkened: visible on white)
array PT[10] = [6, 4, 8, 10, 12, 14, 6, 4, 8, 10]
array COL[10] = ["#f2b45c", "#f59b57", "#fc8d59", "#ef6548", "#d7301f", "#b30000", "#7f0000", "#54278f", "#3f007d", "#000000"]

# 3c: time bins over the decay run's accepted steps
T_END = real(q("SELECT max(t_end_ns) / 1e9 FROM steps WHERE run_id = ".RD." AND accepted"))
MD = int(q("SELECT threads FROM runs WHERE run_id = ".RD))
Y0D = int(q("SELECT y0 FROM runs WHERE run_id = ".RD))
KD = q("SELECT json_extract(spec, '$.y_decay_k') FROM runs WHERE run_id = ".RD)
BINS = "< ".SQL."\"WITH b AS (SELECT CAST(t_end_ns / 1e9 * ".NBINS." / ".sprintf("%.9f", T_END)." AS INT) AS bin, staleness AS s, y ".\
       "FROM steps WHERE run_id = ".RD." AND accepted), ".\
       "k AS (SELECT bin, s, y, row_number() OVER (PARTITION BY bin ORDER BY s) AS rn, count(*) OVER (PARTITION BY bin) AS n FROM b) ".\
       "SELECT (min(bin, ".(NBINS-1).") + 0.5) * ".sprintf("%.9f", T_END / NBINS).", ".\
       "max(CASE WHEN rn <= (n + 3) / 4 THEN s END), max(CASE WHEN rn <= (n + 1) / 2 THEN s END), ".\
       "max(CASE WHEN rn <= (3 * n + 3) / 4 THEN s END), max(s), max(y), min(y), n FROM k GROUP BY min(bin, ".(NBINS-1).") ORDER BY 1\""
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'"))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
machine = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated m-core machine (m in each panel), step time ' || ".VST." ELSE host || ', ' || cpu_model END || ', ' || dataset || ' ' || model || ' batch ' || batch FROM runs WHERE run_id = ".RA)
secs = q("SELECT printf(CASE WHEN max(".VC." = 'virtual') THEN '%.3f' ELSE '%.1f' END, avg(wall_s)) FROM runs r WHERE ".WI)
VIRT = int(q("SELECT count(*) FROM runs WHERE run_id = ".RA." AND ".VC." = 'virtual'"))
unit = VIRT > 0 ? "virtual s" : "s"
scale = VIRT > 0 ? "quick" : ((MI >= 32 && q("SELECT dataset FROM runs WHERE run_id = ".RA) ne "fashion-mnist") ? "paper" : "quick")

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 1500,520 font "Sans,10"', 'size 14in,4.6in font "Sans,9"')
  set multiplot layout 1,3 title sprintf("Fig. 3: the effect of the interval size y on staleness tau (accepted steps)\n{/*0.8 %s scale; %s; about %s %s per constant-y run}", scale, machine, secs, unit)

  # 3a
  set title sprintf("(a) mean tau vs y, m = %d threads", MI)
  set logscale x 2
  set xrange [0.8 : YMAX * 1.25]
  set xlabel "interval size y (steps, log scale)"
  set ylabel "tau (model versions)"
  set key inside top left box opaque
  set yrange [0 : TAUTOP]
  plot MEAN using 1:2 with linespoints ls 1 title "IntAsync: mean tau", \
       ASYNC_MEAN with lines dt 2 lw 2 lc rgb "#d62728" title sprintf("Async (m = %d): mean tau %.1f", MA, ASYNC_MEAN), \
       MEAN using 1:3 with points pt 6 ps 1.2 lc rgb "#2ca02c" title "IntAsync: largest tau", \
       (x >= 1 ? x - 1 : NaN) with lines lw 1 lc rgb "#777777" title "bound y - 1"
  unset logscale x

  # 3b
  set title sprintf("(b) distribution of tau per y, m = %d threads", MI)
  set xrange [-0.5 : TAU99 + 0.5]
  set logscale y 10
  set yrange [0.01 : 100]
  set xlabel sprintf("tau (model versions; up to Async's 99th percentile, %d; Async's max %d)", TAU99, ASYNC_MAX)
  set ylabel (TW > 1 ? sprintf("share of accepted steps per tau value (%%, mean over bins of %d; log)", TW) : "share of accepted steps per tau value (%, log scale)")
  # with points: a series whose tau values all fall into one bin (y = 2 with
  # bins of 3) is one point, which a line alone would not draw. Small y put
  # all their steps into the first bins, where several series can share a
  # value (each 100% / TW when all fall into bin 0): the markers are open
  # shapes, a different one per series, shrinking as y grows, so coinciding
  # points show as nested outlines.
  set key outside right top box opaque title "y (marker\nshrinks as y\ngrows)"
  plot for [i=1:NYB] hist(yrun(i)) using 1:2 with linespoints lw 2 pt PT[(i - 1) % 10 + 1] ps (0.5 + 0.16 * (NYB - i + 1)) lc rgb COL[(i - 1) % 10 + 1] title yval(i), \
       hist(RA) using 1:2 with linespoints dt 3 lw 3 pt 6 ps 0.8 lc rgb "#1f77b4" title "Async"
  unset logscale y
  set key noautotitle

  # 3c
  set title sprintf("(c) tau under y-decay: y0 = %d, y - 1 every %s accepted steps, m = %d", Y0D, KD, MD)
  set xrange [0 : T_END]
  set yrange [0 : *]
  set xlabel "time since the start of the run (s)"
  set ylabel "tau (model versions) / y"
  set key inside top right box opaque title ""
  plot BINS using 1:2:4 with filledcurves fc rgb "#9ecae1" fs solid 0.6 title "tau q1..q3", \
       BINS using 1:3 with lines lw 2 lc rgb "#08519c" title "tau median", \
       BINS using 1:5 with lines lw 1 lc rgb "#2ca02c" title "tau max", \
       BINS using 1:6 with steps lw 2 dt 2 lc rgb "#d62728" title "y in force (max per bin)", \
       MD with lines lw 1.5 dt 4 lc rgb "#555555" title sprintf("m = %d", MD)
  unset multiplot
  set output
}
print sprintf("figure3: %d constant-y runs, async mean tau %.2f (run %s), decay run %s", NY, ASYNC_MEAN, RA, RD)
