// Parity cases for the first kernels: reductions, transpose (elementwise maps: kernels/cases/).
#include <cstdint>

#include "kernels/reduce.h"
#include "kernels/transpose.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

std::vector<float> seeded(std::size_t n, std::uint64_t seed) {
  return seeded_uniform(n, seed, 0x9a7);
}

// The devices split the sum among threads differently (grid_range): rounding-level differences.
// Max and argmax are exact.
GQ_PARITY_CASE("reduce/sum+max+argmax n=1000003", 0.0, 1e-5) {
  const std::size_t n = 1000003;
  DeviceBuffer<float> x(std::span<const float>(seeded(n, 1)));
  DeviceBuffer<char> scratch(kernels::reduce_scratch_bytes());
  DeviceBuffer<float> out(4);
  DeviceBuffer<std::int64_t> idx(1);
  kernels::reduce_sum(x.data(), n, out.data(), scratch.data());
  kernels::reduce_sum_squares(x.data(), n, out.data() + 1, scratch.data());
  kernels::reduce_max(x.data(), n, out.data() + 2, scratch.data());
  kernels::reduce_argmax(x.data(), n, idx.data(), out.data() + 3, scratch.data());
  std::vector<float> r = out.to_host();
  r.push_back(static_cast<float>(idx.to_host()[0]));
  return r;
}

GQ_PARITY_CASE("transpose 300x41 batch 3", 0.0, 0.0) {
  const int rows = 300, cols = 41, batch = 3;
  const std::size_t n = std::size_t(rows) * cols * batch;
  DeviceBuffer<float> in(std::span<const float>(seeded(n, 4)));
  DeviceBuffer<float> out(n);
  kernels::transpose(in.data(), out.data(), rows, cols, batch);
  return out.to_host();
}

}  // namespace
}  // namespace gq::parity
