// Parity case for the Grad Queue: the gradient ring's length rule (the ring's pushes and
// statistics and scarcity_combine are kernel cases: kernels/cases/).
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gradient_ring.h"
#include "runtime/memory.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

using namespace gq::kernels;

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

}  // namespace
}  // namespace gq::parity
