// The Trainer owns one training run: data on the device, the model, the optimizer state, the
// step, evaluation, metrics and checkpoints. Everything is allocated in the constructor; a step
// allocates nothing and syncs with the host only when it logs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "datasets/dataset.h"
#include "kernels/augment.h"
#include "models/sequential.h"
#include "runtime/memory.h"
#include "runtime/schedule.h"
#include "tools/train/grad_queue.h"

namespace gq::train {

struct TrainConfig {
  std::string model = "paper-cnn";
  std::string dataset = "cifar10";
  std::filesystem::path data_dir;  // empty: $GQ_DATA_DIR or ../shared/data
  int epochs = 1;
  long max_steps = 0;  // 0: no cap
  int batch_size = 128;
  float lr = 0.1f;
  std::string schedule = "onecycle";
  float warmup_fraction = 0.1f;
  std::string optimizer = "nesterov";  // sgd | momentum | nesterov | adamw
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  float label_smoothing = 0.0f;
  float clip_norm = 0.0f;  // 0: off
  std::uint64_t seed = 0;
  std::string device = "auto";
  int train_subset = 0;  // 0: all
  int test_subset = 0;   // 0: all
  bool augment = true;
  std::filesystem::path metrics_path;
  std::filesystem::path checkpoint_dir;
  int checkpoint_every = 0;  // steps; 0: only at the end when checkpoint_dir is set
  std::filesystem::path resume;
  int log_every = 20;
  int profile_steps = 0;
  bool gradqueue = false;  // Grad Queue on top of the base optimizer
  GradQueueConfig gq;      // > 0: warm up, run this many steps inside profiler_start/stop, exit
  bool quiet = false;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  int n = 0;
  std::vector<std::int64_t> confusion;  // classes x classes, row = true label
};

class Trainer {
 public:
  explicit Trainer(const TrainConfig& config);
  ~Trainer();
  // Runs to the configured end; returns the final test evaluation.
  EvalResult run();
  // --profile: warm-up steps, then profile_steps steps between profiler_start/stop.
  void run_profile();
  // One optimisation step on the next batch; returns nothing (losses are read when logging).
  void step();
  EvalResult evaluate();
  // Mean training loss of the steps since the last call (syncs with the device).
  double take_train_loss();

  void save(const std::filesystem::path& path);
  // model_only: parameters and model state only (gq-eval), not the optimizer or the queue.
  void load(const std::filesystem::path& path, bool model_only = false);
  long global_step() const { return step_; }
  long total_steps() const { return total_steps_; }
  models::Sequential& model() { return *model_; }
  const data::Dataset& train_set() const { return train_; }
  const data::Dataset& test_set() const { return test_; }

 private:
  void upload_dataset();
  void gather_batch(const data::Dataset& split, const std::int32_t* indices,
                    const kernels::AugmentParams& aug, stream_t stream);
  void begin_epoch();
  void log_metrics(const std::string& json_line);
  std::string memory_plan() const;

  TrainConfig cfg_;
  data::Dataset train_, test_;
  std::unique_ptr<models::Sequential> model_;
  ScheduleConfig schedule_;
  long steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  int epoch_ = 0;
  std::ofstream metrics_;

  // Device state.
  DeviceBuffer<std::uint8_t> train_images_, test_images_;
  DeviceBuffer<float> train_features_, test_features_;  // text datasets
  DeviceBuffer<std::int32_t> train_labels_, test_labels_;
  DeviceBuffer<std::int32_t> permutation_, eval_indices_;
  DeviceBuffer<float> batch_x_, dlogits_, losses_, loss_sum_;
  DeviceBuffer<std::int32_t> batch_y_, correct_, nonfinite_;
  DeviceBuffer<float> momentum_, adam_m_, adam_v_, grad_norm_;
  DeviceBuffer<char> reduce_scratch_;
  std::vector<float> mean_, std_;
  std::unique_ptr<GradQueue> grad_queue_;
  long loss_steps_ = 0;  // steps accumulated in loss_sum_
};

}  // namespace gq::train
