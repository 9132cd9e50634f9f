// Parity cases for the Grad Queue: the gradient ring's length rule and scarcity_combine in element
// and cluster granularity (the ring's pushes and statistics are kernel cases).
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gradient_ring.h"
#include "kernels/scarcity.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

using namespace gq::kernels;

std::vector<float> seeded(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return seeded_uniform(n, seed, 0x9a7, lo, hi);
}

// The length rule's loss EMA in double, one thread on both devices, whose multiply-add nvcc may
// contract: an ulp of the float it is read as (the pushes and statistics are kernel cases:
// kernels/cases/gradient_ring_cases.cpp).
GQ_PARITY_CASE("gradqueue/length rule over 12 losses qmin=2 qmax=6", 0.0, 1.2e-7) {
  const RingState init = initial_ring_state(2, 6, 2);
  DeviceBuffer<RingState> state{std::span<const RingState>(&init, 1)};
  DeviceBuffer<float> loss(1);
  const float losses[] = {2.0f, 1.9f, 1.8f, 1.7f, 1.6f, 1.5f, 1.4f, 5.0f, 4.0f, 3.0f, 2.9f, 2.8f};
  std::vector<float> out;
  for (float l : losses) {
    loss.upload(std::span<const float>(&l, 1));
    ring_update_length(state.data(), loss.data(), 0.9f, 1e-3f);
    const RingState s = state.to_host()[0];
    out.push_back(static_cast<float>(s.qlen));
    out.push_back(static_cast<float>(s.loss_ema));
  }
  return out;
}

std::vector<float> combine_case(Granularity granularity, ScarcityFamily family) {
  const std::size_t p = 65539;
  const int k = 5;
  const std::vector<int> sizes_h = {40, 0, 17, 130, 69};
  int b = 0;
  for (int n : sizes_h) b += n;
  const std::vector<int> offsets_h = {0, 30000, 30064, 60000, 60100, static_cast<int>(p)};
  auto grads = upload(seeded(k * p, 7, -0.05f, 0.05f));
  auto mean = upload(seeded(p, 8, -0.01f, 0.01f)), sd = upload(seeded(p, 9, 0.0f, 0.02f));
  DeviceBuffer<int> sizes{std::span<const int>(sizes_h)}, offsets{std::span<const int>(offsets_h)};
  RingState st = initial_ring_state(4, 32, 8);
  st.count = 8;
  DeviceBuffer<RingState> state{std::span<const RingState>(&st, 1)};
  DeviceBuffer<float> gbar(p), gstar(p);
  DeviceBuffer<CombineDiagnostics> diag(1);
  const int tensors = static_cast<int>(offsets_h.size()) - 1;
  DeviceBuffer<char> scratch(combine_scratch_bytes(p, k, tensors));
  ScarcityOptions o;
  o.granularity = granularity;
  o.family = family;
  scarcity_combine(grads.data(), {.sizes = sizes.data(), .k = k, .b = b},
                   {mean.data(), sd.data(), state.data()}, {offsets.data(), tensors}, p, o,
                   {gbar.data(), gstar.data(), diag.data()}, scratch.data());
  std::vector<float> out;
  append(out, gbar);
  append(out, gstar);
  const CombineDiagnostics d = diag.to_host()[0];
  for (float v :
       {d.mean_delta, d.frac_delta_gt1, d.cos_gstar_gbar, d.norm_gbar, d.norm_gstar, d.noise_scale})
    out.push_back(v);
  out.push_back(static_cast<float>(d.applied));
  return out;
}

// powf / tanhf differ by an ulp or two between libdevice and glibc, and the norms are block
// reductions shared among threads differently on the two devices.
GQ_PARITY_CASE("gradqueue/scarcity_combine element powtanh p=65539 k=5", 1e-6, 1e-5) {
  return combine_case(Granularity::element, ScarcityFamily::powtanh);
}

GQ_PARITY_CASE("gradqueue/scarcity_combine cluster chebyshev p=65539 k=5", 1e-6, 1e-5) {
  return combine_case(Granularity::cluster, ScarcityFamily::chebyshev);
}

}  // namespace
}  // namespace gq::parity
