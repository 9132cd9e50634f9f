#!/usr/bin/env bash
# Installs what is missing and builds gradqueue into build/ (binaries in build/bin/).
# GQ_CUDA=ON|OFF|AUTO (default AUTO: the GPU build when nvcc and a GPU are present).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cuda_flags=()
if command -v nvcc >/dev/null 2>&1; then
  cuda_flags+=("-DCMAKE_CUDA_COMPILER=$(command -v nvcc)")
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_flags+=("-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc")
fi
cmake -S . -B build -G Ninja -DGQ_CUDA="${GQ_CUDA:-AUTO}" -DCMAKE_BUILD_TYPE=Release \
      -DGQ_BUILD_TESTS=OFF "${cuda_flags[@]}"
cmake --build build -j "$(nproc)"
echo "setup: built $(ls build/bin | wc -l) binaries in build/bin"
