#!/bin/sh
# it_runner_determinism.sh - issue 6, must show 4: the same experiment file
# with the same seeds gives the same run keys and, for sequential runs
# (threads 1, stopped by a step count), bit-identical results in two
# separate databases: final test loss/accuracy and every step's loss.
PSGD=${PSGD:-build/psgd}
case "$PSGD" in /*) ;; *) PSGD=$(pwd)/$PSGD ;; esac  # it also runs from /
tmp=$(mktemp -d /tmp/psgd_it_det.XXXXXX) || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/det.cfg" <<'CFG'
dataset = "synthetic";
model = "mlp"; hidden = [32];
threads = 1;
seed = 3;
stop = { steps = 300; epochs = 0.0; };
eval = { every_s = 0.0; every_steps = 100; };
variants = (
  { label = "async"; algorithm = "async"; },
  { label = "interval"; algorithm = "interval"; y0 = 4; },
  { label = "sync"; algorithm = "sync"; },
  { label = "seed 4"; algorithm = "async"; seed = 4; }
);
CFG
. tests/lib_check.sh
keys() { "$PSGD" list "$tmp/det.cfg" --db "$1" | grep '^ *[0-9]\+  [0-9a-f]\{16\} ' | awk '{print $2}'; }
# exact text of every double: %.17g round-trips
results() {
  sqlite3 -batch "$1" "SELECT label, key, status, steps_accepted, printf('%.17g', final_test_loss),
                              printf('%.17g', final_test_acc) FROM runs ORDER BY key"
}
steps() {
  sqlite3 -batch -cmd ".load ${PSGD_STEPS_EXT:-build/psgd_steps}" "$1" "SELECT r.key, s.step, s.accepted, printf('%.17g', s.loss)
                       FROM steps s JOIN runs r ON r.run_id = s.run_id ORDER BY r.key, s.step"
}

"$PSGD" run "$tmp/det.cfg" --db "$tmp/a.db" > "$tmp/out_a" 2>&1; ra=$?
(cd / && "$PSGD" run "$tmp/det.cfg" --db "$tmp/b.db") > "$tmp/out_b" 2>&1; rb=$?
check both_ran "$ra $rb" "0 0"
check same_keys "$(keys "$tmp/a.db" | tr '\n' ' ')" "$(keys "$tmp/b.db" | tr '\n' ' ')"
check keys_recorded "$(sqlite3 "$tmp/a.db" 'SELECT key FROM runs ORDER BY key' | tr '\n' ' ')" \
  "$(keys "$tmp/a.db" | sort | tr '\n' ' ')"
results "$tmp/a.db" > "$tmp/res_a"; results "$tmp/b.db" > "$tmp/res_b"
check same_final_results "$(cmp -s "$tmp/res_a" "$tmp/res_b" && echo same)" same
steps "$tmp/a.db" > "$tmp/steps_a"; steps "$tmp/b.db" > "$tmp/steps_b"
check step_rows "$(wc -l < "$tmp/steps_a")" 1200
check same_step_losses "$(cmp -s "$tmp/steps_a" "$tmp/steps_b" && echo same)" same
# and the comparison can fail: another seed gives other losses
l3=$(sqlite3 "$tmp/a.db" "SELECT printf('%.17g', final_test_loss) FROM runs WHERE label='async'")
l4=$(sqlite3 "$tmp/a.db" "SELECT printf('%.17g', final_test_loss) FROM runs WHERE label='seed 4'")
check other_seed_differs "$([ "$l3" != "$l4" ] && echo differs)" differs
# at m = 1 every dispatcher is sequential SGD (tests/test_engine.c checks it against
# the sequential oracle, tests/seq_oracle.h): the three agree bit for bit
check m1_dispatchers_agree \
  "$(sqlite3 "$tmp/a.db" "SELECT COUNT(DISTINCT printf('%.17g', final_test_loss)) FROM runs WHERE label IN ('async', 'interval', 'sync')")" 1

# a run with neither stop.seconds nor a timeout has no time estimate (it was
# printed as "0s"), in psgd list and in psgd run's first line
printf 'dataset = "synthetic"; model = "mlp"; hidden = [8];\nstop = { epochs = 0.05; };\n' > "$tmp/noest.cfg"
check noest_list "$("$PSGD" list "$tmp/noest.cfg" --db "$tmp/noest.db" | tail -n 1 | grep -c 'to run: no time estimate')" 1
check noest_run "$("$PSGD" run "$tmp/noest.cfg" --db "$tmp/noest.db" | head -n 1 | grep -c '(no time estimate: no stop.seconds or timeout)')" 1
