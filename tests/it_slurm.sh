#!/bin/sh
# it_slurm.sh - psgd slurm and psgd merge on a real Slurm: a one-host cluster
# (munge + slurmctld + slurmd on localhost, the slurm.conf written below)
# runs a tiny sweep as a job array; the merge job's database is checked
# against a local run of the same sweep (same keys, same statuses); one array
# index is cancelled (scancel) and the sweep submitted again: only that slice
# runs again and every run is in the merged database exactly once.
#
# Needs root and the packages of `make deps-slurm`; run it with `make
# test-slurm` (PSGD_TEST_SLURM=1). Under `make test` it only says so: it
# writes /etc/slurm/slurm.conf and starts daemons, which helpers running tests
# side by side must not do at once. A cluster that is already up is used as it
# is and left running; daemons this script started are stopped by their pids.
if [ "${PSGD_TEST_SLURM:-}" != 1 ]; then
  echo "it_slurm.sh: not run here (needs root and Slurm): make deps-slurm test-slurm"
  exit 0
fi
PSGD=${PSGD:-build/psgd}
PSGD=$(cd "$(dirname "$PSGD")" && pwd)/$(basename "$PSGD")
. tests/lib_check.sh
fails=0
ck() { r=$(check "$@"); echo "$r"; case "$r" in "not ok"*) fails=$((fails + 1)) ;; esac; }
tmp=$(mktemp -d /tmp/psgd_it_slurm.XXXXXX) || exit 1
chmod 755 "$tmp"
started=
wrote_conf=
jobs=
cleanup() {
  for j in $jobs; do scancel "$j" 2>/dev/null; done
  for d in $started; do
    pid=$(cat "/run/$d.pid" 2>/dev/null)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    i=0; while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  done
  case " $started " in *" munged "*) rm -f /run/munged.pid ;; esac
  [ -n "$wrote_conf" ] && rm -f /etc/slurm/slurm.conf
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- the cluster: use a running one, else bring one up
if sinfo -h -o %T 2>/dev/null | grep -Eq 'idle|mix|alloc'; then
  echo "# using the Slurm cluster that is already up"
else
  for b in munged slurmctld slurmd sbatch; do
    command -v $b >/dev/null || [ -x /usr/sbin/$b ] || { echo "not ok slurm_installed ($b missing: make deps-slurm)"; exit 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "not ok slurm_root (bringing up a cluster needs root)"; exit 1; }
  if [ ! -f /etc/slurm/slurm.conf ]; then
    cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=localhost
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmUser=root
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    wrote_conf=1
  fi
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
  chown munge:munge /run/munge
  if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c /usr/sbin/munged || { echo "not ok munged_start"; exit 1; }
    # munged's pid file, under the name cleanup uses
    ln -sf /run/munge/munged.pid /run/munged.pid
    started="munged"
  fi
  pgrep -x slurmctld >/dev/null || { /usr/sbin/slurmctld && started="slurmctld $started"; }
  pgrep -x slurmd >/dev/null || { /usr/sbin/slurmd && started="slurmd $started"; }
  i=0
  until sinfo -h -o %T 2>/dev/null | grep -Eq 'idle|mix|alloc'; do
    i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1
  done
  echo "# started: ${started:-nothing}"
fi
ck cluster_up "$(sinfo -h -o %T 2>/dev/null | grep -Ec 'idle|mix|alloc')" 1
cpus=$(sinfo -h -o %c | head -n 1)

# ---- a tiny sweep: 6 runs of about half a second, 2 per array task
cat > "$tmp/tiny.cfg" <<'CFG'
description = "tiny sweep for the Slurm test";
dataset = "synthetic";
model = "mlp"; hidden = [16];
threads = 1;
stop = { seconds = 0.5; epochs = 0.0; };
timeout = 30.0;
eval = { every_s = 0.25; };
sweep = { batch = [4, 8, 16]; threads = [1, 2]; };
CFG
cd "$tmp" || exit 1
q() { sqlite3 -batch "$1" "$2"; }
"$PSGD" run tiny.cfg --db local.db > local.out 2>&1
ck local_sweep "$(q local.db "SELECT count(*) FROM runs WHERE status = 'ok'")" 6

# waits until job $1 has left the queue (at most $2 s)
wait_gone() {
  i=0
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    i=$((i + 1)); [ $i -gt $(($2 * 10)) ] && return 1; sleep 0.1
  done
}

# ---- submission 1, the run at index 2 (array task 1) hangs so it can be cancelled
PSGD_TEST_HANG_RUN=2 "$PSGD" slurm tiny.cfg --db merged.db --runs-per-task 2 --submit > sub1.out 2>&1
cat sub1.out
ck sub1_tasks "$(grep -c '3 array tasks of up to 2 runs, --cpus-per-task=2' sub1.out)" 1
array=$(sed -n 's/.*submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\1/p' sub1.out)
merge=$(sed -n 's/.*submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\2/p' sub1.out)
jobs="$array $merge"
echo "# array job $array (3 tasks), merge job $merge"
script=$(ls merged.db.slurm/tiny/*/array.sh)
ck script_shebang "$(head -c 2 "$script")" "#!"
ck script_array "$(grep -c '^#SBATCH --array=0-2$' "$script")" 1
# while those jobs are queued, the same sweep is not submitted again
"$PSGD" slurm tiny.cfg --db merged.db --runs-per-task 2 > sub_busy.out 2>&1
ck busy_refused "$? $(grep -c "still in the queue: .*(jobs $array $merge)" sub_busy.out)" "1 1"
ck busy_no_scripts "$(ls merged.db.slurm/tiny | wc -l)" 1
i=0
until [ "$(squeue -h -j "${array}_1" -o %T 2>/dev/null)" = RUNNING ]; do
  i=$((i + 1)); [ $i -gt 600 ] && break; sleep 0.1
done
ck task1_running "$(squeue -h -j "${array}_1" -o %T 2>/dev/null)" RUNNING
sleep 1
scancel "${array}_1"
echo "# scancel ${array}_1"
wait_gone "$array" 120; ck array1_done $? 0
wait_gone "$merge" 120; ck merge1_done $? 0
dir1=$(dirname "$script")
echo "# merge job 1 log:"; cat "$dir1"/logs/merge_*.out
ck merge1_log "$(grep -c '^merge: 3 inputs into' "$dir1"/logs/merge_*.out)" 1
ck merged1_runs "$(q merged.db "SELECT count(*) FROM runs WHERE status = 'ok'")" 4
# the slice of array index 1: runs 2 and 3 as psgd list numbers them
k2=$("$PSGD" list tiny.cfg | awk '$1 == 2 {print $2}')
k3=$("$PSGD" list tiny.cfg | awk '$1 == 3 {print $2}')
ck merged1_lacks_slice1 "$(q merged.db "SELECT count(*) FROM runs WHERE key IN ('$k2', '$k3')")" 0
before=$(q merged.db "SELECT key || started_at FROM runs ORDER BY key")

# ---- submission 2: only what is missing (task 1's slice), one task
"$PSGD" slurm tiny.cfg --db merged.db --runs-per-task 2 --submit > sub2.out 2>&1
cat sub2.out
ck sub2_missing "$(grep -c '6 runs selected, 4 finished in .* 2 to run' sub2.out)" 1
ck sub2_tasks "$(grep -c '1 array tasks of up to 2 runs' sub2.out)" 1
array2=$(sed -n 's/.*submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\1/p' sub2.out)
merge2=$(sed -n 's/.*submitted array job \([0-9]*\) and merge job \([0-9]*\).*/\2/p' sub2.out)
jobs="$jobs $array2 $merge2"
echo "# array job $array2 (1 task), merge job $merge2"
wait_gone "$array2" 120; ck array2_done $? 0
wait_gone "$merge2" 120; ck merge2_done $? 0
dir2=$(dirname "$(ls -t merged.db.slurm/tiny/*/array.sh | head -n 1)")
echo "# array 2 task log:"; cat "$dir2"/logs/task_0.out
echo "# merge job 2 log:"; cat "$dir2"/logs/merge_*.out
ck task2_ran_two "$(grep -c '1 selected, 0 skipped (finished before), 1 ran: 1 ok' "$dir2"/logs/task_0.out)" 2
ck merge2_log "$(grep -c '^merge: 4 inputs into .*: 2 runs added' "$dir2"/logs/merge_*.out)" 1

# ---- the merged database against the local sweep
ck merged_count "$(q merged.db "SELECT count(*) || ' ' || count(DISTINCT key) FROM runs")" "6 6"
ck same_keys_status "$(q merged.db "SELECT group_concat(key || ':' || status, ' ') FROM
  (SELECT key, status FROM runs ORDER BY key)")" "$(q local.db "SELECT group_concat(key || ':' ||
  status, ' ') FROM (SELECT key, status FROM runs ORDER BY key)")"
# the four runs of submission 1 were not run again
ck first_runs_kept "$(q merged.db "SELECT key || started_at FROM runs WHERE key IN
  (SELECT key FROM runs ORDER BY run_id LIMIT 4) ORDER BY key")" "$before"
# steps is a view over step_chunks (read through psgd's SQL function): check the table
ck no_orphans "$(q merged.db "SELECT (SELECT count(*) FROM step_chunks WHERE run_id NOT IN (SELECT
  run_id FROM runs)) + (SELECT count(*) FROM evals WHERE run_id NOT IN (SELECT run_id FROM runs))")" 0
ck steps_kept "$(q merged.db "SELECT count(*) FROM runs WHERE run_id NOT IN (SELECT run_id FROM step_chunks)")" 0
ck evals_kept "$(q merged.db "SELECT count(*) FROM runs WHERE run_id NOT IN (SELECT run_id FROM evals)")" 0
# each run records its allocation: job, array task, node, CPUs
ck alloc_recorded "$(q merged.db "SELECT count(*) FROM runs WHERE json_extract(alloc, '$.array_job')
  IN ('$array', '$array2') AND json_extract(alloc, '$.cpus_per_task') = '2' AND
  json_extract(alloc, '$.node') = 'localhost' AND json_extract(alloc, '$.cpus') IS NOT NULL")" 6
ck alloc_local_null "$(q local.db "SELECT count(*) FROM runs WHERE alloc IS NULL")" 6
ck slice_again "$(q merged.db "SELECT group_concat(key, ' ') FROM (SELECT key FROM runs WHERE
  json_extract(alloc, '$.array_job') = '$array2' ORDER BY key)")" "$(printf '%s\n%s\n' "$k2" "$k3" | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- merging the same shards again changes nothing
sum1=$(md5sum merged.db | cut -d' ' -f1)
"$PSGD" merge merged.db merged.db.slurm/tiny/*/task*.db > remerge.out 2>&1
cat remerge.out
ck remerge_same "$(md5sum merged.db | cut -d' ' -f1)" "$sum1"
ck remerge_added "$(grep -c ': 0 runs added, 0 replaced, 6 already there' remerge.out)" 1
[ "$cpus" -ge 1 ] 2>/dev/null && echo "# node CPUs: $cpus"
exit $((fails > 0))
