// Batched transpose through a shared-memory tile, so both the read and the write are coalesced.
// Launch shape: 32x8 threads per 32x32 tile (each thread moves 4 elements), grid =
// (ceil(cols/32), ceil(rows/32), batch). The tile has one padding column so that the column reads
// hit 32 different banks. Memory traffic: 8 bytes per element (one read, one write).
#include "kernels/transpose.h"

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kTile = 32;
constexpr int kRowsPerPass = 8;

__global__ void __launch_bounds__(kTile* kRowsPerPass)
    transpose_kernel(const float* __restrict__ in, float* __restrict__ out, int rows, int cols) {
  __shared__ float tile[kTile][kTile + 1];
  const long long plane = static_cast<long long>(rows) * cols;
  in += blockIdx.z * plane;
  out += blockIdx.z * plane;

  const int col = blockIdx.x * kTile + threadIdx.x;
  for (int dy = threadIdx.y; dy < kTile; dy += kRowsPerPass) {
    const int row = blockIdx.y * kTile + dy;
    if (row < rows && col < cols)
      tile[dy][threadIdx.x] = in[static_cast<long long>(row) * cols + col];
  }
  __syncthreads();
  // Write the tile transposed: output row = input column.
  const int out_col = blockIdx.y * kTile + threadIdx.x;  // = input row
  for (int dy = threadIdx.y; dy < kTile; dy += kRowsPerPass) {
    const int out_row = blockIdx.x * kTile + dy;  // = input column
    if (out_row < cols && out_col < rows)
      out[static_cast<long long>(out_row) * rows + out_col] = tile[threadIdx.x][dy];
  }
}

}  // namespace

void transpose(const float* in, float* out, int rows, int cols, int batch, stream_t stream) {
  GQ_CHECK(rows >= 0 && cols >= 0 && batch >= 0, "transpose of a {}x{} matrix, batch {}", rows,
           cols, batch);
  if (rows == 0 || cols == 0 || batch == 0) return;
  GQ_CHECK(batch <= 65535, "transpose batch {} exceeds the grid's z limit of 65535", batch);
  const dim3 grid((cols + kTile - 1) / kTile, (rows + kTile - 1) / kTile, batch);
  launch(transpose_kernel, grid, dim3(kTile, kRowsPerPass), 0, stream, in, out, rows, cols);
}

}  // namespace gq::kernels
