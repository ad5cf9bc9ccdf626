#!/bin/sh
# it_hw.sh - placement end to end: `psgd hw` on the reference machines and
# on bad input; `psgd train --threads 2 --placement uma` binds both workers
# here; a `psgd run` of a tiny experiment records placement rows with
# bound = 1, the topology XML, the hwloc version and a placement event; an
# impossible placement in an experiment file is refused at its line, and
# with placement_nearest runs and is recorded as the nearest equivalent.
# Prints "ok NAME" / "not ok NAME".
PSGD=${PSGD:-build/psgd}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$dir/out

. tests/lib_check.sh

same() { # name, expected, actual
  if [ "$2" = "$3" ]; then echo "ok $1"; else echo "not ok $1 (wanted '$2', got '$3')"; fi
}

thesis=hw/machines/thesis-2x-e5-2687w-v2.synth
check_run hw_summary_here 0 "packages [0-9]*, NUMA nodes [0-9]*, cores [0-9]*, PUs [0-9]*" "$PSGD" hw
check_run hw_thesis_numa8 0 "NUMA node 1 (P#1): package 1, 8 cores (L#8-15), 16 PUs (P#8-15,24-31)" \
  "$PSGD" hw --topology "$thesis" --placement numa --threads 8
# the numa table for 8 workers alternates nodes 0 and 1 (column 5 = node)
"$PSGD" hw --topology "$thesis" --placement numa --threads 8 >"$out" 2>&1
same hw_thesis_numa8_nodes "0 1 0 1 0 1 0 1" \
  "$(awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$/ {printf "%s%s", sep, $5; sep=" "}' "$out")"
"$PSGD" hw --topology "$thesis" --placement uma --threads 7 >"$out" 2>&1
same hw_thesis_uma7_packages "0 0 0 0 0 0 0" \
  "$(awk '/^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$/ {printf "%s%s", sep, $6; sep=" "}' "$out")"
check_run hw_epyc_numa_refused 2 "placement 'numa' needs at least 2 NUMA nodes" \
  "$PSGD" hw --topology hw/machines/epyc-9754.synth --placement numa --threads 8
check_run hw_epyc_nps4 0 "placement numa, 8 workers" \
  "$PSGD" hw --topology hw/machines/epyc-9754-nps4.synth --placement numa --threads 8
check_run hw_bad_synthetic 2 "not a valid hwloc synthetic description" \
  "$PSGD" hw --topology "synthetic:pack:2 bogus:3"
check_run hw_bad_xml 2 "topology tests/bad_hw/garbage.xml: not a valid lstopo XML topology" \
  "$PSGD" hw --topology tests/bad_hw/garbage.xml
check_run hw_bad_placement 2 "unknown placement 'diagonal'" \
  "$PSGD" hw --placement diagonal --threads 2
check_run hw_threads_needs_placement 2 "need --placement" "$PSGD" hw --threads 4

npu=$(nproc)
base="--dataset synthetic --hidden 32 --batch 16 --lr 0.05 --epochs 1 --eval-every-s 0"
if [ "$npu" -ge 2 ]; then
  check_run hw_bind_here 0 "worker 1: planned P#[0-9]*, bound 1, runs on P#" \
    "$PSGD" hw --placement uma --threads 2 --bind
  # shellcheck disable=SC2086
  check_run train_uma_bound 0 "train: placement uma -> uma, 2 of 2 workers bound; workers 0:P#[0-9]* 1:P#[0-9]*$" \
    "$PSGD" train --threads 2 --placement uma $base
fi
# a planning topology binds nothing and says so
# shellcheck disable=SC2086
check_run train_synthetic_unbound 0 "placement numa -> numa, 0 of 2 workers bound" \
  "$PSGD" train --threads 2 --placement numa --topology "synthetic:pack:2 numa:1 core:2 pu:1" $base
# shellcheck disable=SC2086
check_run train_numa_nearest 0 "placement numa -> uma (nearest equivalent)" \
  "$PSGD" train --threads 2 --placement numa --placement-nearest yes \
  --topology "synthetic:pack:1 numa:1 core:2 pu:1" $base
# shellcheck disable=SC2086
check_run train_numa_refused 2 "placement 'numa' needs at least 2 NUMA nodes" \
  "$PSGD" train --threads 2 --placement numa --topology "synthetic:pack:1 numa:1 core:2 pu:1" $base

# an experiment through the runner: the rows a figure would read
cat >"$dir/place.cfg" <<CFG
description = "placement rows";
dataset = "synthetic";
hidden = [32];
batch = 16;
lr = 0.05;
threads = 2;
stop = { epochs = 1.0; };
eval = { every_s = 0.0; };
variants = ( { label = "uma"; placement = "uma"; },
             { label = "numa~"; placement = "numa"; placement_nearest = true;
               topology = "synthetic:pack:1 numa:1 core:2 pu:1"; } );
CFG
db=$dir/r.db
check_run run_place 0 "" "$PSGD" run "$dir/place.cfg" --db "$db"
q() { sqlite3 -batch -noheader "$db" "$1"; }
if [ "$npu" -ge 2 ]; then
  same run_uma_rows_bound "2|2|2" "$(q "SELECT count(*), sum(p.bound), count(DISTINCT p.pu_os)
    FROM placement p JOIN runs r USING (run_id) WHERE r.label = 'uma'")"
  same run_uma_pinned "1" "$(q "SELECT pinned FROM runs WHERE label = 'uma'")"
fi
same run_uma_nodes "0|0" "$(q "SELECT min(p.node), max(p.node)
  FROM placement p JOIN runs r USING (run_id) WHERE r.label = 'uma'")"
same run_topology_xml "1|1" "$(q "SELECT topology_xml LIKE '%<topology%', versions LIKE '%hwloc 2.%'
  FROM runs WHERE label = 'uma'")"
same run_nearest_recorded "0|numa -> uma: 'numa' ran as uma: the topology has 1 NUMA node" \
  "$(q "SELECT CAST(e.value AS INTEGER), e.detail FROM events e JOIN runs r USING (run_id)
        WHERE r.label = 'numa~' AND e.kind = 'placement'")"
same run_synthetic_unbound "0|2" "$(q "SELECT sum(p.bound), count(*)
  FROM placement p JOIN runs r USING (run_id) WHERE r.label = 'numa~'")"
same run_membind_event "1" "$(q "SELECT count(*) FROM events e JOIN runs r USING (run_id)
  WHERE r.label = 'uma' AND e.kind = 'membind' AND e.detail != ''")"

# an impossible placement in a file: refused at its line, database untouched
cat >"$dir/bad.cfg" <<CFG
dataset = "synthetic";
threads = 2;
topology = "synthetic:pack:1 numa:1 core:2 pu:1";
placement = "numa";
CFG
check_run run_numa_refused 2 "$dir/bad.cfg:4: placement 'numa' needs at least 2 NUMA nodes" \
  "$PSGD" run "$dir/bad.cfg" --db "$dir/bad.db"
same run_refused_no_db "no" "$([ -e "$dir/bad.db" ] && echo yes || echo no)"

# inside an allocation (here: an affinity mask of one PU, as a Slurm task
# without cgroups has): the topology and every placement keep to it
last=$(nproc --all)
if [ "$last" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  last=$((last - 1))
  taskset -c "$last" "$PSGD" hw --placement uma --threads 2 >"$dir/alloc.out" 2>&1
  same alloc_topology_restricted "1" "$(grep -c "this machine (the 1 of its $((last + 1)) PUs" "$dir/alloc.out")"
  same alloc_plan_inside "$last $last" "$(awk '$1 == 0 || $1 == 1 { printf "%s%s", s, $2; s = " " }' "$dir/alloc.out")"
else
  echo "skip alloc_topology_restricted (one PU or no taskset here)"
  echo "skip alloc_plan_inside (one PU or no taskset here)"
fi
