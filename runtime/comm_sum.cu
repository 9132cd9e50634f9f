// The fixed-order sum of the ranks' chunks (runtime/comm.h): one thread per element adds the
// ranks' values in rank order, so the result does not depend on the launch shape or the device.
#include "runtime/comm.h"
#include "runtime/portable.cuh"

namespace gq {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    sum_in_rank_order_kernel(const float* __restrict__ parts, int ranks, std::size_t stride,
                             std::size_t n, float* __restrict__ out) {
  for (std::size_t i : grid_range(n)) {
    float s = parts[i];
    for (int r = 1; r < ranks; ++r) s += parts[static_cast<std::size_t>(r) * stride + i];
    out[i] = s;
  }
}

}  // namespace

void sum_in_rank_order(const float* parts, int ranks, std::size_t stride, std::size_t n, float* out,
                       stream_t stream) {
  if (n == 0) return;
  launch(sum_in_rank_order_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, parts, ranks,
         stride, n, out);
}

}  // namespace gq
