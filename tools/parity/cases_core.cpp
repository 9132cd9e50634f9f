// Parity cases for the first kernels: transpose (reductions and elementwise maps are kernel cases:
// kernels/cases/).
#include <cstdint>

#include "kernels/transpose.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

std::vector<float> seeded(std::size_t n, std::uint64_t seed) {
  return seeded_uniform(n, seed, 0x9a7);
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
