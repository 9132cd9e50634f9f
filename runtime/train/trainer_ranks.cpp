// The Trainer's data-parallel pieces (trainer.h; docs/ARCHITECTURE.md, "Data-parallel training"):
// joining the ranks, their agreement on settings and data, and averaging what they accumulate
// apart.
#include "runtime/train/trainer.h"

#include <fmt/format.h>

#include "runtime/error.h"
#include "runtime/train/rank_agreement.h"
#include "runtime/train/settings.h"

namespace gq::train {

void Trainer::join_ranks() {
  if (!comm_ || !comm_->distributed()) {
    comm_ = nullptr;
    local_b_ = cfg_.batch_size;
    return;
  }
  rank_ = comm_->rank();
  ranks_ = comm_->size();
  check_same_settings_on_every_rank();
  // Every rank takes an equal share of each global batch, so that a step is the step of one
  // process on the whole batch; a remainder would make shares (and the mean) uneven.
  GQ_CHECK(cfg_.batch_size % ranks_ == 0,
           "--batch-size {} is not divisible by the {} processes of this job: every process "
           "takes batch-size / processes samples of each batch; use a multiple of {} (e.g. {}) "
           "or another number of processes",
           cfg_.batch_size, ranks_, ranks_, (cfg_.batch_size + ranks_ - 1) / ranks_ * ranks_);
  local_b_ = cfg_.batch_size / ranks_;
  // Rank 0 alone prints, writes metrics and checkpoints.
  if (rank_ != 0) {
    cfg_.quiet = true;
    cfg_.metrics_path.clear();
    cfg_.tensorboard_dir.clear();
  }
}

double Trainer::last_step_comm_ms() const {
  if (!comm_timed_) return 0.0;
  comm_stop_.synchronize();
  return comm_start_.elapsed_ms_until(comm_stop_);
}

// Every setting but paths (a rank may read its own copy of the data, or write elsewhere), and
// what the paths decide about when ranks communicate: checkpoints, the resumed step.
void Trainer::check_same_settings_on_every_rank() const {
  nlohmann::json s = shared_settings(cfg_);
  s["--checkpoint-dir given"] = !cfg_.checkpoint_dir.empty();
  s["--resume"] = cfg_.resume.string();
  require_same_on_every_rank(*comm_, s, "were started with different settings",
                             "start every process with the same flags");
}

// A rank whose data folder holds other images, labels or fewer samples would train another model.
void Trainer::check_same_data_on_every_rank() const {
  nlohmann::json d = nlohmann::json::object();
  for (const data::Dataset* split : {&train_, &val_, &test_})
    if (split->n > 0)
      d[split == &val_ ? "validation split" : split->split + " split"] =
          fmt::format("{} samples, digest {:016x}", split->n, split->digest());
  require_same_on_every_rank(
      *comm_, d, "loaded different data",
      fmt::format("give every process the same {} files (--data-dir)", cfg_.dataset));
}

void Trainer::sync_state_buffers() {
  if (comm_) state_.average_over_ranks(*comm_);
}

}  // namespace gq::train
