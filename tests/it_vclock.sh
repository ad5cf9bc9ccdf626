#!/bin/sh
# it_vclock.sh - the virtual clock end to end: one experiment file run into
# two databases, once with 1 compute thread and once with 2
# (PSGD_COMPUTE_THREADS), gives identical runs, steps, evals and events rows
# (apart from host and time-of-day fields), for every dispatcher and store;
# another seed gives other rows; settings the virtual clock cannot represent
# are refused at their line.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac
tmp=$(mktemp -d /tmp/psgd_it_vclock.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
. tests/lib_check.sh
cat > "$tmp/v.cfg" <<'CFG'
dataset = "synthetic";
model = "mlp"; hidden = [32];
threads = 16;
clock = "virtual";
step_time = "lognormal:500,0.5";
seed = 3;
lr = 0.01;
stop = { steps = 1500; epochs = 0.0; };
eval = { every_s = 0.05; };
variants = (
  { label = "async"; algorithm = "async"; },
  { label = "interval y4"; algorithm = "interval"; y0 = 4; },
  { label = "interval decay"; algorithm = "interval"; y0 = 16; y_control = "decay"; y_decay_k = 100; },
  { label = "seed 4"; algorithm = "async"; seed = 4; },
  { label = "mutex"; algorithm = "async"; store = "mutex"; },
  { label = "rwlock y4"; algorithm = "interval"; y0 = 4; store = "rwlock"; },
  { label = "leashed ps1"; algorithm = "async"; store = "leashed"; ps = 1; step_time = "lognormal:500,0.5,copy=0.2,apply=0.2"; },
  { label = "sync"; algorithm = "sync"; }
);
CFG
rows() {
  sqlite3 -batch -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$1" "
    SELECT 'run', key, label, spec, status, printf('%.17g', wall_s), steps_started, steps_accepted,
           printf('%.17g', epochs), printf('%.17g', final_train_loss),
           printf('%.17g', final_test_loss), printf('%.17g', final_test_acc), clock, step_time
      FROM runs ORDER BY key;
    SELECT 'step', r.key, s.step, s.finish, s.worker, s.pu, s.t_start_ns, s.t_end_ns,
           s.version_read, s.version_apply, s.staleness, s.accepted, s.interval, s.y, s.m,
           printf('%.17g', s.loss)
      FROM steps s JOIN runs r ON r.run_id = s.run_id ORDER BY r.key, s.finish;
    SELECT 'eval', r.key, e.t_ns, e.steps_accepted, printf('%.17g', e.epoch),
           printf('%.17g', e.train_loss), printf('%.17g', e.test_loss), printf('%.17g', e.test_acc)
      FROM evals e JOIN runs r ON r.run_id = e.run_id ORDER BY r.key, e.t_ns, e.steps_accepted;
    SELECT 'event', r.key, v.t_ns, v.kind, printf('%.17g', v.value), v.detail
      FROM events v JOIN runs r ON r.run_id = v.run_id ORDER BY r.key, v.t_ns, v.kind, v.detail;"
}
PSGD_COMPUTE_THREADS=1 "$PSGD" run "$tmp/v.cfg" --db "$tmp/a.db" > "$tmp/out_a" 2>&1; ra=$?
PSGD_COMPUTE_THREADS=2 "$PSGD" run "$tmp/v.cfg" --db "$tmp/b.db" > "$tmp/out_b" 2>&1; rb=$?
check both_ran "$ra $rb" "0 0"
[ "$ra $rb" = "0 0" ] || sed 's/^/    /' "$tmp/out_a" "$tmp/out_b"
rows "$tmp/a.db" > "$tmp/rows_a"; rows "$tmp/b.db" > "$tmp/rows_b"
check step_rows_there "$([ "$(grep -c '^step|' "$tmp/rows_a")" -ge 12000 ] && echo yes)" yes
check eval_rows_there "$([ "$(grep -c '^eval|' "$tmp/rows_a")" -ge 8 ] && echo yes)" yes
check y_events_there "$([ "$(grep -c '^event|.*|y|' "$tmp/rows_a")" -ge 5 ] && echo yes)" yes
check same_rows_1_vs_2_compute_threads "$(cmp -s "$tmp/rows_a" "$tmp/rows_b" && echo same)" same
check clock_recorded "$(sqlite3 "$tmp/a.db" "SELECT DISTINCT clock || ' ' || step_time FROM runs ORDER BY 1")" \
  "virtual lognormal:500,0.5
virtual lognormal:500,0.5,copy=0.2,apply=0.2"
# the stores' virtual-time assumptions are recorded; the CAS store dropped
# some updates (ps = 1) and sync's steps have tau 0
check store_time_events "$(sqlite3 "$tmp/a.db" "SELECT r.label || ': ' || v.detail FROM events v JOIN runs r USING (run_id) WHERE v.kind = 'store_time' ORDER BY r.label")" \
"leashed ps1: leashed CAS attempts: copy=0.2 apply=0.2 add=0.075 of a step
mutex: mutex lock FIFO: copy=0.075 apply=0.12 add=0.075 of a step (defaults)
rwlock y4: rwlock rwlock readers first: copy=0.075 apply=0.12 add=0.075 of a step (defaults)
sync: hogwild instant + reduction: copy=0.075 apply=0.12 add=0.075 of a step (defaults)"
check leashed_drops "$(sqlite3 "$tmp/a.db" "SELECT steps_started - steps_accepted > 0 FROM runs WHERE label = 'leashed ps1'")" 1
check sync_tau0 "$(sqlite3 -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$tmp/a.db" "SELECT COUNT(*), MAX(staleness) FROM steps s JOIN runs r USING (run_id) WHERE r.label = 'sync'" | cut -d'|' -f2)" 0
check virtual_pu "$(sqlite3 -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$tmp/a.db" "SELECT DISTINCT pu FROM steps")" "-1"
# the comparison can fail: another seed gives other rows
k3=$(sqlite3 "$tmp/a.db" "SELECT key FROM runs WHERE label = 'async'")
k4=$(sqlite3 "$tmp/a.db" "SELECT key FROM runs WHERE label = 'seed 4'")
grep "^step|$k3|" "$tmp/rows_a" | cut -d'|' -f3- > "$tmp/s3"
grep "^step|$k4|" "$tmp/rows_a" | cut -d'|' -f3- > "$tmp/s4"
check other_seed_differs "$(cmp -s "$tmp/s3" "$tmp/s4" || echo differs)" differs

# refusals at the line that says so
printf 'dataset = "synthetic";\nthreads = 4;\nclock = "virtual";\nalgorithm = "mutex";\nbackoff = "linear";\nstop = { steps = 10; };\n' > "$tmp/bad1.cfg"
out=$tmp/out_bad1
check_run refuses_backoff 2 "bad1.cfg:3:.*backoff 'linear' with store 'mutex'" "$PSGD" run "$tmp/bad1.cfg" --db "$tmp/c.db"
printf 'dataset = "synthetic";\nthreads = 4;\nclock = "virtual";\nalgorithm = "mutex";\nstep_time = "constant:100,copy=0.6,apply=0.6";\nstop = { steps = 10; };\n' > "$tmp/bad4.cfg"
out=$tmp/out_bad4
check_run refuses_holds_over_step 2 'bad4.cfg:5:.*more than the whole step' "$PSGD" run "$tmp/bad4.cfg" --db "$tmp/c.db"
printf 'dataset = "synthetic";\nclock = "virtual";\nstep_time = "lognormal:5";\nstop = { steps = 10; };\n' > "$tmp/bad2.cfg"
out=$tmp/out_bad2
check_run refuses_bad_step_time 2 'bad2.cfg:3:.*step_time' "$PSGD" run "$tmp/bad2.cfg" --db "$tmp/c.db"
printf 'dataset = "synthetic";\nstep_time = "constant:5";\nstop = { steps = 10; };\n' > "$tmp/bad3.cfg"
out=$tmp/out_bad3
check_run refuses_step_time_real 2 'bad3.cfg:2:.*virtual' "$PSGD" run "$tmp/bad3.cfg" --db "$tmp/c.db"
out=$tmp/out_train
check_run train_virtual 0 'train: done status ok' "$PSGD" train --dataset synthetic --hidden 16 \
  --steps 400 --threads 64 --clock virtual --step-time constant:100
check train_virtual_says_units "$(grep -c 'virtual clock: t, steps/s and wall_s below are virtual time' "$out")" 1
check_run train_virtual_rwlock 0 'train: done status ok' "$PSGD" train --dataset synthetic --hidden 16 \
  --steps 400 --threads 64 --clock virtual --step-time constant:100,copy=0.1,apply=0.1 --store rwlock
out=$tmp/out_train_bo
check_run train_refuses_backoff 2 "backoff 'random' with store 'leashed'" "$PSGD" train --dataset synthetic \
  --hidden 16 --steps 40 --threads 4 --clock virtual --algorithm leashed --backoff random

# step_time "run:<key>": replay the step durations of a recorded run (k3, async
# above, lognormal): every replayed duration is one of that run's
sed -e "s/^step_time = .*/step_time = \"run:$k3\";/" -e 's/^threads = 16;/threads = 8;/' "$tmp/v.cfg" |
  awk '/^variants/ {print "variants = ( { label = \"replay\"; algorithm = \"interval\"; y0 = 4; } );"; exit} {print}' > "$tmp/replay.cfg"
out=$tmp/out_replay
check_run replay_ran 0 '' "$PSGD" run "$tmp/replay.cfg" --db "$tmp/a.db"
kr=$(sqlite3 "$tmp/a.db" "SELECT key FROM runs WHERE label = 'replay' AND status = 'ok'")
q() { sqlite3 -batch -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$tmp/a.db" "$1"; }
check replay_steps "$([ "$(q "SELECT COUNT(*) FROM steps s JOIN runs r USING (run_id) WHERE r.key = '$kr'")" -ge 1500 ] && echo yes)" yes
check replay_durations_from_run "$(q "SELECT COUNT(*) FROM steps s JOIN runs r USING (run_id) WHERE r.key = '$kr'
  AND s.t_end_ns - s.t_start_ns NOT IN (SELECT t.t_end_ns - t.t_start_ns FROM steps t JOIN runs u USING (run_id) WHERE u.key = '$k3')")" 0
check replay_recorded "$(sqlite3 "$tmp/a.db" "SELECT step_time FROM runs WHERE key = '$kr'")" "run:$k3"
sed -e "s/^step_time = .*/step_time = \"run:0123456789abcdef\";/" "$tmp/replay.cfg" > "$tmp/replay_bad.cfg"
out=$tmp/out_replay_bad
check_run replay_unknown_key 1 'no run with key 0123456789abcdef' "$PSGD" run "$tmp/replay_bad.cfg" --db "$tmp/a.db"
