// The settings that give a run's state its meaning: a checkpoint records them, and resuming with
// any of them changed would continue another run's state as if it were this one's (another seed
// reshuffles, another --lr or --epochs bends the schedule, another --gq-qmax reshapes the queue).
// Paths, logging and evaluation-only flags are not among them.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/train/train_config.h"

namespace gq::train {

// {"model": ..., "lr": ..., "gq-qmin": ...}: keyed by flag name (without --).
nlohmann::json run_settings(const TrainConfig& cfg);

// One line per setting that differs: "--seed: checkpoint 0, this run 1"; empty when they match.
std::vector<std::string> settings_differences(const nlohmann::json& checkpoint,
                                              const nlohmann::json& run);

}  // namespace gq::train
