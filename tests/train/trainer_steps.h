// Test helpers around a Trainer: run steps and read back the losses and the parameters.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/memory.h"
#include "runtime/train/trainer.h"

namespace gq::train {

// A small quiet mnist-cnn run on subsets of MNIST at lr 0.05: what the Trainer tests train.
inline TrainConfig small_mnist_config(int batch_size, int epochs, int train_subset, int test_subset,
                                      std::uint64_t seed) {
  TrainConfig cfg;
  cfg.model = "mnist-cnn";
  cfg.dataset = "mnist";
  cfg.batch_size = batch_size;
  cfg.epochs = epochs;
  cfg.train_subset = train_subset;
  cfg.test_subset = test_subset;
  cfg.lr = 0.05f;
  cfg.seed = seed;
  cfg.quiet = true;
  return cfg;
}

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
