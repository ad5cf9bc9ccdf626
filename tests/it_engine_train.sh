#!/bin/sh
# it_engine_train.sh - `psgd train` through the parallel engine: every
# algorithm name at 2 threads on the synthetic set ends "status ok" with the
# expected step count, the controllers and stores are reachable from the
# flags, and bad engine flags exit 2 with a clear message.
# Prints "ok NAME" / "not ok NAME".
PSGD=${PSGD:-build/psgd}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

. tests/lib_check.sh

base="--dataset synthetic --hidden 32 --batch 16 --lr 0.05 --epochs 2 --eval-every-s 0.01"
for alg in async interval sync elastic hogwild mutex rwlock leashed; do
  # shellcheck disable=SC2086
  check_run "algorithm_$alg" 0 "train: done status ok epochs 2.0[0-9] steps 25[6-9] " \
    "$PSGD" train --threads 2 --algorithm "$alg" --y0 4 $base
done
# shellcheck disable=SC2086
check_run config_line 0 "dispatcher interval, store leashed, backoff exponential, y0 8, y control decay, ps 1" \
  "$PSGD" train --threads 2 --algorithm interval --store leashed --backoff exponential --ps 1 \
  --y0 8 --y-control decay --y-decay-k 16 $base
# shellcheck disable=SC2086
check_run store_after_algorithm 0 "dispatcher sync, store rwlock" \
  "$PSGD" train --store rwlock --algorithm sync --threads 2 $base
# shellcheck disable=SC2086
check_run probing 0 "train: done status ok" \
  "$PSGD" train --threads 3 --algorithm interval --y-control probing --probe-window 3 \
  --probe-steps 16 --exec-steps 32 $base
# shellcheck disable=SC2086
check_run one_thread_path 0 "train: epoch 2.00 steps 256" "$PSGD" train $base
# shellcheck disable=SC2086
check_run final_eval_line 0 "train: epoch 2.0[0-9] steps 25[6-9] steps/s [0-9.]* train_loss [0-9.]* test_loss [0-9.]* test_acc" \
  "$PSGD" train --threads 2 $base
# the list is the registries', the same as in the help
algs=$("$PSGD" train --help | sed -n 's/^  --algorithm NAME *//p' | sed 's/ (default [^)]*)$//')
check_run bad_algorithm 2 "unknown algorithm 'semisync' (known: $algs)" \
  "$PSGD" train --algorithm semisync
check_run bad_store 2 "unknown param store 'lockfree'" "$PSGD" train --store lockfree
check_run bad_backoff 2 "unknown backoff 'quadratic' (known: none, linear, exponential, random)" \
  "$PSGD" train --backoff quadratic
check_run backoff_hogwild 2 "needs a store that retries" "$PSGD" train --threads 2 --backoff linear
check_run ps_not_leashed 2 "applies only to store 'leashed'" "$PSGD" train --threads 2 --ps 0
check_run decay_not_interval 2 "needs algorithm 'interval'" "$PSGD" train --threads 2 --y-control decay
check_run store_contradiction 2 "store 'leashed' contradicts algorithm 'mutex'" \
  "$PSGD" train --algorithm mutex --store leashed
check_run bad_threads 2 "--threads: '0' is not an integer in \[1, 4096\]" "$PSGD" train --threads 0
