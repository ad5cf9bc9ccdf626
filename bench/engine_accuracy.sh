#!/bin/sh
# bench/engine_accuracy.sh - issue 3, "must show" 7: every algorithm at 2
# threads on Fashion-MNIST reaches the sequential accuracy within 2
# percentage points. Same data, model, update rule, batch order (GETBATCH(i))
# and number of epochs as the sequential baseline of EXPERIMENTS.md (MLP
# 784-128-128-128-10, batch 32, momentum lr 0.01 mu 0.9, 5 epochs); prints
# one line per algorithm and a final verdict. Not part of `make test` (about
# a minute on 2 free cores).
#
# Usage: sh bench/engine_accuracy.sh [EPOCHS [SEED]]
PSGD=${PSGD:-build/psgd}
EPOCHS=${1:-5}
SEED=${2:-1}
common="--dataset fashion-mnist --model mlp --hidden 128,128,128 --batch 32 --lr 0.01 \
--momentum 0.9 --optimizer momentum --epochs $EPOCHS --seed $SEED"

acc_of() { sed -n 's/.* test_acc \([0-9.]*\) wall_s \([0-9.]*\)$/\1 \2/p' | tail -1; }

# shellcheck disable=SC2086
seq=$("$PSGD" train $common | acc_of)
[ -n "$seq" ] || { echo "engine_accuracy: the sequential run failed"; exit 1; }
set -- $seq
seq_acc=$1
printf '%-34s %8s %8s %8s\n' "algorithm (2 threads)" "test_acc" "diff_pp" "wall_s"
printf '%-34s %8s %8s %8s\n' "sequential (1 thread)" "$seq_acc" "-" "$2"
fail=0
run() { # label, flags...
  label=$1
  shift
  # shellcheck disable=SC2086
  r=$("$PSGD" train $common --threads 2 "$@" | acc_of)
  if [ -z "$r" ]; then
    echo "$label: run failed"
    fail=1
    return
  fi
  set -- $r
  d=$(awk -v a="$1" -v s="$seq_acc" 'BEGIN { printf "%+.2f", 100 * (a - s) }')
  ok=$(awk -v a="$1" -v s="$seq_acc" 'BEGIN { print (100 * (s - a) <= 2.0) ? "ok" : "FAIL" }')
  [ "$ok" = ok ] || fail=1
  printf '%-34s %8s %8s %8s %s\n' "$label" "$1" "$d" "$2" "$ok"
}
run "async (hogwild)" --algorithm async
run "interval y0=4" --algorithm interval --y0 4
run "interval y0=64 decay K=4096" --algorithm interval --y0 64 --y-control decay
run "interval y0=16 probing" --algorithm interval --y0 16 --y-control probing \
  --probe-window 3 --probe-steps 256 --exec-steps 1024
run "sync" --algorithm sync
run "elastic (w=3 p=256 x=1024)" --algorithm elastic --probe-window 3 --probe-steps 256 \
  --exec-steps 1024
run "hogwild" --algorithm hogwild
run "mutex" --algorithm mutex
run "rwlock" --algorithm rwlock
run "leashed ps=inf" --algorithm leashed
run "leashed ps=0" --algorithm leashed --ps 0
run "mutex + exponential backoff" --algorithm mutex --backoff exponential
run "mindthestep (async)" --algorithm async --optimizer mindthestep
if [ "$fail" -eq 0 ]; then echo "engine_accuracy: all within 2 pp of sequential"; else
  echo "engine_accuracy: some algorithm is more than 2 pp below sequential"; fi
exit $fail
