// An optimizer steps the flat parameter vector (models::ParamRegistry) with a gradient and keeps
// named state buffers of one float per parameter. The Trainer's allocation, checkpoints and memory
// plan iterate state() and nothing else, so adding an optimizer is one file in optimizers/ plus
// one line in optimizer.cpp's table (docs/ARCHITECTURE.md has a worked example).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/params.h"
#include "runtime/device_scalar.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "runtime/train/train_config.h"

namespace gq::train {

// One step. lr comes from the schedule; step counts the steps taken before this one; both may be
// device memory read when the kernels run (the Trainer's are: kernels/step_scalars.h), so that a
// captured step replays with each step's values. apply (optional, device): when it holds 0 the
// step changes nothing (decided on the device).
struct StepInputs {
  float* params;
  const float* grads;
  DeviceScalar<float> lr;
  DeviceScalar<std::uint64_t> step;
  const std::int32_t* apply;
  stream_t stream;
};

// The registry's parameter groups, covering the trainable range [0, trainable_count()) (frozen
// tensors get no step, no momentum, no decay). With (params, weight_decay): the decayed tensors
// [0, decayed_count()) take the weight decay, the rest (biases, normalisation parameters) none.
struct ParamGroup {
  std::size_t offset, count;
  float weight_decay;
  float lr_scale = 1.0f;          // the group's learning rate is lr * lr_scale
  std::uint64_t until_step = 0;   // > 0: updated at steps < until_step only, frozen after
  bool operator==(const ParamGroup&) const = default;
};
std::vector<ParamGroup> param_groups(const models::ParamRegistry& params, float weight_decay);
// Per tensor, from the settings: lr_scale = norm_lr_scale for normalisation parameters (else 1);
// weight_decay = s.weight_decay / lr_scale for decayed tensors and, with decay_biases, for every
// trainable one (PyTorch's per-group weight_decay = wd / lr_group: the same decay per step), else
// 0; until_step = stem_until_step for stem_tensors. Consecutive tensors alike share a group, so
// the defaults give param_groups(params, weight_decay)'s two groups.
std::vector<ParamGroup> param_groups(const models::ParamRegistry& params,
                                     const OptimizerSettings& s);
// "1.6M lr x1 wd 0.00133, 24 lr x1 wd 0.00133 until step 144, ..." (the configuration line).
std::string describe_groups(const std::vector<ParamGroup>& groups);

class Optimizer {
 public:
  struct State {
    std::string name;            // its checkpoint section
    DeviceBuffer<float> values;  // one float per parameter, zero at the start
  };
  virtual ~Optimizer() = default;
  virtual void step(const StepInputs& in) = 0;
  std::vector<State>& state() { return state_; }
  // Its name and hyper-parameters for the run's configuration lines ("nesterov momentum 0.9").
  virtual std::string describe() const = 0;
  // Device bytes held besides the state (scratch, derived tables), for the memory plan.
  virtual std::size_t scratch_bytes() const { return 0; }

 protected:
  // A zeroed state buffer of p floats, saved and restored under `name`.
  float* add_state(std::string name, std::size_t p);

 private:
  std::vector<State> state_;
};

// The optimizer named `name` (a --optimizer value) for the registry's allocated parameters.
// Throws gq::Error listing the valid names for an unknown one.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const OptimizerSettings& s,
                                          const models::ParamRegistry& params);
std::vector<std::string> optimizer_names();

}  // namespace gq::train
