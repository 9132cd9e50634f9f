#!/usr/bin/env bash
# Fetches the official dataset archives into a data root and verifies their checksums.
#   tools/get-data.sh [--root DIR] [cifar10] [mnist]            download (needs internet)
#   tools/get-data.sh [--root DIR] --from PATH cifar10|mnist     copy what you already have: the
#                                                                archive (cifar10) or a folder
#                                                                holding the four .gz files (mnist)
# DIR defaults to $GQ_DATA_DIR, else ../shared/data. gq-train reads the archives directly.
set -euo pipefail
root="${GQ_DATA_DIR:-$(dirname "$0")/../../shared/data}"
from=""
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift ;;
    --from) from="$2"; shift ;;
    cifar10|mnist) sets+=("$1") ;;
    *) echo "get-data.sh: unknown argument '$1' (datasets: cifar10, mnist)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#sets[@]} -gt 0 ] || sets=(cifar10 mnist)

# name  url  md5 (the values published with the datasets)
cifar10_files=("cifar-10-binary.tar.gz https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz c32a1d4ab5d03f1284b67883e8d87530")
mnist_files=(
  "train-images-idx3-ubyte.gz https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz f68b3c2dcbeaaa9fbdd348bbdeb94873"
  "train-labels-idx1-ubyte.gz https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz d53e105ee54ea40749a09fcbcd1e9432"
  "t10k-images-idx3-ubyte.gz https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz 9fb629c4189551a2d022fa330f9573f3"
  "t10k-labels-idx1-ubyte.gz https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz ec29112dd5afa0611ce80d1b7f02629c"
)

verify() {  # verify FILE MD5
  local got
  got=$(md5sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "get-data.sh: $1: md5 $got, expected $2 (corrupt or wrong file); removing it" >&2
    rm -f "$1"
    return 1
  fi
  echo "ok  $1"
}

status=0
for set in "${sets[@]}"; do
  mkdir -p "$root/$set"
  declare -n files="${set}_files"
  for entry in "${files[@]}"; do
    read -r name url md5 <<<"$entry"
    dest="$root/$set/$name"
    if [ -d "$from" ]; then
      cp "$from/$name" "$dest"
    elif [ -n "$from" ]; then
      cp "$from" "$dest"
    elif [ ! -f "$dest" ]; then
      echo "get  $url"
      if ! curl -fL --retry 3 -o "$dest.part" "$url"; then
        echo "get-data.sh: download of $url failed; without internet, copy the file in with --from" >&2
        rm -f "$dest.part"; status=1; continue
      fi
      mv "$dest.part" "$dest"
    fi
    verify "$dest" "$md5" || status=1
  done
done
exit $status
