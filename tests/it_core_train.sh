#!/bin/sh
# it_core_train.sh - `psgd train` end to end: help, a short run on the
# synthetic set (progress and summary lines), and exit status 2 with a clear
# message for bad flags and for missing data (argument errors). Prints "ok NAME" / "not ok NAME".
PSGD=${PSGD:-build/psgd}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

. tests/lib_check.sh

check_run help 0 "usage: psgd train" "$PSGD" train --help
check_run run_synthetic 0 "train: done status ok epochs 2.00 steps 256 .* test_acc 0\.[0-9]* wall_s [0-9.]*$" \
  "$PSGD" train --dataset synthetic --model mlp --hidden 32 --batch 16 --lr 0.05 --epochs 2 --seed 3
check_run progress_line 0 "train: epoch 1.00 steps 128 steps/s [0-9.]* train_loss" \
  "$PSGD" train --dataset synthetic --model mlp --hidden 32 --epochs 1
check_run unknown_flag 2 "psgd train: unknown option '--threds'" "$PSGD" train --threds 4
check_run bad_value 2 "psgd train: --batch: 'many' is not an integer" "$PSGD" train --batch many
check_run missing_value 2 "psgd train: --epochs: missing value" "$PSGD" train --epochs
check_run bad_model 2 "unknown model 'resnet'" "$PSGD" train --model resnet
check_run missing_data 2 "run \`make data\` to download CIFAR-10" \
  "$PSGD" train --dataset cifar10 --data-dir /nonexistent --model lenet5
