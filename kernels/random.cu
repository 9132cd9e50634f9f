// Philox-based random fills (parameter init). Element i uses word i % 4 of the Philox block i / 4,
// so the values do not depend on the launch shape. Grid-stride over blocks of four elements.
// Memory traffic: 4 bytes written per element; compute-light (10 Philox rounds per 4 elements).
#include "kernels/random.h"

#include "runtime/portable.cuh"
#include "runtime/rng.h"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    fill_uniform_kernel(float* x, std::size_t n, float lo, float hi, std::uint64_t seed,
                        std::uint64_t rng_stream) {
  const std::size_t quads = (n + 3) / 4;
  for (std::size_t q : grid_range(quads)) {
    const Philox4 r = philox_random4(seed, rng_stream, q);
    for (int j = 0; j < 4 && 4 * q + j < n; ++j) x[4 * q + j] = lo + (hi - lo) * uniform01(r.v[j]);
  }
}

__global__ void __launch_bounds__(kBlock)
    fill_normal_kernel(float* x, std::size_t n, float mean, float stddev, std::uint64_t seed,
                       std::uint64_t rng_stream) {
  const std::size_t quads = (n + 3) / 4;
  for (std::size_t q : grid_range(quads)) {
    const Philox4 r = philox_random4(seed, rng_stream, q);
    float z[4];
    normal2(r.v[0], r.v[1], z[0], z[1]);
    normal2(r.v[2], r.v[3], z[2], z[3]);
    for (int j = 0; j < 4 && 4 * q + j < n; ++j) x[4 * q + j] = mean + stddev * z[j];
  }
}

}  // namespace

void fill_uniform(float* x, std::size_t n, float lo, float hi, std::uint64_t seed,
                  std::uint64_t rng_stream, stream_t stream) {
  if (n == 0) return;
  launch(fill_uniform_kernel, grid_stride_blocks((n + 3) / 4, kBlock), kBlock, 0, stream, x, n, lo,
         hi, seed, rng_stream);
}

void fill_normal(float* x, std::size_t n, float mean, float stddev, std::uint64_t seed,
                 std::uint64_t rng_stream, stream_t stream) {
  if (n == 0) return;
  launch(fill_normal_kernel, grid_stride_blocks((n + 3) / 4, kBlock), kBlock, 0, stream, x, n, mean,
         stddev, seed, rng_stream);
}

}  // namespace gq::kernels
