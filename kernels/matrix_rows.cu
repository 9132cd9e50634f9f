// Row maps over a strided matrix in one launch (kernels/matrix_rows.h): scale every row, or copy
// one row into every row.
// Launch shape: a 2-D grid, blockIdx.y = the row (<= 65535 rows), blockIdx.x = the row's share
// of blocks. GPU: 256 threads, up to 64 blocks per row, strided (coalesced) shares of the
// columns. Emulator: one single-thread block per row walking the row contiguously (no index
// divisions, no barriers).
// Memory traffic: scale_rows reads and writes 4 bytes per element (8 * rows * cols);
// broadcast_row writes 4 bytes per element and reads the source row once per row
// (8 * rows * cols from memory at most, the source mostly from cache). Bandwidth-bound.
#include "kernels/matrix_rows.h"

#include <algorithm>

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = kEmulatorShapes ? 1 : 256;
constexpr std::size_t kMaxBlocksPerRow = 64;

__device__ __forceinline__ IndexRange row_share(std::size_t cols) {
  return thread_share(cols, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                      std::size_t{gridDim.x} * blockDim.x);
}

__global__ void __launch_bounds__(kBlock)
    scale_rows_kernel(float* m, std::size_t cols, std::size_t ld, float alpha) {
  float* row = m + std::size_t{blockIdx.y} * ld;
  for (const std::size_t c : row_share(cols)) row[c] *= alpha;
}

__global__ void __launch_bounds__(kBlock)
    broadcast_row_kernel(const float* __restrict__ src, float* __restrict__ m, std::size_t cols,
                         std::size_t ld) {
  float* row = m + std::size_t{blockIdx.y} * ld;
  for (const std::size_t c : row_share(cols)) row[c] = src[c];
}

// Grid of the row maps: (blocks per row, rows).
dim3 rows_grid(const char* what, const MatrixView& m) {
  GQ_CHECK(m.data != nullptr, "{}: null matrix", what);
  GQ_CHECK(m.ld >= m.cols, "{}: ld {} < cols {}", what, m.ld, m.cols);
  GQ_CHECK(m.rows <= 65535, "{}: {} rows exceed a grid's y limit of 65535", what, m.rows);
  const std::size_t per_row =
      kEmulatorShapes ? 1 : std::min<std::size_t>((m.cols + kBlock - 1) / kBlock, kMaxBlocksPerRow);
  return dim3(static_cast<unsigned>(per_row), static_cast<unsigned>(m.rows));
}

}  // namespace

void scale_rows(MatrixView m, float alpha, stream_t stream) {
  if (m.rows == 0 || m.cols == 0) return;
  launch(scale_rows_kernel, rows_grid("scale_rows", m), dim3(kBlock), 0, stream, m.data, m.cols,
         m.ld, alpha);
}

void broadcast_row(const float* row, MatrixView m, stream_t stream) {
  if (m.rows == 0 || m.cols == 0) return;
  GQ_CHECK(row != nullptr, "broadcast_row: null source row");
  launch(broadcast_row_kernel, rows_grid("broadcast_row", m), dim3(kBlock), 0, stream, row, m.data,
         m.cols, m.ld);
}

}  // namespace gq::kernels
