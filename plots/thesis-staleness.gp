# thesis-staleness.gp - thesis Figs. 4.13-4.18 (Ek 2021) from results.db, for
# the runs of experiment 'thesis-staleness': the distribution of the
# staleness tau of accepted updates (steps.staleness = versions applied
# between the step's read of theta and its apply) for each batch size, one
# panel per synchronization method (column) and thread count (row), averaged
# over the repetitions: the share of a run's accepted steps with each tau,
# summed over the runs of (method, m, B) and divided by their number; tau >= 4
# in half-octave bins (share / bin width, plotted at the bin's lower edge).
# Both axes are logarithmic (x = tau + 1, so tau = 0 is drawn at 1): on
# oversubscribed cores most updates have tau = 0 and a long tail reaches
# hundreds; the key (under each panel) gives the mean and the maximum of
# every line. All panels share the axis ranges, taken from the data.
#   gnuplot -c plots/thesis-staleness.gp DB OUTDIR [SCALE]   (SCALE: the subtitle's scale name)
# The query behind the lines (D below), and per line:
#   SELECT avg(staleness), max(staleness) FROM steps WHERE accepted = 1 AND run_id IN (...)
DB = ARG1
OUT = ARG2
load "plots/style.gp"
set datafile separator whitespace
NAME = "thesis-staleness"; CHECK_EXP = "thesis-staleness"; DB_OPTS = "-steps -sep ' '"
load "plots/db.gp"
q(s) = system(SQL."\"".s."\"")
R = "r.experiment = 'thesis-staleness' AND r.status IN ('ok', 'converged')"
n_acc_s = q("SELECT count(*) FROM steps WHERE accepted = 1 AND run_id IN (SELECT run_id FROM runs r WHERE ".R.")")
n_acc = n_acc_s eq "" ? 0 : int(n_acc_s)  # "" when the database has no such table
if (n_acc < 1) { print "thesis-staleness: no recorded accepted steps of finished runs of experiment thesis-staleness in ".DB." (run: make thesis-staleness)"; exit status 1 }

# Bins of tau: single values up to 3, then half-octaves [4,6) [6,8) [8,12) ...;
# a bin's share is divided by its width, so the y value stays "share per tau value".
edges = "4 6 8 12 16 24 32 48 64 96 128 192 256 384 512 768 1024 1536 2048 3072 4096 6144 8192 12288 16384 24576 32768 49152 65536"
BIN = "CASE WHEN staleness < 4 THEN staleness"
do for [k=1:words(edges)-1] { BIN = BIN." WHEN staleness < ".word(edges, k+1)." THEN ".word(edges, k) }
BIN = BIN." ELSE 65536 END"
WID = "CASE WHEN staleness < 4 THEN 1"
do for [k=1:words(edges)-1] { WID = WID." WHEN staleness < ".word(edges, k+1)." THEN ".(int(word(edges, k+1)) - int(word(edges, k))) }
WID = WID." ELSE 1 END"
D = "WITH rr AS (SELECT run_id, label, threads, batch FROM runs r WHERE ".R."), " . \
  "lab AS (SELECT label, row_number() OVER (ORDER BY min(run_id)) AS alg FROM rr GROUP BY label), " . \
  "n AS (SELECT label, threads, batch, count(*) AS nr FROM rr GROUP BY label, threads, batch), " . \
  "h AS (SELECT run_id, ".BIN." AS staleness, CAST(count(*) AS REAL) / (".WID.") AS c, count(*) AS cnt FROM steps WHERE accepted = 1 AND run_id IN (SELECT run_id FROM rr) GROUP BY run_id, 2), " . \
  "tot AS (SELECT run_id, sum(cnt) AS na FROM h GROUP BY run_id) " . \
  "SELECT lab.alg, rr.threads, rr.batch, h.staleness, 100.0 * sum(h.c / tot.na) / n.nr " . \
  "FROM h JOIN tot USING(run_id) JOIN rr USING(run_id) JOIN lab USING(label) JOIN n USING(label, threads, batch) " . \
  "GROUP BY lab.alg, rr.threads, rr.batch, h.staleness ORDER BY lab.alg, rr.threads, rr.batch, h.staleness"
set table $H
plot "< ".SQL."\"".D."\"" using 1:2:3:4:5 with table
unset table

labels_n = int(q("SELECT count(DISTINCT label) FROM runs r WHERE ".R))
label(i) = q("SELECT label FROM (SELECT label, min(run_id) AS first FROM runs r WHERE ".R." GROUP BY label) ORDER BY first LIMIT 1 OFFSET ".(i-1))
sel_label(i) = "r.label = (SELECT label FROM (SELECT label, min(run_id) AS first FROM runs r WHERE ".R." GROUP BY label) ORDER BY first LIMIT 1 OFFSET ".(i-1).")"
threads_n = int(q("SELECT count(DISTINCT threads) FROM runs r WHERE ".R))
threads(c) = int(q("SELECT DISTINCT threads FROM runs r WHERE ".R." ORDER BY threads LIMIT 1 OFFSET ".(c-1)))
batches = q("SELECT group_concat(batch, ' ') FROM (SELECT DISTINCT batch FROM runs r WHERE ".R." ORDER BY batch)")
runs_in(i, m, b) = "SELECT run_id FROM runs r WHERE ".R." AND ".sel_label(i)." AND r.threads = ".m." AND r.batch = ".b
tau_note(i, m, b) = q("SELECT printf('mean %.1f, max %d', avg(staleness), max(staleness)) FROM steps WHERE accepted = 1 AND run_id IN (".runs_in(i, m, b).")")
reps_n = int(q("SELECT max(repetition) + 1 FROM runs r WHERE ".R))
setting = q("SELECT printf('%s %s, %s, eta %g, runs of %g s', dataset, model, optimizer, lr, json_extract(spec, '$.stop_seconds')) FROM runs r WHERE ".R." LIMIT 1")
machine = q("SELECT host || ', ' || cpu_model FROM runs r WHERE ".R." LIMIT 1")
scale = ARG3 eq "" ? "quick" : ARG3
# common axis ranges for every panel, from the data: x from tau = 0 to the next
# power of ten above the largest tau + 1, y from the power of ten below the
# smallest share up to 100 %
stats $H using ($4 + 1) nooutput
xmax = 10 ** ceil(log10(STATS_max) + 1e-9)
stats $H using ($5 > 0 ? $5 : NaN) nooutput
ymin = 10 ** floor(log10(STATS_min))

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size (265 * labels_n + 50), (340 * threads_n + 60) font "Sans,8"', 'size (2.8 * labels_n + 0.5)in, (3.3 * threads_n + 0.6)in font "Sans,7"')
  set multiplot layout threads_n, labels_n title sprintf("Thesis Figs. 4.13-4.18: staleness distribution of accepted updates vs batch size B (%s scale; %s; mean over %d runs per line)\n%s", scale, setting, reps_n, machine)
  KF = fmt eq "png" ? ",8" : ",7"
  # the key below each panel, so that it covers no line
  set key at graph 0.5, graph -0.2 center top vertical Left reverse box opaque samplen 2 width 1 height 0.4 font KF
  set bmargin 8
  set format y "%g"
  set xlabel "staleness tau + 1 (updates)"
  set ylabel "% of accepted updates per tau value"
  set logscale xy
  set yrange [ymin : 100]
  set xrange [0.8 : xmax]
  do for [c=1:threads_n] {
    m = threads(c)
    do for [i=1:labels_n] {
      set title sprintf("%s, m = %d threads", label(i), m)
      plot for [b in batches] $H using ($1 == i && $2 == m && $3 == int(b) ? $4 + 1 : NaN):5 with lines ls (1 + int(sum [k=1:words(batches)] (word(batches, k) eq b ? k - 1 : 0))) lw 1.3 title sprintf("B=%s: %s", b, tau_note(i, m, b))
    }
  }
  unset multiplot
  unset logscale xy
  set output
}
