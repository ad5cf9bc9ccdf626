#!/bin/sh
# it_core_fetch.sh - data/fetch.sh (`make data`) without the network: an
# unreachable mirror fails with a clear message, a download with the wrong
# checksum is rejected and not kept, an unknown dataset name is refused.
# Uses file:// "mirrors" in a temporary directory. Prints ok/not ok lines.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/out"

. tests/lib_check.sh

export PSGD_DATA_DIR="$tmp/data"
PSGD_MNIST_MIRRORS="file://$tmp/nowhere" \
  check_run offline 1 "cannot download MNIST train-images-idx3-ubyte.gz (tried: file://$tmp/nowhere/" \
  sh data/fetch.sh mnist

mkdir -p "$tmp/mirror"
echo "not the real file" >"$tmp/mirror/train-images-idx3-ubyte.gz"
PSGD_MNIST_MIRRORS="file://$tmp/mirror" \
  check_run checksum 1 "checksum mismatch: got sha256 .* expected 440fcabf" sh data/fetch.sh mnist
if [ -e "$PSGD_DATA_DIR/mnist/train-images-idx3-ubyte.gz" ] ||
  [ -e "$PSGD_DATA_DIR/mnist/train-images-idx3-ubyte.gz.part" ]; then
  echo "not ok checksum_nothing_kept"
else
  echo "ok checksum_nothing_kept"
fi

PSGD_CIFAR_BASE="file://$tmp/nowhere" \
  check_run offline_cifar 1 "cannot download CIFAR-10" sh data/fetch.sh cifar10
check_run unknown 1 "unknown dataset 'svhn'" sh data/fetch.sh svhn
