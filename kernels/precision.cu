// float32 <-> bfloat16 array conversions: a grid_range map, one element per step, each converted
// by runtime/bf16.h (cvt.rn.bf16.f32 on the GPU). Launch: 256-thread blocks over the elements (the
// emulator's shares are contiguous). Memory traffic: 6 bytes per element, either way.
#include "kernels/precision.h"

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    round_to_bf16_kernel(const float* __restrict__ in, bf16* __restrict__ out, std::size_t n) {
  for (const std::size_t i : grid_range(n)) out[i] = to_bf16(in[i]);
}

__global__ void __launch_bounds__(kBlock)
    widen_to_float_kernel(const bf16* __restrict__ in, float* __restrict__ out, std::size_t n) {
  for (const std::size_t i : grid_range(n)) out[i] = to_float(in[i]);
}

}  // namespace

void round_to_bf16(const float* in, bf16* out, std::size_t n, stream_t stream) {
  if (n == 0) return;
  GQ_CHECK(in && out, "round_to_bf16: null device pointer");
  launch(round_to_bf16_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, in, out, n);
}

void widen_to_float(const bf16* in, float* out, std::size_t n, stream_t stream) {
  if (n == 0) return;
  GQ_CHECK(in && out, "widen_to_float: null device pointer");
  launch(widen_to_float_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, in, out, n);
}

}  // namespace gq::kernels
