// Inverted dropout, forward and backward, with the keep mask regenerated from Philox by element
// index (see dropout.h for the exact mapping), so the two passes agree without a stored mask.
// Launch shape: grid-stride map (kBlock threads, grid from grid_stride_blocks, grid_range shares)
// over groups of 4 elements; one Philox4x32-10 call per group supplies the 4 keep decisions. Memory
// traffic: 8 bytes per element (read input, write output); no mask traffic. Bandwidth-bound (the 10
// Philox rounds per 4 elements are cheap integer multiplies).
#include "kernels/dropout.h"

#include "runtime/error.h"
#include "runtime/portable.cuh"
#include "runtime/rng.h"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    dropout_kernel(const float* in, float* out, std::size_t n, float p, float scale,
                   std::uint64_t seed, DeviceScalar<std::uint64_t> offset_arg,
                   std::uint64_t first_group) {
  const std::size_t groups = (n + 3) / 4;
  const std::uint64_t offset = offset_arg.get();
  for (const std::size_t g : grid_range(groups)) {
    const Philox4 r = philox_random4(seed, offset, first_group + g);
    for (int k = 0; k < 4; ++k) {
      const std::size_t i = 4 * g + k;
      if (i < n) out[i] = uniform01(r.v[k]) >= p ? in[i] * scale : 0.0f;
    }
  }
}

void run(const char* what, const float* in, float* out, std::size_t n, float p, std::uint64_t seed,
         DeviceScalar<std::uint64_t> offset, stream_t stream, std::size_t first) {
  GQ_CHECK(p >= 0.0f && p < 1.0f, "{}: drop probability must be in [0, 1), got {}", what, p);
  GQ_CHECK(first % 4 == 0, "{}: first element {} is not a multiple of 4", what, first);
  GQ_CHECK(n == 0 || (in && out), "{}: null device pointer for n = {}", what, n);
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - p);
  const std::size_t groups = (n + 3) / 4;
  launch(dropout_kernel, grid_stride_blocks(groups, kBlock), kBlock, 0, stream, in, out, n, p,
         scale, seed, offset, static_cast<std::uint64_t>(first / 4));
}

}  // namespace

void dropout_forward(const float* x, float* y, std::size_t n, float p, std::uint64_t seed,
                     DeviceScalar<std::uint64_t> offset, stream_t stream, std::size_t first) {
  run("dropout_forward", x, y, n, p, seed, offset, stream, first);
}

void dropout_backward(const float* dy, float* dx, std::size_t n, float p, std::uint64_t seed,
                      DeviceScalar<std::uint64_t> offset, stream_t stream, std::size_t first) {
  run("dropout_backward", dy, dx, n, p, seed, offset, stream, first);
}

}  // namespace gq::kernels
