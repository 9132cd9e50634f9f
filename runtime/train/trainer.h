// The Trainer owns one training run: data on the device, the model, the optimizer state, the
// step, evaluation, metrics and checkpoints. Everything is allocated in the constructor; a step
// allocates nothing and syncs with the host only when it logs. Its definitions are split by
// concern: trainer.cpp (the step: read it first), trainer_setup.cpp, trainer_checkpoint.cpp,
// trainer_report.cpp, trainer_ranks.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "kernels/augment.h"
#include "kernels/step_scalars.h"
#include "kernels/weight_average.h"
#include "models/sequential.h"
#include "models/tta_eval.h"
#include "runtime/comm.h"
#include "runtime/graph.h"
#include "runtime/memory.h"
#include "runtime/schedule.h"
#include "runtime/stream.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/grad_queue.h"
#include "runtime/train/metrics_log.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/state_registry.h"
#include "runtime/train/train_config.h"
#include "runtime/train/training_data.h"

namespace gq::train {

class CheckpointDirLock;  // runtime/train/checkpoint_dir.h
class TensorBoardWriter;  // runtime/train/tensorboard_writer.h

struct EvalResult {
  double loss = 0, accuracy = 0;
  int n = 0;
  std::vector<std::int64_t> confusion;  // classes x classes, row = true label
  std::vector<float> logits;  // n x classes, in the split's order (without test-time augmentation)
  // The same split with test-time augmentation (--tta-level > 0, the final evaluation only).
  int tta_level = 0;
  double tta_loss = 0, tta_accuracy = 0;
};

// Thrown by run() when it was asked to stop (SIGINT/SIGTERM): after the step in flight, and after
// writing a checkpoint when there is a --checkpoint-dir (checkpoint() is empty otherwise).
class Stopped : public Error {
 public:
  Stopped(int signal, long step, std::filesystem::path checkpoint);
  int signal() const { return signal_; }
  long step() const { return step_; }
  const std::filesystem::path& checkpoint() const { return checkpoint_; }

 private:
  int signal_;
  long step_;
  std::filesystem::path checkpoint_;
};

// How the Trainer issues its steps (--cuda-graph): captured once and replayed, or directly.
struct StepGraphUse {
  bool on = false;
  std::string status;  // the start-up line: on, or off and why
  long captures = 0;   // graphs captured: each on this Trainer's second step, and again past the
                       // run's end (Trainer::step grows the learning-rate table)
  long replays = 0;    // graph replays (one per step after the first)
  std::size_t nodes = 0;
};

// Steps of a run of `epochs` (fractional ones round up) capped by max_steps > 0.
long total_steps_for(double epochs, long max_steps, long steps_per_epoch);


class Trainer {
 public:
  // Checks the outputs (checkpoint folder, metrics file) and the checkpoint to resume before it
  // loads any data, then sets everything up; a bad path fails in a second, not after the run.
  // comm (optional, not owned): data-parallel training over comm->size() processes, each taking
  // batch_size / size() samples of every global batch (docs/ARCHITECTURE.md, "Data-parallel
  // training"). Every rank must construct its Trainer with the same settings (checked); step(),
  // evaluate(), save(), run() and take_train_loss() are then collective: every rank calls them.
  explicit Trainer(const TrainConfig& config, Communicator* comm = nullptr);
  ~Trainer();
  // Runs to the configured end; returns the final test evaluation. stop_requested (optional) is
  // asked after every step; a non-zero answer (the signal) makes run() write a checkpoint and
  // throw Stopped.
  EvalResult run(const std::function<int()>& stop_requested = {});
  // --profile: warm-up steps, then profile_steps steps between profiler_start/stop. A stop request
  // (as for run()) ends it after the step in flight: Stopped, with no checkpoint.
  void run_profile(const std::function<int()>& stop_requested = {});
  // One optimisation step on the next batch; returns nothing (losses are read when logging).
  void step();
  // The test split (or, with validation = true, the --val-size samples held out of training);
  // with tta_level > 0 (it must be --tta-level), the logits of test-time augmentation
  // (models/tta_eval.h) instead of the plain forward.
  EvalResult evaluate(bool validation = false, int tta_level = 0);
  // The plain evaluation and, with --tta-level > 0, the augmented one in its tta_* fields.
  EvalResult evaluate_with_tta();
  // Mean training loss of the steps since the last call (syncs with the device).
  double take_train_loss();

  // Refuses (gq::Error "training diverged: ...") to write a checkpoint from non-finite state.
  // Data-parallel: collective; rank 0 alone writes the file.
  void save(const std::filesystem::path& path);
  // model_only: parameters and model state only (gq-eval), not the optimizer or the queue. A full
  // load checks that the checkpoint's run settings equal this run's and that it is not finished.
  void load(const std::filesystem::path& path, bool model_only = false);
  // The same on a checkpoint already read (gq-eval reads the file once: a live run may prune it
  // between two opens); `path` names it in messages.
  // Sections of an older format are renamed in ck (name_legacy_model_state).
  void load(Checkpoint& ck, const std::filesystem::path& path, bool model_only);
  // The first tensor holding NaN or infinity ("parameter conv1.weight", "optimizer state
  // momentum", ...), checked on the device, or nullopt. One small copy to the host.
  std::optional<std::string> first_nonfinite();
  long global_step() const { return step_; }
  long total_steps() const { return total_steps_; }
  models::Sequential& model() { return *model_; }
  const data::Dataset& train_set() const { return train_; }
  const data::Dataset& test_set() const { return test_; }
  const data::Dataset& validation_set() const { return val_; }
  GradQueue* grad_queue() { return grad_queue_.get(); }  // null without --gradqueue
  kernels::LookaheadEma* lookahead() { return ema_.get(); }  // null without --lookahead-ema
  StepGraphUse step_graph_use() const;
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  // Communication of the last step (ms; device events on the GPU, wall time on the emulator) and
  // bytes this rank sends per step.
  double last_step_comm_ms() const;
  std::uint64_t comm_bytes_per_step() const { return comm_bytes_per_step_; }

 private:
  // The constructor's steps, in order.
  void join_ranks();  // data-parallel: rank, ranks, this rank's share of the batch
  void claim_for_new_run(const std::filesystem::path& dir) const;  // --overwrite
  void load_data();   // the splits, subsets and validation split, channel statistics
  void plan_schedule();
  void allocate_step(const Shape& input);  // optimizer, step buffers, Grad Queue
  void choose_step_graph();                // --cuda-graph
  void print_configuration(const Shape& input) const;
  void upload_dataset();
  void register_state();  // every device buffer in state_, then sealed
  // Not on resume: the --init-from weights, or else a whitening stem's filters; then the EMA's
  // start.
  void init_weights(Checkpoint* init);
  void take_weights(Checkpoint& ck, const std::filesystem::path& path);  // --init-from
  void restore_model(Checkpoint& ck, const std::filesystem::path& path);
  ScheduleConfig schedule_over(long total_steps) const;
  nlohmann::json tensor_list() const;
  nlohmann::json tensor_offsets() const;
  nlohmann::json input_record() const;
  nlohmann::json model_state_list() const;
  std::string extension(const nlohmann::json& checkpoint_settings, long step) const;
  void gather_batch(const DeviceSplit& split, const std::int32_t* indices,
                    const kernels::AugmentParams& aug, stream_t stream);
  void log_evaluation(const EvalResult& test);
  void log_training(long steps, double secs, bool eval_now);
  void print_progress(const std::string& line, bool end_line) const;
  void begin_epoch();
  models::Context train_context();
  void step_front(stream_t stream);  // begin_step ... loss, Grad Queue's clustering
  void step_back(stream_t stream);   // backward ... optimizer
  template <class F>
  void replay(F&& direct);
  std::string graph_unavailable() const;
  void plan_learning_rates(long steps);
  void log_metrics(nlohmann::json record);
  std::string memory_plan() const;
  void check_settings(const Checkpoint& ck, const std::filesystem::path& path) const;
  std::filesystem::path save_step_checkpoint();
  [[noreturn]] void diverged(const std::string& what) const;
  void check_same_settings_on_every_rank() const;
  int stop_agreed(const std::function<int()>& stop_requested) const;  // the signal, or 0
  void check_same_data_on_every_rank() const;
  void sync_state_buffers();  // data-parallel: ranks' BatchNorm running statistics averaged

  TrainConfig cfg_;
  Communicator* comm_ = nullptr;  // null or size 1: one process
  int rank_ = 0, ranks_ = 1;
  int local_b_ = 0;  // this rank's samples per step: batch_size / ranks
  bool progress_redraws_ = false;  // stdout is a terminal: the progress line redraws with \r
  Event comm_start_, comm_stop_;
  bool comm_timed_ = false;
  std::uint64_t comm_bytes_per_step_ = 0;
  data::Dataset train_, val_, test_;
  std::unique_ptr<models::Sequential> model_;
  ScheduleConfig schedule_;
  long steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  int epoch_ = 0;
  MetricsLog metrics_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;  // rank 0 with --tensorboard
  std::optional<std::chrono::steady_clock::time_point> records_started_;  // the run header's
  std::unique_ptr<CheckpointDirLock> checkpoint_dir_lock_;  // rank 0 with --checkpoint-dir
  std::filesystem::path last_good_checkpoint_;  // the newest written (or resumed) checkpoint

  // Device state: every buffer below and the components' are listed in state_ (register_state).
  StateRegistry state_;
  DeviceSplit train_dev_, val_dev_, test_dev_;
  DeviceBuffer<std::int32_t> permutation_;
  DeviceBuffer<float> batch_x_, dlogits_, losses_, loss_sum_;
  DeviceBuffer<std::int32_t> batch_y_;
  DeviceBuffer<float> grad_norm_;
  std::unique_ptr<Optimizer> optimizer_;
  DeviceBuffer<char> reduce_scratch_;
  std::vector<float> mean_, std_;
  std::unique_ptr<GradQueue> grad_queue_;
  long loss_steps_ = 0;  // steps accumulated in loss_sum_
  // --lookahead-ema: the EMA copy of the parameters and the model's state buffers, updated on the
  // device after every optimizer step (its schedule decides), checkpointed as "lookahead_ema".
  std::unique_ptr<kernels::LookaheadEma> ema_;
  kernels::LookaheadSchedule ema_schedule_;
  // --tta-level: the views and logits of test-time augmentation, for evaluation batches.
  std::unique_ptr<models::TestTimeAugmentation> tta_;
  DeviceBuffer<float> tta_logits_;
  std::string init_status_;    // the configuration line of init_weights
  std::string extend_status_;  // and of --extend

  // The step on the device: its own stream (ordered with the default stream, which everything
  // outside the step uses), its scalars (kernels/step_scalars.h) and, with --cuda-graph, its
  // graph.
  static constexpr int kProfileWarmup = 5;
  Stream stream_{Stream::Order::ordered_with_default};
  DeviceBuffer<float> lr_table_;  // the learning rate of every step
  DeviceBuffer<kernels::StepScalars> scalars_;
  DeviceBuffer<std::int32_t> batch_indices_;  // this step's samples, copied by begin_step
  bool graph_on_ = false, warmed_up_ = false;
  std::string graph_status_;
  Graph graph_;
  long graph_captures_ = 0, graph_replays_ = 0;
};

}  // namespace gq::train
