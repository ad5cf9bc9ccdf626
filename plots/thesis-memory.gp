# thesis-memory.gp - thesis Figs. 4.2-4.4 from results.db: UMA vs NUMA
# placement (runs.label) per synchronization method and thread count:
# (a) seconds to epsilon-convergence, (b) average epoch time, (c) epochs to
# converge, (d) mean staleness of accepted steps per thread (HOGWILD!, the
# largest thread count). Reads only finished runs of experiment
# 'thesis-memory'; runs that did not converge leave their bar out of (a), (c).
#   gnuplot -c plots/thesis-memory.gp DB OUTDIR
# Queries (every number plotted comes from them):
#   (a) avg(wall_s) of runs with status 'converged', per algorithm, threads, label
#   (b) avg(wall_s / last evals.epoch) per algorithm, threads, label
#   (c) avg(last evals.epoch) of converged runs
#   (d) SELECT worker, avg(staleness) FROM steps WHERE accepted ... GROUP BY worker
# The subtitle says when NUMA ran as its nearest equivalent (events.kind =
# 'placement' with value 0), i.e. on a machine with one NUMA node.
DB = ARG1
OUT = ARG2
load "plots/style.gp"
NAME = "thesis-memory"; CHECK_EXP = "thesis-memory"; DB_OPTS = "-steps"
load "plots/db.gp"
W = "r.experiment = 'thesis-memory' AND r.status IN ('ok','converged')"
n = int(system(SQL."\"SELECT count(*) FROM runs r WHERE ".W."\""))
if (n < 1) { print "thesis-memory: no finished runs of experiment thesis-memory in ".DB; exit status 1 }
LAST = "(SELECT max(e.epoch) FROM evals e WHERE e.run_id = r.run_id)"
CONV = "r.status = 'converged'"
per(v, cond) = "< ".SQL."\"SELECT r.algorithm || ' m=' || r.threads, coalesce(avg(CASE WHEN r.label = 'UMA'".cond." THEN ".v." END), 'NaN'), coalesce(avg(CASE WHEN r.label = 'NUMA'".cond." THEN ".v." END), 'NaN') FROM runs r WHERE ".W." GROUP BY r.algorithm, r.threads ORDER BY r.algorithm, r.threads\""
MT = system(SQL."\"SELECT max(threads) FROM runs r WHERE ".W." AND algorithm = 'hogwild'\"")
SUM_U = "coalesce(avg(CASE WHEN r.label = 'UMA' THEN s.staleness END), 'NaN')"
SUM_N = "coalesce(avg(CASE WHEN r.label = 'NUMA' THEN s.staleness END), 'NaN')"
HW = "FROM steps s JOIN runs r USING (run_id) WHERE ".W." AND r.algorithm = 'hogwild' AND r.threads = ".MT." AND s.accepted"
stal = "< ".SQL."\"SELECT l, u, n FROM (SELECT s.worker AS k, 't' || (s.worker + 1) AS l, ".SUM_U." AS u, ".SUM_N." AS n ".HW." GROUP BY s.worker UNION ALL SELECT 1000000, 'total', ".SUM_U.", ".SUM_N." ".HW.") ORDER BY k\""
machine = system(SQL."\"SELECT host || ', ' || cpu_model || ', ' || dataset || ' ' || model || ', eta ' || lr || ', B ' || batch FROM runs r WHERE ".W." LIMIT 1\"")
eps = system(SQL."\"SELECT json_extract(spec, '$.epsilon') * 100 FROM runs r WHERE ".W." LIMIT 1\"")
eps = sprintf("%g", eps + 0)
nearest = int(system(SQL."\"SELECT count(*) FROM events e JOIN runs r USING (run_id) WHERE ".W." AND e.kind = 'placement' AND e.value = 0\""))
npus = system(SQL."\"SELECT count(DISTINCT p.pu_os) FROM placement p JOIN runs r USING (run_id) WHERE ".W."\"")
scale = (eps + 0 > 2.5) ? "quick" : "paper"
note = (nearest > 0) ? sprintf("NUMA ran as its nearest equivalent (uma) in %d runs: this machine has one NUMA node, so UMA and NUMA are the same placement here; threads share %s PUs", nearest, npus) : "NUMA: threads alternate over the NUMA nodes (4+3, 4+4); UMA: all on node 0"

do for [fmt in "png pdf"] {
  eval fig_output(fmt, 'size 1400,950 font "Sans,10"', 'size 11in,7.5in font "Sans,8"')
  set multiplot layout 2,2 title sprintf("Thesis Figs. 4.2-4.4: UMA vs NUMA placement (%s scale; %s)\n%s", scale, machine, note)
  set style data histograms
  set style histogram clustered gap 1
  set style fill solid 0.8 border -1
  set boxwidth 0.9
  set xtics rotate by -30 nomirror
  set yrange [0:*]
  set offsets 0, 0, graph 0.15, 0
  # width 2: cairo text is wider than gnuplot estimates ("NUMA" stuck out of the box)
  set key inside top right box opaque width 2
  set title sprintf("(a) time to %s%% of the initial loss", eps)
  set ylabel "seconds (converged runs)"
  plot per("r.wall_s", " AND ".CONV) using 2:xtic(1) lc rgb "#1f77b4" title "UMA", '' using 3 lc rgb "#ff7f0e" title "NUMA"
  set title "(b) average epoch time (computational efficiency)"
  set ylabel "seconds per epoch"
  plot per("r.wall_s / ".LAST, "") using 2:xtic(1) lc rgb "#1f77b4" title "UMA", '' using 3 lc rgb "#ff7f0e" title "NUMA"
  set title sprintf("(c) epochs to %s%% of the initial loss (statistical efficiency)", eps)
  set ylabel "epochs (converged runs)"
  plot per(LAST, " AND ".CONV) using 2:xtic(1) lc rgb "#1f77b4" title "UMA", '' using 3 lc rgb "#ff7f0e" title "NUMA"
  set title sprintf("(d) staleness per thread, HOGWILD!, m = %s (accepted steps)", MT)
  set ylabel "mean staleness tau (versions)"
  set xtics norotate
  plot stal using 2:xtic(1) lc rgb "#1f77b4" title "UMA", '' using 3 lc rgb "#ff7f0e" title "NUMA"
  unset multiplot
  set output
}
