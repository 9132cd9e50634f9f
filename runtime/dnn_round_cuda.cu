// fp32 values rounded to bf16 and kept as fp32 (runtime/dnn_round.h): cvt.rn.bf16.f32 and back,
// one element per grid-stride step, 256-thread blocks. 8 bytes of traffic per element.
#include "runtime/bf16.h"
#include "runtime/dnn_round.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::dnn::detail {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    round_through_bf16_kernel(const float* __restrict__ in, float* __restrict__ out,
                              std::size_t n) {
  for (const std::size_t i : grid_range(n)) out[i] = to_float(to_bf16(in[i]));
}

}  // namespace

void round_through_bf16(const float* in, float* out, std::size_t n, stream_t stream) {
  if (n == 0) return;
  GQ_CHECK(in && out, "round_through_bf16: null device pointer");
  launch(round_through_bf16_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, in, out, n);
}

}  // namespace gq::dnn::detail
