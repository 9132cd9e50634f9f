// Parity cases for the training kernels: SGD, AdamW, gradient clipping and the non-finite detector
// (the loss and the norms are kernel cases: kernels/cases/).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

std::vector<float> seeded(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return seeded_uniform(n, seed, 0x7a1, lo, hi);
}

// Every multiply-add is an explicit fmaf: bit-identical on both devices.
GQ_PARITY_CASE("optim/sgd momentum+nesterov+plain, 3 steps n=65539", 0.0, 0.0) {
  const std::size_t n = 65539;
  auto p1 = upload(seeded(n, 13)), p2 = upload(seeded(n, 13)), p3 = upload(seeded(n, 13));
  auto b1 = upload(std::vector<float>(n, 0.0f)), b2 = upload(std::vector<float>(n, 0.0f));
  for (int step = 0; step < 3; ++step) {
    auto g = upload(seeded(n, 14 + step));
    kernels::sgd_step(p1.data(), g.data(), b1.data(), n, 0.1f, 0.9f, false, 5e-4f);
    kernels::sgd_step(p2.data(), g.data(), b2.data(), n, 0.1f, 0.9f, true, 5e-4f);
    kernels::sgd_step(p3.data(), g.data(), nullptr, n, 0.1f, 0.0f, false, 1e-2f);
  }
  std::vector<float> out;
  for (const auto* b : {&p1, &p2, &p3, &b1, &b2}) append(out, *b);
  return out;
}

GQ_PARITY_CASE("optim/adamw 3 steps n=65539", 1e-7, 1e-6) {
  const std::size_t n = 65539;
  auto p = upload(seeded(n, 20));
  auto m = upload(std::vector<float>(n, 0.0f)), v = upload(std::vector<float>(n, 0.0f));
  for (int step = 1; step <= 3; ++step) {
    auto g = upload(seeded(n, 20 + step));
    kernels::adamw_step(p.data(), g.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f,
                        0.01f, step);
  }
  std::vector<float> out;
  for (const auto* b : {&p, &m, &v}) append(out, *b);
  return out;
}

// The norm is a reduction, which the devices share among threads differently: rounding-level.
GQ_PARITY_CASE("optim/clip_grad_norm+any_nonfinite n=65539", 1e-7, 1e-5) {
  const std::size_t n = 65539;
  DeviceBuffer<char> scratch(kernels::reduce_scratch_bytes());
  auto g = upload(seeded(n, 30));
  auto bad_h = seeded(n, 31);
  bad_h[n - 1] = std::numeric_limits<float>::infinity();
  auto bad = upload(bad_h);
  DeviceBuffer<float> norm(1);
  DeviceBuffer<std::int32_t> flags(2);
  kernels::clip_grad_norm(g.data(), n, 10.0f, norm.data(), scratch.data());
  kernels::any_nonfinite(g.data(), n, flags.data(), scratch.data());
  kernels::any_nonfinite(bad.data(), n, flags.data() + 1, scratch.data());
  std::vector<float> out;
  append(out, norm);
  append(out, g);
  for (std::int32_t f : flags.to_host()) out.push_back(static_cast<float>(f));
  return out;
}

}  // namespace
}  // namespace gq::parity
