-- plots/views.sql - the SQL views the figures read from results.db.
--
-- Compiled into psgd (the Makefile turns this file into build/gen/views_sql.c)
-- and recreated by rec_open whenever this text changes, so every database the
-- program opens has the views of the program that opened it. To load the
-- views into a database by hand:  sqlite3 results/results.db < plots/views.sql
-- `steps` itself is a view over compressed chunks (core/rec_steps.h), created
-- by the schema: in the sqlite3 shell, it and the views over it need
--   sqlite3 -cmd '.load build/psgd_steps' results/results.db
--
-- Conventions
-- * Only runs that ended with a result (status ok, converged or diverged) are
--   in the views: a run still in progress ('running') or whose process died
--   never shows up in a figure (its partial rows are deleted by rec_run_mark).
-- * Times are seconds since the run's t0 (the *_ns columns / 1e9).
-- * Staleness tau = steps.staleness = version_apply - version_read. Statistics
--   of tau are over ACCEPTED steps, the updates that reached the model (paper
--   Fig. 3), unless a column says steps (accepted and rejected).
-- * Quartiles use the nearest-rank definition: q_p is the value of rank
--   ceil(p * n) among the n values sorted ascending (1-based).
-- * A threshold not stored anywhere (e.g. the common accuracy of Table 1) is a
--   plain query on v_acc_curve / v_loss_curve:
--     SELECT run_id, min(t_s) FROM v_acc_curve WHERE test_acc >= 0.80 GROUP BY run_id;
--   v_time_to_acc / v_time_to_loss give the ones stored in the database.

DROP VIEW IF EXISTS v_done;
DROP VIEW IF EXISTS v_runs;
DROP VIEW IF EXISTS v_acceptance;
DROP VIEW IF EXISTS v_staleness_hist;
DROP VIEW IF EXISTS v_staleness_summary;
DROP VIEW IF EXISTS v_staleness_worker;
DROP VIEW IF EXISTS v_acc_curve;
DROP VIEW IF EXISTS v_loss_curve;
DROP VIEW IF EXISTS v_time_to_acc;
DROP VIEW IF EXISTS v_time_to_loss;
DROP VIEW IF EXISTS v_epoch_time;
DROP VIEW IF EXISTS v_best_acc;

-- Runs with a result, all columns of runs.
CREATE VIEW v_done AS
SELECT * FROM runs WHERE status IN ('ok', 'converged', 'diverged');

-- Every run (any status) without the bulky columns (spec, topology_xml):
-- what to look at first. runs.sync is the dispatcher's name (async,
-- interval, sync): named dispatcher here.
CREATE VIEW v_runs AS
SELECT run_id, key, experiment, label, status, why, algorithm, sync AS dispatcher, store, threads, placement,
       dataset, model, batch, lr, momentum, y0, seed, repetition, started_at, wall_s,
       steps_started, steps_accepted, epochs,
       CASE WHEN wall_s > 0 THEN steps_accepted / wall_s END AS steps_per_s,
       final_test_acc, best_test_acc, final_test_loss, pinned, flush_s, host, git_commit
FROM runs;

-- Paper Fig. 2: per run, step rows, accepted ones and the acceptance rate.
CREATE VIEW v_acceptance AS
SELECT run_id, count(*) AS steps, sum(accepted) AS accepted,
       CAST(sum(accepted) AS REAL) / count(*) AS rate
FROM steps
WHERE run_id IN (SELECT run_id FROM v_done)
GROUP BY run_id;

-- Paper Fig. 3b, thesis Fig. 4.13-4.18: per run and tau, the number of
-- accepted steps with that tau (accepted), of all steps (steps), and the
-- share of the run's accepted steps (frac).
CREATE VIEW v_staleness_hist AS
SELECT run_id, staleness, sum(accepted) AS accepted, count(*) AS steps,
       CAST(sum(accepted) AS REAL) / sum(sum(accepted)) OVER (PARTITION BY run_id) AS frac
FROM steps
WHERE run_id IN (SELECT run_id FROM v_done)
GROUP BY run_id, staleness;

-- Paper Fig. 3a/3c: per run, tau of accepted steps: count, mean, min,
-- quartiles (nearest rank), max.
CREATE VIEW v_staleness_summary AS
WITH a AS (
  SELECT run_id, staleness,
         row_number() OVER (PARTITION BY run_id ORDER BY staleness) AS rn,
         count(*) OVER (PARTITION BY run_id) AS n
  FROM steps
  WHERE accepted = 1 AND run_id IN (SELECT run_id FROM v_done))
SELECT run_id, n AS n_accepted, avg(staleness) AS tau_mean, min(staleness) AS tau_min,
       max(CASE WHEN rn <= (n + 3) / 4 THEN staleness END) AS tau_q1,
       max(CASE WHEN rn <= (n + 1) / 2 THEN staleness END) AS tau_median,
       max(CASE WHEN rn <= (3 * n + 3) / 4 THEN staleness END) AS tau_q3,
       max(staleness) AS tau_max
FROM a
GROUP BY run_id, n;

-- Thesis Fig. 4.4 (per-thread staleness): per run and worker, accepted steps,
-- their mean tau, and the worker's steps (accepted and rejected).
CREATE VIEW v_staleness_worker AS
SELECT run_id, worker, sum(accepted) AS accepted, count(*) AS steps,
       avg(CASE WHEN accepted = 1 THEN staleness END) AS tau_mean
FROM steps
WHERE run_id IN (SELECT run_id FROM v_done)
GROUP BY run_id, worker;

-- Paper Fig. 5: every evaluation, with the best test accuracy so far.
CREATE VIEW v_acc_curve AS
SELECT run_id, t_ns / 1e9 AS t_s, epoch, steps_accepted, test_acc, test_loss, train_loss,
       max(test_acc) OVER (PARTITION BY run_id ORDER BY t_ns
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS best_acc
FROM evals
WHERE run_id IN (SELECT run_id FROM v_done);

-- Thesis: every evaluation, with the training loss as a fraction of the
-- run's initial loss (frac <= 0.05 is "5%-convergence").
CREATE VIEW v_loss_curve AS
SELECT e.run_id, e.t_ns / 1e9 AS t_s, e.epoch, e.steps_accepted, e.train_loss, e.test_loss,
       CASE WHEN r.initial_loss > 0 THEN e.train_loss / r.initial_loss END AS frac
FROM evals e JOIN v_done r ON r.run_id = e.run_id;

-- Paper Fig. 4b, Table 1: per run and accuracy threshold, the first time (and
-- epoch, accepted steps) an evaluation reached it; NULL if never. Thresholds:
-- the run's own target_acc, and every row of the table acc_thresholds (fill
-- it with INSERT OR IGNORE INTO acc_thresholds VALUES (0.8)).
CREATE VIEW v_time_to_acc AS
WITH th AS (
  SELECT run_id, target_acc AS threshold FROM v_done WHERE target_acc > 0
  UNION
  SELECT r.run_id, t.acc FROM v_done r CROSS JOIN acc_thresholds t)
SELECT th.run_id, th.threshold,
       (SELECT e.t_ns / 1e9 FROM evals e WHERE e.run_id = th.run_id AND e.test_acc >= th.threshold
        ORDER BY e.t_ns LIMIT 1) AS t_s,
       (SELECT e.epoch FROM evals e WHERE e.run_id = th.run_id AND e.test_acc >= th.threshold
        ORDER BY e.t_ns LIMIT 1) AS epoch,
       (SELECT e.steps_accepted FROM evals e
        WHERE e.run_id = th.run_id AND e.test_acc >= th.threshold
        ORDER BY e.t_ns LIMIT 1) AS steps_accepted
FROM th;

-- Thesis Fig. 4.2-4.12, 4.19-4.21: per run and fraction f of the initial loss
-- (the run's epsilon, and 10%, 5%, 2%), the first time (and epoch) the
-- training loss was <= f * initial_loss; NULL if never ("diverged" in the
-- thesis' heat maps).
CREATE VIEW v_time_to_loss AS
WITH f AS (
  SELECT run_id, epsilon AS frac FROM v_done WHERE epsilon > 0
  UNION
  SELECT r.run_id, c.column1 FROM v_done r CROSS JOIN (VALUES (0.10), (0.05), (0.02)) c)
SELECT f.run_id, f.frac,
       (SELECT e.t_ns / 1e9 FROM evals e JOIN runs r ON r.run_id = e.run_id
        WHERE e.run_id = f.run_id AND e.train_loss <= f.frac * r.initial_loss
        ORDER BY e.t_ns LIMIT 1) AS t_s,
       (SELECT e.epoch FROM evals e JOIN runs r ON r.run_id = e.run_id
        WHERE e.run_id = f.run_id AND e.train_loss <= f.frac * r.initial_loss
        ORDER BY e.t_ns LIMIT 1) AS epoch
FROM f;

-- Thesis Fig. 4.2-4.3, 4.21: computational efficiency: time per epoch and
-- accepted steps per second over the whole timed region.
CREATE VIEW v_epoch_time AS
SELECT run_id, epochs, wall_s, steps_accepted,
       CASE WHEN epochs > 0 THEN wall_s / epochs END AS epoch_s,
       CASE WHEN wall_s > 0 THEN steps_accepted / wall_s END AS steps_per_s
FROM v_done;

-- Paper Fig. 4a, Table 1: per run, the best test accuracy over its
-- evaluations, when it was first reached, and the last evaluation's accuracy.
CREATE VIEW v_best_acc AS
WITH b AS (
  SELECT run_id, max(test_acc) AS best_acc, count(*) AS n_evals
  FROM evals
  WHERE run_id IN (SELECT run_id FROM v_done)
  GROUP BY run_id)
SELECT b.run_id, b.best_acc,
       (SELECT e.t_ns / 1e9 FROM evals e WHERE e.run_id = b.run_id AND e.test_acc >= b.best_acc
        ORDER BY e.t_ns LIMIT 1) AS t_best_s,
       (SELECT e.test_acc FROM evals e WHERE e.run_id = b.run_id
        ORDER BY e.t_ns DESC LIMIT 1) AS final_acc,
       b.n_evals
FROM b;
