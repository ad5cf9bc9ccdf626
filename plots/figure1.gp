# figure1.gp - paper Fig. 1 from results.db: one interval of a real
# Interval-Asynchronous run (experiment 'figure1', y = m = 4). One row per
# worker; each step is a line from its t_start to its t_end, ending in a circle
# (accepted: its update was applied) or a cross (rejected), labelled with its
# start index i. The chosen interval is shaded, its neighbours lightly.
#   gnuplot -c plots/figure1.gp DB OUTDIR [INTERVAL]
# Without INTERVAL the script picks, nearest the middle of the run, a full
# interval (y accepted steps) whose accepted steps come from at least 3
# workers and during which at least one step was rejected; if there is none,
# the full interval nearest the middle.
# Interval K's time span is not stored; it is taken from the steps table:
#   opens  = max(t_end_ns) of K-1's accepted steps (t_end is read after the
#            worker's apply, and the last applier of K-1 is what opens K)
#   closes = max(t_end_ns) of K's accepted steps
# The queries (all numbers plotted come from them):
#   run:   SELECT run_id FROM runs WHERE experiment='figure1' AND status IN ('ok','converged')
#   pick:  SELECT interval, count(DISTINCT worker) ..., sum(accepted) ... FROM steps GROUP BY interval
#   steps: SELECT worker, t_start_ns, t_end_ns, accepted, step FROM steps WHERE
#          t_end_ns >= opens(K-1) AND t_start_ns <= closes(K+1)
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "figure1"; CHECK_EXP = "figure1"; DB_OPTS = "-steps"
load "plots/db.gp"
q(s) = system(SQL."\"".s."\"")
RUN = q("SELECT max(run_id) FROM runs WHERE experiment = 'figure1' AND status IN ('ok','converged') AND sync = 'interval'")
if (RUN eq "") { print "figure1: no finished interval run of experiment figure1 in ".DB; exit status 1 }
NROWS = int(q("SELECT count(*) FROM steps WHERE run_id = ".RUN))
if (NROWS < 1) { print "figure1: run ".RUN." in ".DB." has no steps rows (record_steps off?)"; exit status 1 }
Y = int(q("SELECT max(y) FROM steps WHERE run_id = ".RUN))
M = int(q("SELECT threads FROM runs WHERE run_id = ".RUN))
# per interval: accepted count, workers with an accepted step, rejected steps
AGG = "SELECT interval AS k, sum(accepted) AS acc, count(DISTINCT CASE WHEN accepted THEN worker END) AS nw, ".\
      "sum(1 - accepted) AS rej FROM steps WHERE run_id = ".RUN." GROUP BY interval"
if (ARGC >= 3) { K = int(ARG3) } else {
  KS = q("WITH a AS (".AGG."), mx AS (SELECT max(k) AS m FROM a) SELECT k FROM a, mx WHERE k > 0 AND k < mx.m ".\
         "AND acc = ".Y." ORDER BY (nw >= 3 AND rej >= 1) DESC, abs(k - mx.m / 2), k LIMIT 1")
  if (KS eq "") { print "figure1: run ".RUN." has no full interval (y accepted steps) between its first and last"; exit status 1 }
  K = int(KS)
}
closes(k) = q("SELECT coalesce(max(t_end_ns), 0) / 1e6 FROM steps WHERE run_id = ".RUN." AND accepted AND interval = ".k)
K_OPEN = (K > 0) ? real(closes(K - 1)) : 0.0
K_CLOSE = real(closes(K))
if (K_CLOSE <= 0) { print sprintf("figure1: interval %d of run %s has no accepted step", K, RUN); exit status 1 }
P_OPEN = (K > 1) ? real(closes(K - 2)) : 0.0
N_CLOSE = real(closes(K + 1))
if (N_CLOSE <= K_CLOSE) { N_CLOSE = K_CLOSE + (K_CLOSE - K_OPEN) }
W0 = P_OPEN
W1 = N_CLOSE
# column 6: the step's row offset, alternating per worker so that back-to-back
# steps of one worker are told apart
STEPS = "< ".SQL."\"SELECT worker, t_start_ns / 1e6, t_end_ns / 1e6, accepted, step, ".\
        "CASE row_number() OVER (PARTITION BY worker ORDER BY t_start_ns) % 2 WHEN 0 THEN 0.13 ELSE -0.13 END ".\
        "FROM steps WHERE run_id = ".RUN." AND t_end_ns / 1e6 >= ".sprintf("%.6f", W0).\
        " AND t_start_ns / 1e6 <= ".sprintf("%.6f", W1)." ORDER BY worker, t_start_ns\""
KACC = q("SELECT count(*) FROM steps WHERE run_id = ".RUN." AND accepted AND interval = ".K)
KREJ = q("SELECT count(*) FROM steps WHERE run_id = ".RUN." AND NOT accepted AND t_end_ns / 1e6 > ".sprintf("%.6f", K_OPEN).\
         " AND t_end_ns / 1e6 <= ".sprintf("%.6f", K_CLOSE))
# runs.clock / runs.step_time (schema 5): a database from before them is real-clock
HAS_CLOCK = int(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'clock'"))
VC = HAS_CLOCK ? "clock" : "'real'"
VST = HAS_CLOCK ? "step_time" : "''"
machine = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated ' || threads || '-core machine, step time ' || ".VST." ELSE host || ', ' || cpu_model END || ', ' || dataset || ' ' || model || ' batch ' || batch FROM runs WHERE run_id = ".RUN)
# the key names the rejected marker only when the window draws one (a row of
# STEPS whose end, where the marker is, lies inside the x range)
REJ_W = int(q("SELECT count(*) FROM steps WHERE run_id = ".RUN." AND NOT accepted AND t_end_ns / 1e6 >= ".sprintf("%.6f", W0).\
              " AND t_start_ns / 1e6 <= ".sprintf("%.6f", W1)." AND t_end_ns / 1e6 <= ".sprintf("%.6f", W1 + 0.02 * (W1 - W0))))
REJKEY = REJ_W > 0 ? "keyentry with points pt 2 ps 1.7 lw 3 lc rgb '#d62728' title 'rejected: started before the interval, or interval full'," : ""
KIND = q("SELECT CASE WHEN ".VC." = 'virtual' THEN 'simulated' ELSE 'real' END FROM runs WHERE run_id = ".RUN)
scale = KIND eq "simulated" ? "quick" : ((M >= 32 || q("SELECT dataset FROM runs WHERE run_id = ".RUN) ne "fashion-mnist") ? "paper" : "quick")

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 1200,520 font "Sans,11"', 'size 9in,4in font "Sans,9"')
  set title sprintf("Fig. 1: one interval of a %s IntAsync run (y = %d, m = %d): interval %d, %s accepted, %s rejected in it\n{/*0.8 %s scale; %s; run %s}", \
                    KIND, Y, M, K, KACC, KREJ, scale, machine, RUN)
  set object 1 rect from P_OPEN, graph 0 to K_OPEN, graph 1 behind fc rgb "#eeeeee" fs solid 1.0 noborder
  set object 2 rect from K_OPEN, graph 0 to K_CLOSE, graph 1 behind fc rgb "#cfe3f5" fs solid 1.0 noborder
  set object 3 rect from K_CLOSE, graph 0 to N_CLOSE, graph 1 behind fc rgb "#eeeeee" fs solid 1.0 noborder
  set label 1 sprintf("interval %d", K) at (K_OPEN + K_CLOSE) / 2, graph 0.97 center front font ",10"
  set label 2 sprintf("interval %d", K - 1) at (P_OPEN + K_OPEN) / 2, graph 0.97 center front tc rgb "#777777" font ",9"
  set label 3 sprintf("interval %d", K + 1) at (K_CLOSE + N_CLOSE) / 2, graph 0.97 center front tc rgb "#777777" font ",9"
  set xrange [W0 - 0.02 * (W1 - W0) : W1 + 0.02 * (W1 - W0)]
  set yrange [M - 0.5 : -0.6]
  set ytics 1
  set xlabel "time since the start of the run (ms)"
  set ylabel "worker"
  set bmargin 5.5
  set key at screen 0.5, screen 0.035 center center horizontal nobox samplen 1 maxrows 1 width -2
  set grid noytics
  plot STEPS using 2:($1 + $6):($3 - $2):(0) with vectors nohead lw 2.5 lc rgb "#555555" notitle, \
       '' using 2:($1 + $6) with points pt 13 ps 0.8 lc rgb "#555555" title "step start (label: start index i)", \
       '' using 3:($1 + $6):($4 == 1 ? 7 : 2):($4 == 1 ? 0x1f77b4 : 0xd62728) with points pt variable lc rgb variable ps 1.7 lw 3 notitle, \
       keyentry with points pt 7 ps 1.7 lc rgb "#1f77b4" title "accepted: update applied", \
       @REJKEY \
       '' using 2:($1 + $6 - 0.15):(sprintf("%d", $5)) with labels left font ",8" offset 0.2,0 notitle
  unset object 1; unset object 2; unset object 3
  unset label 1; unset label 2; unset label 3
  set output
}
print sprintf("figure1: run %s, interval %d (%s accepted, %s rejected), window %.2f..%.2f ms", RUN, K, KACC, KREJ, W0, W1)
