#!/bin/sh
# it_slurm_script.sh - psgd slurm's job scripts without a cluster: what it
# writes (array size, CPUs, time, keys), the array script run by hand as
# Slurm would run task 0 (its slice into its own shard, the allocation
# recorded), the merge script, then only what is missing is written again;
# PSGD_CORES and --cores for "<f>x" thread counts; bad input.
# (tests/it_slurm.sh does the same on a real Slurm: make test-slurm.)
PSGD=${PSGD:-build/psgd}
PSGD=$(cd "$(dirname "$PSGD")" && pwd)/$(basename "$PSGD")
. tests/lib_check.sh
tmp=$(mktemp -d /tmp/psgd_it_slurm_script.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/tiny.cfg" <<'CFG'
description = "tiny sweep for the job-script test";
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 0.3; epochs = 0.0; };
timeout = 20.0;
eval = { every_s = 0.1; };
sweep = { batch = [4, 8, 16]; };
CFG
out=$tmp/out
cd "$tmp" || exit 1
q() { sqlite3 -batch "$1" "$2"; }

check_run bad_option 2 "unknown option" "$PSGD" slurm tiny.cfg --bogus
check_run bad_per_task 2 "expected an integer >= 1" "$PSGD" slurm tiny.cfg --runs-per-task 0
check_run bad_factor 2 "expected a number > 0" "$PSGD" slurm tiny.cfg --time-factor -1
check_run bad_file 2 "nope.cfg" "$PSGD" slurm nope.cfg
check_run write 0 "2 array tasks of up to 2 runs, --cpus-per-task=1, --time=6 min" \
  "$PSGD" slurm tiny.cfg --db m.db --runs-per-task 2 --partition short
dir=$(dirname "$(ls m.db.slurm/tiny/*/array.sh)")
check shebang "$(head -c 2 "$dir/array.sh")" "#!"
check array_line "$(grep -c '^#SBATCH --array=0-1$' "$dir/array.sh")" 1
check partition "$(grep -c '^#SBATCH --partition=short$' "$dir/array.sh" "$dir/merge.sh" | grep -c ':1$')" 2
k0=$("$PSGD" list tiny.cfg | awk '$1 == 0 {print $2}')
k1=$("$PSGD" list tiny.cfg | awk '$1 == 1 {print $2}')
check slice0_keys "$(grep -c "^0) keys='$k0 $k1' ;;$" "$dir/array.sh")" 1
check submit_afterany "$(grep -c 'dependency=afterany:\$array ' "$dir/submit.sh")" 1

# task 0 as Slurm runs it: its two runs into task0.db, the allocation recorded
SLURM_JOB_ID=101 SLURM_ARRAY_JOB_ID=100 SLURM_ARRAY_TASK_ID=0 SLURMD_NODENAME=n7 \
  SLURM_CPUS_PER_TASK=1 sh "$dir/array.sh" > task0.log 2>&1
check task0_exit $? 0
check task0_shard "$(q "$dir/task0.db" "SELECT count(*) FROM runs WHERE status = 'ok'")" 2
check task0_alloc "$(q "$dir/task0.db" "SELECT DISTINCT json_extract(alloc, '$.job') || ' ' ||
  json_extract(alloc, '$.array_job') || ' ' || json_extract(alloc, '$.array_task') || ' ' ||
  json_extract(alloc, '$.node') || ' ' || json_extract(alloc, '$.cpus_per_task') || ' ' ||
  (json_extract(alloc, '$.cpus') IS NOT NULL) FROM runs")" "101 100 0 n7 1 1"
sh "$dir/merge.sh" > merge.log 2>&1
check merge_exit $? 0
check merge_log "$(grep -c '^merge: 1 inputs into .*: 2 runs added' merge.log)" 1
check merged "$(q m.db "SELECT count(*) FROM runs")" 2
# task 0 again: both runs are in m.db now, so it skips them
SLURM_ARRAY_TASK_ID=0 sh "$dir/array.sh" > task0b.log 2>&1
check task0_again_skips "$(grep -c 'ok in .*m.db, skipped' task0b.log)" 2
# written again: only the third run is missing
check_run rewrite 0 "3 runs selected, 2 finished in .* 1 to run" \
  "$PSGD" slurm tiny.cfg --db m.db --runs-per-task 2
check rewrite_tasks "$(grep -c '1 array tasks' "$out")" 1
"$PSGD" run tiny.cfg --db m.db > /dev/null 2>&1
check_run nothing_left 0 "nothing to submit" "$PSGD" slurm tiny.cfg --db m.db
# an unknown array index fails
SLURM_ARRAY_TASK_ID=7 sh "$dir/array.sh" > /dev/null 2>&1
check unknown_index $? 2

# "<f>x" threads: PSGD_CORES resolves them; --cores caps the CPUs per task
cat > rel.cfg <<'CFG'
description = "relative threads";
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = "2x";
stop = { seconds = 0.3; epochs = 0.0; };
timeout = 20.0;
CFG
check cores_env "$(PSGD_CORES=3 "$PSGD" list rel.cfg | grep -c '^scale quick, 3 cores, ')" 1
check_run cores_opt 0 "cpus-per-task=4 (1 runs have more threads than 4 cores" \
  "$PSGD" slurm rel.cfg --db r.db --cores 4
check cores_export "$(grep -c '^export PSGD_CORES=4$' r.db.slurm/rel/*/array.sh)" 1
