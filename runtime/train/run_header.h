// The first record of each run segment (a fresh run, or each resume) in the --metrics JSONL: what
// ran (every setting in effect), from which code (version, git commit), where (host, device,
// libraries) and from which step. Trainer::log_metrics stamps it with the time, like every record.
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/train/train_config.h"

namespace gq::train {

// {"type": "run", "step": start_step, "settings": {...}, "version", "commit", "host", "device",
// "ranks", "libraries": {"blas", "dnn"[, "cuda_runtime", "cuda_driver"]}[, "resumed_from"]}.
nlohmann::json run_header(const TrainConfig& c, long start_step, int ranks);

}  // namespace gq::train
