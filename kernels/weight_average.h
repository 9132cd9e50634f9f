// Lookahead weight averaging (airbench94's LookaheadState): an EMA copy of a model's float state
// (parameters and normalisation running statistics) that, at every update, moves toward the live
// weights and is then copied back into them:
//   ema = lerp(ema, w, 1 - decay);  w = ema
// with torch's lerp (self + t * (end - self) for t < 0.5, end - (end - self) * (1 - t) otherwise,
// each as one fmaf). Every state tensor, however many, goes through one launch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/device_scalar.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace gq::kernels {

// A device float tensor the EMA covers (a flat parameter vector, a layer's running statistics).
struct StateSpan {
  float* data;
  std::size_t count;
};

// airbench94's schedule: an update every `every` steps, with decay base * (s / total)^3 after s
// steps (s = 1..total, counted after the step), and after the last step (s == total, if not a
// multiple of `every`) a final update with decay 1 (w = ema: the steps since the last update are
// dropped, as the original does).
struct LookaheadSchedule {
  std::uint64_t total_steps = 0;
  std::uint32_t every = 5;
  double base = 0.7737809374999999;  // 0.95^5
};

// The decay the schedule applies after s steps, or a negative value where it makes no update.
// The device computes it with the same double operations, then rounds to float.
float lookahead_decay(const LookaheadSchedule& schedule, std::uint64_t steps_done);

class LookaheadEma {
 public:
  // At most kMaxTensors tensors, each non-empty; the EMA copy is one flat buffer, in their order.
  static constexpr int kMaxTensors = 64;
  explicit LookaheadEma(std::vector<StateSpan> tensors);

  // ema = w (the start of averaging; a resume restores state() instead).
  void reset(stream_t stream = nullptr);
  // One update with a fixed decay in [0, 1].
  void update(float decay, stream_t stream = nullptr);
  // The schedule's update after steps_done steps, decided on the device (nothing happens on steps
  // without an update): what a captured training step calls every step, with
  // steps_done = DeviceScalar<std::uint64_t>::read(&scalars->step).affine(1, 1).
  void update_on_schedule(const LookaheadSchedule& schedule, DeviceScalar<std::uint64_t> steps_done,
                          stream_t stream = nullptr);

  // The EMA copy: the state a checkpoint saves and restores.
  DeviceBuffer<float>& state() { return ema_; }
  const std::vector<StateSpan>& tensors() const { return tensors_; }
  std::size_t bytes() const { return ema_.bytes(); }

 private:
  std::vector<StateSpan> tensors_;
  std::size_t max_count_ = 0;
  DeviceBuffer<float> ema_;
};

}  // namespace gq::kernels
