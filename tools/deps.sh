#!/usr/bin/env bash
# Installs the Debian packages gradqueue builds against, if any is missing. Idempotent.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  ccache                   # CMake compiles through it (GQ_CCACHE): CI's builds reuse unchanged objects
  libboost-context-dev     # emulator fibers
  libopenblas-dev          # blas on the CPU
  libdnnl-dev              # dnn on the CPU (oneDNN 2.x)
  ocl-icd-opencl-dev       # oneDNN's CMake config requires OpenCL (only a 'recommends' of libdnnl-dev)
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev
  libarchive-dev zlib1g-dev liblzma-dev  # datasets straight from .tar.xz / .gz
  libonnx-dev libprotobuf-dev  # gq-export --format onnx: ONNX's protobuf classes and checker
  libpng-dev libturbojpeg0-dev  # gq-predict: PNG/JPEG images as model inputs (datasets/image_file.h)
  dataset-fashion-mnist    # fallback dataset when CIFAR-10 is absent
  python3-numpy python3-matplotlib       # tools/plot.py
  python3-venv             # tools/test-venv.sh: the tests' readers from PyPI (TensorBoard's)
  clang libclang-rt-dev    # tools/fuzz.sh: libFuzzer, ASan and UBSan ship in clang's compiler-rt
  openmpi-bin libopenmpi-dev  # data-parallel training: mpirun, MPI (NCCL comes with the CUDA toolkit)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
