// Test helpers around a Trainer: run steps and read back the losses and the parameters.
#pragma once

#include <vector>

#include "runtime/memory.h"
#include "runtime/train/trainer.h"

namespace gq::train {

// The mean training loss of each of `steps` steps.
inline std::vector<float> run_steps(Trainer& t, int steps) {
  std::vector<float> losses;
  for (int i = 0; i < steps; ++i) {
    t.step();
    losses.push_back(static_cast<float>(t.take_train_loss()));
  }
  return losses;
}

inline std::vector<float> params_of(Trainer& t) {
  auto& reg = t.model().params();
  std::vector<float> v(reg.size());
  copy_to_host(v.data(), reg.values(), v.size() * sizeof(float));
  return v;
}

}  // namespace gq::train
