# table1.gp - paper Table 1 from results.db, as a markdown table
# (OUTDIR/table1.md) and as a figure (OUTDIR/table1.png, .pdf). Table 1 is
# computed from the runs of Fig. 4, so it reads the finished runs of
# experiment 'figure4' (diverged ones included). Per dataset and algorithm (runs.label):
#   best accuracy  = max over its runs (thread counts, repetitions) of the run's best test accuracy
#   avg. accuracy  = mean over its runs of the run's best test accuracy
#   common accuracy (per dataset) = the highest accuracy reached by ALL algorithms
#                  = min over algorithms of their best accuracy
#   best time      = min over its runs of the first time an evaluation reached the common accuracy
#   avg. time      = mean of that time over its runs, only when every run reached it; else "*"
#                    with the number of runs that did (the paper omits these averages too)
# One rounding rule for table1.md and table1.png: every shown number is
# rounded to one decimal, half up (away from zero: the values are >= 0), on
# its decimal value, by R1 below in SQL; both outputs print those same strings.
# (Accuracies are multiples of 0.05% when the test set has 2,000 images, so
# halves are common; C's and SQLite's printf round them differently, e.g.
# 89.35 is stored as 89.34999..: 89.3 in C, 89.4 in SQLite.)
# The accuracy panel's axis starts at a stated whole percent (in its label),
# not at 0: the bars differ by tenths of a point.
#   gnuplot -c plots/table1.gp DB OUTDIR
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "table1"; CHECK_EXP = "figure4"; DB_OPTS = ""
load "plots/db.gp"
# diverged runs count (a run that diverged is one of the algorithm's runs: its
# best accuracy is the best before the divergence)
W = "r.experiment = 'figure4' AND r.status IN ('ok','converged','diverged')"
q(s) = system(SQL."\"".s."\"")
# the rounding rule: one decimal, half up; the 1e-9 absorbs the binary error of
# a decimal half (89.35 * 10 = 893.4999..)
R1(c) = "printf('%.1f', CAST((".c.") * 10 + 0.5 + 1e-9 AS INTEGER) / 10.0)"
n_evals_s = q("SELECT count(*) FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND e.test_acc IS NOT NULL")
n_evals = n_evals_s eq "" ? 0 : int(n_evals_s)  # "" when the database has no such table
if (n_evals < 1) { print "table1: no evaluations of finished runs of experiment figure4 in ".DB." (run: make table1)"; exit status 1 }

# One row per dataset and label: dataset, label, best acc %, avg acc %, common acc %,
# best time s (-1: never), avg time s (-1: not every run reached it), runs that
# reached it, runs, thread counts of the best run(s).
T = "WITH rb AS (SELECT r.run_id, r.dataset, r.label, r.threads, max(e.test_acc) AS best FROM runs r JOIN evals e USING(run_id) WHERE ".W." GROUP BY r.run_id), " . \
    "lb AS (SELECT dataset, label, max(best) AS lbest, avg(best) AS lavg, count(*) AS n FROM rb GROUP BY dataset, label), " . \
    "cm AS (SELECT dataset, min(lbest) AS acc FROM lb GROUP BY dataset), " . \
    "tt AS (SELECT rb.dataset, rb.label, (SELECT min(e.t_ns) / 1e9 FROM evals e WHERE e.run_id = rb.run_id AND e.test_acc >= cm.acc) AS t FROM rb JOIN cm USING(dataset)), " . \
    "ta AS (SELECT dataset, label, min(t) AS tbest, avg(t) AS tavg, count(t) AS reached FROM tt GROUP BY dataset, label) " . \
    "SELECT lb.dataset AS dataset, lb.label AS label, lb.lbest * 100 AS best, lb.lavg * 100 AS avg, cm.acc * 100 AS common, " . \
    "coalesce(ta.tbest, -1) AS tbest, CASE WHEN ta.reached = lb.n THEN ta.tavg ELSE -1 END AS tavg, ta.reached AS reached, lb.n AS n, " . \
    "(SELECT group_concat(threads, ', ') FROM (SELECT DISTINCT threads FROM rb WHERE rb.dataset = lb.dataset AND rb.label = lb.label AND rb.best = lb.lbest ORDER BY threads)) AS mbest, " . \
    R1("lb.lbest * 100")." AS best_s, ".R1("lb.lavg * 100")." AS avg_s, ".R1("cm.acc * 100")." AS common_s, " . \
    R1("ta.tbest")." AS tbest_s, ".R1("ta.tavg")." AS tavg_s " . \
    "FROM lb JOIN cm USING(dataset) JOIN ta USING(dataset, label)"
sets_n = int(q("SELECT count(DISTINCT dataset) FROM runs r WHERE ".W))
nth_set(k) = "(SELECT DISTINCT dataset FROM runs r WHERE ".W." ORDER BY dataset LIMIT 1 OFFSET ".(k-1).")"
dataset(k) = q("SELECT ".nth_set(k))
common(k) = q("SELECT common_s FROM (".T.") WHERE dataset = ".nth_set(k)." LIMIT 1")
md_rows(k) = q("SELECT printf('| %s | %s%% | %s%% | %s | %s | %s |', label, best_s, avg_s, mbest, " . \
  "CASE WHEN reached > 0 THEN tbest_s || ' s' ELSE 'never' END, " . \
  "CASE WHEN reached = n THEN tavg_s || ' s' ELSE printf('* (%d of %d runs reached it)', reached, n) END) " . \
  "FROM (".T.") WHERE dataset = ".nth_set(k)." ORDER BY label")
# columns: 1 label, 2 best, 3 avg, 4 tbest, 5 tavg, 6 reached, 7 n, 8-11 the
# rounded strings of 2-5 (the same as in table1.md)
bars(k) = "< ".SQL."\"SELECT label, best, avg, tbest, tavg, reached, n, best_s, avg_s, coalesce(tbest_s, ''), coalesce(tavg_s, '') FROM (".T.") WHERE dataset = ".nth_set(k)." ORDER BY label\""
n_labels(k) = int(q("SELECT count(*) FROM (".T.") WHERE dataset = ".nth_set(k)))
n_full(k) = int(q("SELECT count(*) FROM (".T.") WHERE dataset = ".nth_set(k)." AND tavg >= 0"))
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'"))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
machine = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated m-core machine, step time ' || ".VST." || ', virtual time' ELSE host || ', ' || cpu_model END || ', ' || model FROM runs r WHERE ".W." LIMIT 1")
scale = q("SELECT CASE WHEN max(".VC." = 'virtual') THEN 'quick' WHEN max(threads) >= 32 THEN 'paper' ELSE 'quick' END FROM runs r WHERE ".W)
threads_all = q("SELECT group_concat(threads, ', ') FROM (SELECT DISTINCT threads FROM runs r WHERE ".W." ORDER BY threads)")
reps_n = int(q("SELECT max(repetition) + 1 FROM runs r WHERE ".W))

# --- markdown ---------------------------------------------------------------
set print OUT."/table1.md"
print sprintf("<!-- generated by plots/table1.gp from %s; do not edit -->", DB)
print sprintf("Table 1 (%s scale; %s; m = %s threads; %d repetition(s)): best and average best test", scale, machine, threads_all, reps_n)
print "accuracy over the runs of each algorithm, and the training time until the test accuracy first"
print "reached the highest accuracy that every algorithm reached (the common accuracy)."
print "\"*\": not every run reached it, so no average (as in the paper)."
print "Every number is rounded to one decimal, half up (89.35 -> 89.4), the same digits as table1.png."
do for [k=1:sets_n] {
  print ""
  print sprintf("**%s**, common accuracy %s%%:", dataset(k), common(k))
  print ""
  print sprintf("| algorithm | best acc. | avg. acc. | m of best | time to %s%%: best | avg. |", common(k))
  print "|---|---|---|---|---|---|"
  print md_rows(k)
}
unset print

# --- figure -----------------------------------------------------------------
# Value labels of the time panel (a macro: defined outside the loops, which expand
# macros when they are read). Where a bar is missing, its reason is written upwards
# inside its slot, so it stays within the slot and the plot.
TL = "bars(k) using ($0 - 0.19):($4 < 0 ? 0 : $4):($4 < 0 ? '' : strcol(10)) with labels offset 0,0.7 font ',8' notitle, " . \
  "'' using ($0 - 0.19):(0):($4 < 0 ? 'never' : '') with labels rotate by 90 left offset 0,0.5 font ',8' notitle, " . \
  "'' using ($0 + 0.19):($5 < 0 ? 0 : $5):($5 < 0 ? '' : strcol(11)) with labels offset 0,0.7 font ',8' notitle, " . \
  "'' using ($0 + 0.19):(0):($5 < 0 ? sprintf('*: %d of %d runs', $6, $7) : '') with labels rotate by 90 left offset 0,0.5 font ',8' "
TIMELABELS = TL . "notitle"
# without any avg. bar, the key entry for avg. goes with the "*" labels: a
# box sample for bars drawn nowhere would be a key entry of nothing
TIMELABELS0 = TL . "title AVGT0"
AVGT = "avg. (*: not every run reached it)"
AVGT0 = "avg.: * = not every run reached it (no bar)"
do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 1300, (420 * sets_n + 60) font "Sans,10"', 'size 10in, (3.3 * sets_n + 0.4)in font "Sans,8"')
  set multiplot layout sets_n, 2 title sprintf("Table 1: best/avg. accuracy and time to the common accuracy (%s scale; %s; m = %s)", scale, machine, threads_all)
  set style fill solid 0.8 border -1
  set boxwidth 0.36
  set xtics rotate by -20 left nomirror font ",9"
  set bmargin 6
  # a compact key (as wide as its text) in the headroom the y ranges leave above the bars;
  # room on the right for the last rotated tic label
  set key inside top left Left reverse samplen 2 box opaque
  set rmargin 8
  unset xlabel
  do for [k=1:sets_n] {
    set autoscale x
    set title sprintf("%s: test accuracy over all runs", dataset(k))
    set yrange [*:*]
    stats bars(k) using 3 nooutput
    lo = STATS_min
    stats bars(k) using 2 nooutput
    hi = STATS_max
    # the axis starts at a whole percent below the lowest bar, stated in the label
    base = floor(lo - 0.6 * (hi - lo) - 0.5)
    base = base < 0 ? 0 : base
    set ylabel sprintf("test accuracy (%%; axis starts at %d%%, not 0)", base)
    set yrange [base : hi + 0.4 * (hi - lo) + 0.5]
    set xrange [-0.6 : n_labels(k) - 0.4]
    plot bars(k) using ($0 - 0.19):2:xtic(1) with boxes ls 1 title "best", \
         ''      using ($0 + 0.19):3 with boxes ls 2 title "avg.", \
         ''      using ($0 - 0.19):2:(strcol(8)) with labels offset 0,0.7 font ",8" notitle, \
         ''      using ($0 + 0.19):3:(strcol(9)) with labels offset 0,0.7 font ",8" notitle
    set title sprintf("%s: training time until the test accuracy first reached %s%%", dataset(k), common(k))
    set ylabel sprintf("seconds to %s%% test accuracy", common(k))
    set yrange [*:*]
    set autoscale x
    # one column at a time: two-column stats fits a line and warns on two rows
    stats bars(k) using 4 nooutput
    hi = STATS_max
    stats bars(k) using 5 nooutput
    hi = STATS_max > hi ? STATS_max : hi
    set yrange [0 : (hi > 0 ? 1.3 * hi : 1)]
    set xrange [-0.6 : n_labels(k) - 0.4]
    # The avg. bars are plotted only when there is one (an all-NaN data source makes
    # gnuplot warn, even in a for loop of no iterations); otherwise the "*" labels
    # carry the avg. key entry.
    if (n_full(k) > 0) {
      plot bars(k) using ($0 - 0.19):($4 < 0 ? NaN : $4):xtic(1) with boxes ls 1 title "best", \
           ''      using ($0 + 0.19):($5 < 0 ? NaN : $5) with boxes ls 2 title AVGT, \
           @TIMELABELS
    } else {
      plot bars(k) using ($0 - 0.19):($4 < 0 ? NaN : $4):xtic(1) with boxes ls 1 title "best", \
           @TIMELABELS0
    }
  }
  set autoscale x
  unset multiplot
  set output
}
