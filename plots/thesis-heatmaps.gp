# thesis-heatmaps.gp - thesis Figs. 4.5-4.12 (A.1-A.4) from results.db: for
# every algorithm (runs.label) and thread count one row of three heat maps
# over batch size (x) x step size (y):
#   left    mean seconds to epsilon-convergence over the runs of the cell that
#           converged (time of the run's 'epsilon' event); blank: none did
#   middle  crashed runs: status diverged (non-finite or exploding loss),
#           crashed (the process died) or timeout (killed by the runner)
#   right   runs that did not converge in time (status ok: reached the time
#           limit above epsilon x initial loss) - "diverged" in the thesis
# Reads only runs of experiment 'thesis-heatmaps'. The grid is the cross join
# of every batch size and step size in the experiment, left-joined with the
# cell's runs, so 'with image' always gets the full grid (EXPERIMENTS.md,
# "Thesis Figs. 4.5-4.12").
#   gnuplot -c plots/thesis-heatmaps.gp DB OUTDIR
DB = ARG1
OUT = ARG2
load "plots/style.gp"
# NaN cells must stay in the grid (drawn blank), not be skipped as missing
unset datafile missing
NAME = "thesis-heatmaps"; CHECK_EXP = "thesis-heatmaps"; DB_OPTS = ""
load "plots/db.gp"
W = "experiment = 'thesis-heatmaps' AND status IN ('ok','converged','diverged','crashed','timeout')"
n_runs = int(system(SQL."\"SELECT count(*) FROM runs WHERE ".W."\""))
if (n_runs < 1) { print "thesis-heatmaps: no finished runs of experiment thesis-heatmaps in ".DB; exit status 1 }

# variants in the experiment file's order (the order their first run was recorded)
LBL = "(SELECT label FROM runs WHERE ".W." GROUP BY label ORDER BY min(run_id))"
n_lbl = int(system(SQL."\"SELECT count(*) FROM ".LBL."\""))
n_thr = int(system(SQL."\"SELECT count(DISTINCT threads) FROM runs WHERE ".W."\""))
label(i) = system(SQL."\"SELECT label FROM ".LBL." LIMIT 1 OFFSET ".(i-1)."\"")
thr(j) = int(system(SQL."\"SELECT DISTINCT threads FROM runs WHERE ".W." ORDER BY threads LIMIT 1 OFFSET ".(j-1)."\""))
reps = int(system(SQL."\"SELECT max(n) FROM (SELECT count(*) AS n FROM runs WHERE ".W." GROUP BY label, threads, lr, batch)\""))
limit_s = real(system(SQL."\"SELECT max(json_extract(spec, '$.stop_seconds')) FROM runs WHERE ".W."\""))
eps = real(system(SQL."\"SELECT max(epsilon) FROM runs WHERE ".W."\""))
machine = system(SQL."\"SELECT host || ', ' || cpu_model || ', ' || dataset || ' ' || model FROM runs WHERE ".W." LIMIT 1\"")
scale = system(SQL."\"SELECT CASE WHEN max(threads) >= 16 THEN 'paper' ELSE 'quick' END FROM runs WHERE ".W."\"")
xt = system(SQL."\"SELECT group_concat('''' || batch || ''' ' || (rn - 1), ', ') FROM (SELECT batch, row_number() OVER (ORDER BY batch) AS rn FROM (SELECT DISTINCT batch FROM runs WHERE ".W."))\"")
yt = system(SQL."\"SELECT group_concat('''' || printf('%g', lr * 1000) || ''' ' || (rn - 1), ', ') FROM (SELECT lr, row_number() OVER (ORDER BY lr) AS rn FROM (SELECT DISTINCT lr FROM runs WHERE ".W."))\"")

# One row per cell: x index | y index | mean time or NaN | crashed | not
# converged | time label | crashed label | not-converged label
O = "SELECT run_id, label, threads, lr, batch, CASE WHEN status IN ('diverged','crashed','timeout') THEN 1 ELSE 0 END AS crashed, CASE WHEN status = 'ok' THEN 1 ELSE 0 END AS notconv, CASE WHEN status = 'converged' THEN coalesce((SELECT min(e.t_ns) / 1e9 FROM events e WHERE e.run_id = r.run_id AND e.kind = 'epsilon'), wall_s) END AS t FROM runs r WHERE ".W
cells(i, j) = "< ".SQL."\"WITH o AS (".O." AND label = (SELECT label FROM ".LBL." LIMIT 1 OFFSET ".(i-1).") AND threads = ".thr(j)."), bx AS (SELECT batch, row_number() OVER (ORDER BY batch) - 1 AS xi FROM (SELECT DISTINCT batch FROM runs WHERE ".W.")), ly AS (SELECT lr, row_number() OVER (ORDER BY lr) - 1 AS yi FROM (SELECT DISTINCT lr FROM runs WHERE ".W.")) SELECT bx.xi, ly.yi, coalesce(avg(o.t), 'NaN'), CASE WHEN count(o.run_id) = 0 THEN 'NaN' ELSE sum(o.crashed) END, CASE WHEN count(o.run_id) = 0 THEN 'NaN' ELSE sum(o.notconv) END, CASE WHEN count(o.t) > 0 THEN printf('%.1f', avg(o.t)) WHEN count(o.run_id) = 0 THEN 'no runs' ELSE '-' END, coalesce(sum(o.crashed), ''), coalesce(sum(o.notconv), '') FROM bx CROSS JOIN ly LEFT JOIN o ON o.batch = bx.batch AND o.lr = ly.lr GROUP BY bx.xi, ly.yi ORDER BY ly.yi, bx.xi\""

rows = n_lbl * n_thr
eval "set xtics (".xt.")"
eval "set ytics (".yt.")"
unset grid
set tics scale 0
set xlabel "batch size B"
set ylabel "step size η (10^{-3})"
unset key
set size ratio 0
# 16 colours keep the PNG small and still tell the times apart
set palette maxcolors 16
do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 960, 80 + 170 * rows font "Sans,8"', 'size 10in, (1.0 + 1.9 * rows) * 1in font "Sans,8"')
  set multiplot layout rows, 3 title sprintf("Thesis Figs. 4.5-4.12: seconds to ε = %g%% of the initial training loss over step size × batch size; '-': no run converged\n%s scale, %d run(s) per cell, %g s limit, OS placement; %s", eps * 100, scale, reps, limit_s, machine)
  do for [i = 1:n_lbl] {
    do for [j = 1:n_thr] {
      set title sprintf("{/:Bold %s, %d threads}: mean s to ε", label(i), thr(j))
      set palette defined (0 "#2c7bb6", 0.5 "#ffffbf", 1 "#d7191c")
      set cbrange [0:limit_s]
      set cblabel "s"
      set colorbox
      plot cells(i, j) using 1:2:3 with image, '' using 1:2:6 with labels font ",9"
      set title sprintf("%s, %d threads: crashed runs", label(i), thr(j))
      set palette defined (0 "#ffffff", 1 "#b2182b")
      set cbrange [0:(reps > 0 ? reps : 1)]
      # the counts are printed in the cells: no colour box
      unset colorbox
      plot cells(i, j) using 1:2:4 with image, '' using 1:2:7 with labels font ",9"
      set title sprintf("%s, %d threads: not converged in %g s", label(i), thr(j), limit_s)
      set palette defined (0 "#ffffff", 1 "#a0a0a0")
      plot cells(i, j) using 1:2:5 with image, '' using 1:2:8 with labels font ",9"
    }
  }
  unset multiplot
  set output
}
