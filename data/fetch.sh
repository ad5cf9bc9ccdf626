#!/bin/sh
# data/fetch.sh - `make data`: downloads MNIST and the CIFAR-10/100 binary
# versions, checks each file's SHA-256, and unpacks them where data_load
# looks (core/data.h):
#   data/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  (kept gzipped)
#   data/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin
#   data/cifar-100-binary/{train,test}.bin
# Fashion-MNIST needs no download: Debian's dataset-fashion-mnist (make deps).
#
# Usage: sh data/fetch.sh [mnist] [cifar10] [cifar100]   (default: all three)
# Environment: PSGD_DATA_DIR (default: this script's directory),
#   PSGD_MNIST_MIRRORS (space-separated base URLs, tried in order),
#   PSGD_CIFAR_BASE (base URL of the CIFAR tarballs).
# A file already present with the right checksum is not downloaded again.
#
# Checksums. SHA-256 values from TensorFlow Datasets' url_checksums
# (tensorflow/datasets: tensorflow_datasets/url_checksums/{mnist,cifar10,
# cifar100}.txt). The MNIST ones were recorded for the storage.googleapis.com
# cvdf-datasets mirror; the ossci-datasets and yann.lecun.com files are the
# same bytes (torchvision and others publish one MD5 per file for all three
# mirrors, e.g. train-images f68b3c2dcbeaaa9fbdd348bbdeb94873, and the sizes
# agree), so one SHA-256 serves every mirror. The CIFAR values were recorded
# for the www.cs.toronto.edu tarballs (the site itself publishes only MD5:
# cifar-10-binary c32a1d4ab5d03f1284b67883e8d87530, cifar-100-binary
# 03b5dce01913d631647c71ecec9e9cb8). They could not be re-verified against
# the servers from the machine this was written on (no network there).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${PSGD_DATA_DIR:-$here}
mnist_mirrors=${PSGD_MNIST_MIRRORS:-"https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist http://yann.lecun.com/exdb/mnist"}
cifar_base=${PSGD_CIFAR_BASE:-"https://www.cs.toronto.edu/~kriz"}

die() {
  echo "data/fetch.sh: $*" >&2
  exit 1
}

for tool in curl sha256sum tar; do
  command -v "$tool" >/dev/null 2>&1 || die "needs '$tool' (make deps installs curl)"
done

# sha256 FILE -> prints the hex digest
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# fetch NAME SHA256 OUTFILE URL... : download OUTFILE from the first URL
# that works, verify, and move into place atomically.
fetch() {
  name=$1 want=$2 out=$3
  shift 3
  if [ -f "$out" ] && [ "$(sha256 "$out")" = "$want" ]; then
    echo "data: $name present and verified"
    return 0
  fi
  tmp="$out.part"
  tried=""
  for url in "$@"; do
    echo "data: downloading $name from $url"
    if curl -fL --retry 2 --connect-timeout 20 -sS -o "$tmp" "$url"; then
      got=$(sha256 "$tmp")
      if [ "$got" = "$want" ]; then
        mv "$tmp" "$out"
        echo "data: $name verified (sha256 $want)"
        return 0
      fi
      rm -f "$tmp"
      die "$name from $url: checksum mismatch: got sha256 $got, expected $want (corrupt or changed download; nothing kept)"
    fi
    rm -f "$tmp"
    tried="$tried $url"
  done
  die "cannot download $name (tried:$tried). Offline or behind a proxy? Set https_proxy, or copy the file to $out by hand and re-run."
}

fetch_mnist() {
  mkdir -p "$dest/mnist"
  while read -r file sum; do
    urls=""
    for m in $mnist_mirrors; do urls="$urls $m/$file"; done
    # shellcheck disable=SC2086  # word splitting of the URL list is wanted
    fetch "MNIST $file" "$sum" "$dest/mnist/$file" $urls
  done <<EOF
train-images-idx3-ubyte.gz 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
train-labels-idx1-ubyte.gz 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
t10k-images-idx3-ubyte.gz 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
t10k-labels-idx1-ubyte.gz f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
EOF
}

# fetch_cifar NAME TARBALL SHA256 DIR FILE... : download, verify, unpack
# into $dest (the tarball holds DIR/), and check the files data_load reads.
fetch_cifar() {
  name=$1 tarball=$2 sum=$3 dir=$4
  shift 4
  ok=1
  for f in "$@"; do [ -f "$dest/$dir/$f" ] || ok=0; done
  if [ "$ok" = 1 ]; then
    echo "data: $name already unpacked in $dest/$dir"
    return 0
  fi
  mkdir -p "$dest"
  fetch "$name" "$sum" "$dest/$tarball" "$cifar_base/$tarball"
  echo "data: unpacking $tarball"
  tar -xzf "$dest/$tarball" -C "$dest" || die "$dest/$tarball: cannot unpack"
  for f in "$@"; do
    [ -f "$dest/$dir/$f" ] || die "$dest/$tarball: unpacked, but $dir/$f is missing"
  done
  rm -f "$dest/$tarball"
}

fetch_cifar10() {
  fetch_cifar CIFAR-10 cifar-10-binary.tar.gz \
    c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd cifar-10-batches-bin \
    data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin \
    test_batch.bin
}

fetch_cifar100() {
  fetch_cifar CIFAR-100 cifar-100-binary.tar.gz \
    58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec cifar-100-binary \
    train.bin test.bin
}

[ $# -gt 0 ] || set -- mnist cifar10 cifar100
for what in "$@"; do
  case $what in
    mnist) fetch_mnist ;;
    cifar10) fetch_cifar10 ;;
    cifar100) fetch_cifar100 ;;
    *) die "unknown dataset '$what' (known: mnist cifar10 cifar100)" ;;
  esac
done
echo "data: done ($*) in $dest"
