# figure5.gp - paper Fig. 5 from results.db: test accuracy (top row of each
# dataset) and test loss (bottom row) over training time, one column per
# thread count, one line per algorithm (runs.label; every repetition its own
# line in the label's colour). Fig. 5 is drawn from the runs of Fig. 4, so it
# reads the finished runs of experiment 'figure4'.
#   gnuplot -c plots/figure5.gp DB OUTDIR
# The query behind every line (all numbers plotted come from it):
#   SELECT e.t_ns/1e9, e.test_acc*100, e.test_loss FROM runs r JOIN evals e USING(run_id)
#   WHERE r.experiment = 'figure4' AND r.status IN ('ok','converged') AND r.dataset = D
#     AND r.threads = M AND r.label = L AND r.repetition = R ORDER BY e.t_ns
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "figure5"; CHECK_EXP = "figure4"; DB_OPTS = ""
load "plots/db.gp"
W = "r.experiment = 'figure4' AND r.status IN ('ok','converged')"
q(s) = system(SQL."\"".s."\"")
n_evals_s = q("SELECT count(*) FROM runs r JOIN evals e USING(run_id) WHERE ".W." AND e.test_acc IS NOT NULL")
n_evals = n_evals_s eq "" ? 0 : int(n_evals_s)  # "" when the database has no such table
if (n_evals < 1) { print "figure5: no evaluations of finished runs of experiment figure4 in ".DB." (run: make figure5)"; exit status 1 }

labels_n = int(q("SELECT count(DISTINCT label) FROM runs r WHERE ".W))
threads_n = int(q("SELECT count(DISTINCT threads) FROM runs r WHERE ".W))
sets_n = int(q("SELECT count(DISTINCT dataset) FROM runs r WHERE ".W))
reps_n = int(q("SELECT max(repetition) + 1 FROM runs r WHERE ".W))
nth(col, i) = "(SELECT DISTINCT ".col." FROM runs r WHERE ".W." ORDER BY ".col." LIMIT 1 OFFSET ".(i-1).")"
# labels in the order of the experiment file (first run_id), diverged runs
# included, as figure4 orders them: one label has one colour in both figures
LW = "r.experiment = 'figure4' AND r.status IN ('ok','converged','diverged')"
LORD = "(SELECT label FROM runs r WHERE ".LW." AND label IN (SELECT label FROM runs r WHERE ".W.") GROUP BY label ORDER BY min(run_id) LIMIT 1 OFFSET %d)"
label(i) = q("SELECT ".sprintf(LORD, i-1))
threads(j) = int(q("SELECT ".nth("threads", j)))
dataset(k) = q("SELECT ".nth("dataset", k))
curve(k, j, i, rep) = "< ".SQL."\"SELECT e.t_ns / 1e9, e.test_acc * 100, e.test_loss FROM runs r JOIN evals e USING(run_id) WHERE ".W. \
  " AND r.dataset = ".nth("dataset", k)." AND r.threads = ".nth("threads", j)." AND r.label = ".sprintf(LORD, i-1). \
  " AND r.repetition = ".rep." AND e.test_acc IS NOT NULL ORDER BY e.t_ns\""
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'"))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
machine = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated m-core machine, step time ' || ".VST." || ', virtual time' ELSE host || ', ' || cpu_model END || ', ' || model FROM runs r WHERE ".W." LIMIT 1")
scale = q("SELECT CASE WHEN max(".VC." = 'virtual') THEN 'quick' WHEN max(threads) >= 32 THEN 'paper' ELSE 'quick' END FROM runs r WHERE ".W)
# one y range per row type, so that panels can be compared across thread counts
acc_lo = floor(real(q("SELECT min(e.test_acc) * 100 FROM runs r JOIN evals e USING(run_id) WHERE ".W)))
acc_hi = ceil(real(q("SELECT max(e.test_acc) * 100 FROM runs r JOIN evals e USING(run_id) WHERE ".W)))
loss_lo = real(q("SELECT min(e.test_loss) FROM runs r JOIN evals e USING(run_id) WHERE ".W))
loss_hi = real(q("SELECT max(e.test_loss) FROM runs r JOIN evals e USING(run_id) WHERE ".W))
reps = reps_n > 1 ? sprintf(", %d repetitions each", reps_n) : ""
# diverged runs have no curve here (Fig. 4 shows their best accuracy): say how many
n_div = int(q("SELECT count(*) FROM runs r WHERE r.experiment = 'figure4' AND r.status = 'diverged'"))
div_at = q("SELECT group_concat(l, '; ') FROM (SELECT label || ' at m = ' || group_concat(threads, ', ') AS l FROM (SELECT label, threads FROM runs r WHERE r.experiment = 'figure4' AND r.status = 'diverged' ORDER BY threads) GROUP BY label ORDER BY min(threads), label)")
divnote = n_div > 0 ? sprintf("\n{/*0.9 not drawn: %d diverged run%s (%s)}", n_div, n_div > 1 ? "s" : "", div_at) : ""
VIRT5 = int(q("SELECT count(*) FROM runs r WHERE ".W." AND ".VC." = 'virtual'"))
# the key is drawn with the column of the thread count that has the most
# algorithms (gnuplot leaves out the key entry of a series with no data, e.g.
# of an algorithm whose runs at that m diverged)
KEYT = int(q("SELECT threads FROM runs r WHERE ".W." GROUP BY threads ORDER BY count(DISTINCT label) DESC, threads LIMIT 1"))

# Fixed panel grid (screen fractions of the PNG's pixels; the PDF has about the same
# aspect) with a column on the right for one key of all algorithms, so no key covers data
# (a horizontal key below the grid is limited to one panel's width by gnuplot).
px_key = 230
px_w = 270 * threads_n + 160 + px_key
top_extra = n_div > 0 ? 20 : 0  # the title's second line
px_h = 240 * 2 * sets_n + 50 + 30 + top_extra
g_l = 70.0 / px_w; g_r = 1 - (25.0 + px_key) / px_w; g_sx = 75.0 / px_w
g_b = 50.0 / px_h; g_t = 1 - (65.0 + top_extra) / px_h; g_sy = 90.0 / px_h

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size px_w, px_h font "Sans,9"', 'size (px_w / 100.0)in, (px_h / 100.0)in font "Sans,8"')
  set multiplot layout 2 * sets_n, threads_n margins g_l, g_r, g_b, g_t spacing g_sx, g_sy title sprintf("Fig. 5: test accuracy and loss over time per algorithm and thread count (%s scale; %s%s)%s", scale, machine, reps, divnote)
  set xlabel (VIRT5 > 0 ? "training time (virtual s)" : "training time (s)")
  do for [k=1:sets_n] {
    do for [row=1:2] {
      do for [j=1:threads_n] {
        set title sprintf("%s, m = %d threads", dataset(k), threads(j))
        if (k == 1 && row == 1 && threads(j) == KEYT) { set key at screen 1 - 10.0 / px_w, g_t right top vertical Left reverse samplen 3 box font ",9" } else { unset key }
        if (row == 1) {
          set ylabel "test accuracy (%)"
          set yrange [acc_lo : acc_hi]
          plot for [i=1:labels_n] for [rep=0:reps_n-1] curve(k, j, i, rep) using 1:2 with lines ls i lw 1.3 title (rep == 0 ? label(i) : "")
        } else {
          set ylabel "test loss (cross-entropy)"
          set yrange [0.95 * loss_lo : 1.05 * loss_hi]
          plot for [i=1:labels_n] for [rep=0:reps_n-1] curve(k, j, i, rep) using 1:3 with lines ls i lw 1.3 title (rep == 0 ? label(i) : "")
        }
      }
    }
  }
  unset multiplot
  set output
}
