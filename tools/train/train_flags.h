// gq-train's flags: each with its default (TrainConfig's), its allowed values and its help text,
// and the --config file they may also come from. gq-train and the config fuzzer both use it, so
// the fuzzer parses exactly what the tool parses.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "tools/train/config_file.h"
#include "runtime/train/train_config.h"

namespace gq::train {

// Where the flags land: TrainConfig fields directly, and the words and paths that main() turns
// into TrainConfig fields after parsing.
struct TrainFlags {
  TrainConfig cfg;
  std::string data_dir, metrics, checkpoint_dir, resume;
  double comm_timeout = 600;  // seconds (runtime/comm.h: Communicator::set_timeout)
  std::string gq_clusters = "auto", gq_scarcity = "powtanh", gq_sigma = "cluster",
              gq_granularity = "element", gq_weight = "size", gq_renorm = "on";
};

// Declares every flag on `app`, storing into `flags`, and installs the strict --config reader
// (returned: main() asks it where a bad value came from).
std::shared_ptr<ConfigFile> add_train_flags(CLI::App& app, TrainFlags& flags);

}  // namespace gq::train
