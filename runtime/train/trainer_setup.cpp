// Trainer construction (trainer.h): outputs and the resumed checkpoint checked before any data is
// read, the data, the model, the schedule, every buffer of the step allocated and registered in
// the state registry, the first weights.
#include "runtime/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "datasets/catalog.h"
#include "kernels/reduce.h"
#include "kernels/step_scalars.h"
#include "models/zoo.h"
#include "runtime/error.h"
#include "runtime/train/checkpoint_dir.h"
#include "runtime/train/run_header.h"
#include "runtime/train/settings.h"
#include "runtime/train/tensorboard_writer.h"
#include "runtime/train/training_data.h"
#include "runtime/train/whitening_init.h"

namespace gq::train {

Trainer::Trainer(const TrainConfig& config, Communicator* comm)
    : cfg_(config), comm_(comm), progress_redraws_(::isatty(STDOUT_FILENO) == 1) {
  check_values(cfg_);  // what the command line checks, for a TrainConfig built in code
  GQ_CHECK(cfg_.epochs > 0 || cfg_.max_steps > 0, "--epochs or --max-steps must be positive");
  GQ_CHECK(cfg_.activations == Precision::fp32 || cfg_.precision == Precision::bf16,
           "--activations bf16 needs --precision bf16 (mixed precision stores bf16 activations)");
  join_ranks();
  // Outputs and the checkpoint to resume first: a bad path fails now, not after the data has been
  // decoded (CIFAR-10: 15 s) or after the whole run.
  if (!cfg_.checkpoint_dir.empty() && rank_ == 0) {
    checkpoint_dir_lock_ = std::make_unique<CheckpointDirLock>(cfg_.checkpoint_dir);
    for (const auto& tmp : remove_partial_checkpoints(cfg_.checkpoint_dir))
      if (!cfg_.quiet)
        fmt::print("removed {} (left by a run stopped while writing it)\n", tmp.string());
    if (cfg_.resume.empty()) claim_for_new_run(cfg_.checkpoint_dir);
  }
  if (!cfg_.metrics_path.empty()) check_metrics_path(cfg_.metrics_path);
  GQ_CHECK(cfg_.resume.empty() || cfg_.init_from.empty(),
           "--init-from with --resume: a resumed run continues from its own weights; give one of "
           "them");
  std::optional<Checkpoint> resume, init;
  if (!cfg_.resume.empty()) {
    resume = read_checkpoint(cfg_.resume);
    check_settings(*resume, cfg_.resume);
  }
  if (!cfg_.init_from.empty()) init = read_checkpoint(cfg_.init_from);
  if (!cfg_.tensorboard_dir.empty())
    tensorboard_ = std::make_unique<TensorBoardWriter>(
        cfg_.tensorboard_dir, resume ? resume->header.at("step").get<long>() : -1);
  load_data();
  const bool text = train_.images.empty();
  const Shape input =
      text ? Shape{train_.feature_dim} : Shape{train_.channels, train_.height, train_.width};
  model_ = models::build_model(cfg_.model, input, train_.num_classes);
  model_->setup(input, local_b_, cfg_.precision, cfg_.activations);
  model_->initialize(cfg_.seed);
  plan_schedule();
  allocate_step(input);
  upload_dataset();
  register_state();
  if (!resume) init_weights(init ? &*init : nullptr);
  choose_step_graph();
  if (resume) {
    load(*resume, cfg_.resume, /*model_only=*/false);
    resume.reset();
    last_good_checkpoint_ = cfg_.resume;
    if (!cfg_.quiet) fmt::print("resumed from step {} ({})\n", step_, cfg_.resume.string());
  }
  if (!cfg_.metrics_path.empty()) {
    metrics_ = MetricsLog(cfg_.metrics_path, cfg_.resume.empty() ? -1 : step_);
    if (metrics_.dropped() > 0 && !cfg_.quiet)
      fmt::print(
          "metrics     dropped {} record(s) after step {} from {} (this run writes them again)\n",
          metrics_.dropped(), step_, cfg_.metrics_path.string());
  }
  if (!cfg_.quiet) print_configuration(input);
  if (!cfg_.metrics_path.empty() || tensorboard_) log_metrics(run_header(cfg_, step_, ranks_));
}

Trainer::~Trainer() = default;

void Trainer::load_data() {
  data::TrainTest tt = data::load_dataset(
      cfg_.dataset, cfg_.data_dir.empty() ? data::data_root() : cfg_.data_dir);
  train_ = std::move(tt.train);
  test_ = std::move(tt.test);
  take_subset(train_, cfg_.train_subset);
  take_subset(test_, cfg_.test_subset);
  if (cfg_.val_size > 0)
    val_ = split_off_validation(train_, cfg_.val_size, cfg_.val_pick == "balanced");
  if (comm_) check_same_data_on_every_rank();
  GQ_CHECK(train_.n >= cfg_.batch_size,
           "--batch-size {} is larger than the training set ({} samples); lower it",
           cfg_.batch_size, train_.n);
  if (!train_.images.empty()) channel_stats(train_, mean_, std_);
}

// Fractional epochs round up to whole steps (airbench94: ceil(9.9 * 48) = 476); max_steps > 0
// caps them (or alone decides, with epochs 0).
long total_steps_for(double epochs, long max_steps, long steps_per_epoch) {
  const long steps = static_cast<long>(std::ceil(epochs * static_cast<double>(steps_per_epoch)));
  if (max_steps <= 0) return steps;
  return epochs > 0 ? std::min(steps, max_steps) : max_steps;
}

void Trainer::plan_schedule() {
  steps_per_epoch_ = train_.n / cfg_.batch_size;  // the last partial batch is dropped
  total_steps_ = total_steps_for(cfg_.epochs, cfg_.max_steps, steps_per_epoch_);
  schedule_ = schedule_over(total_steps_);
}

// The learning-rate schedule of this run's settings over `total_steps` (--extend compares two).
ScheduleConfig Trainer::schedule_over(long total_steps) const {
  ScheduleConfig s;
  s.kind = parse_schedule(cfg_.schedule);
  s.base_lr = cfg_.lr;
  s.total_steps = total_steps;
  const bool own_warmup = s.kind == ScheduleKind::constant || s.kind == ScheduleKind::triangular;
  s.warmup_steps = own_warmup ? 0 : static_cast<long>(cfg_.warmup_fraction * total_steps);
  s.step_size = std::max(1L, steps_per_epoch_ * 30);
  return s;
}

void Trainer::allocate_step(const Shape& input) {
  const std::size_t b = local_b_;
  if (cfg_.freeze_stem_after_epochs > 0) {  // the first layer's trainable tensors
    OptimizerSettings& o = cfg_.optimizer_settings;
    const auto [first, end] = model_->param_ids(0);
    for (int id = first; id < end; ++id)
      if (!model_->params().info(id).frozen) o.stem_tensors.push_back(id);
    o.stem_until_step = static_cast<std::uint64_t>(cfg_.freeze_stem_after_epochs) * steps_per_epoch_;
  }
  optimizer_ = make_optimizer(cfg_.optimizer, cfg_.optimizer_settings, model_->params());
  if (cfg_.lookahead_ema) {
    std::vector<kernels::StateSpan> spans{{model_->params().values(), model_->params().size()}};
    for (const models::StateTensor& state : model_->state_tensors())
      spans.push_back({state.data, state.size});
    ema_ = std::make_unique<kernels::LookaheadEma>(std::move(spans));
    ema_schedule_.total_steps = static_cast<std::uint64_t>(total_steps_);
    ema_schedule_.every = static_cast<std::uint32_t>(cfg_.lookahead_every);
  }
  if (cfg_.tta_level > 0) {
    GQ_CHECK(input.rank == 3, "--tta-level {} needs image data (the views are mirrored and shifted)",
             cfg_.tta_level);
    tta_ = std::make_unique<models::TestTimeAugmentation>(local_b_, input, train_.num_classes,
                                                          cfg_.tta_level);
    tta_logits_ = DeviceBuffer<float>(b * train_.num_classes);
  }
  batch_x_ = DeviceBuffer<float>(b * input.numel());
  batch_y_ = DeviceBuffer<std::int32_t>(b);
  dlogits_ = DeviceBuffer<float>(b * train_.num_classes);
  losses_ = DeviceBuffer<float>(b);
  loss_sum_ = DeviceBuffer<float>(2);
  loss_sum_.fill_bytes(0);
  grad_norm_ = DeviceBuffer<float>(1);
  reduce_scratch_ = DeviceBuffer<char>(kernels::reduce_scratch_bytes());
  plan_learning_rates(std::max(
      {1L, total_steps_, cfg_.profile_steps > 0 ? kProfileWarmup + cfg_.profile_steps : 0L}));
  const kernels::StepScalars first{0, 0, 0.0f};
  scalars_ = DeviceBuffer<kernels::StepScalars>(std::span<const kernels::StepScalars>(&first, 1));
  batch_indices_ = DeviceBuffer<std::int32_t>(b);
  if (cfg_.gradqueue) grad_queue_ = std::make_unique<GradQueue>(cfg_.gq, *model_, cfg_.seed, comm_);
  if (comm_) {
    // Per step: the loss (1 float), then the batch gradient (plain) or Grad Queue's features and
    // k x P cluster gradients (its G* is computed identically on every rank from them).
    const std::size_t p = model_->params().size();
    comm_->reserve(p);
    comm_bytes_per_step_ = sum_bytes_sent(1, ranks_, rank_) +
                           (grad_queue_ ? grad_queue_->comm_bytes_per_step()
                                        : sum_bytes_sent(p, ranks_, rank_));
  }
}

// Every buffer of the run, in the memory plan's order (runtime/train/state_registry.h): what a
// checkpoint holds, what the non-finite check scans and what ranks average are decided here and
// in the components' register_state, nowhere else.
void Trainer::register_state() {
  const models::Sequential& m = *model_;
  models::ParamRegistry& params = model_->params();
  std::vector<StatePart> tensors;
  for (const auto& info : params.infos()) tensors.push_back({info.name, info.offset, info.numel()});
  const StateUse kept{.checkpointed = true, .finite = true};
  state_.add("params", StateRole::parameters, {params.values(), params.size()}, kept,
             std::move(tensors));
  state_.add_memory("gradients", params.size() * sizeof(float));
  for (Optimizer::State& s : optimizer_->state())
    state_.add(s.name, StateRole::optimizer_state, s.values.span(), kept);
  state_.add_memory("optimizer state", optimizer_->scratch_bytes());
  for (const models::StateTensor& t : model_->state_tensors())
    state_.add(t.name, StateRole::model_state, {t.data, t.size},
               {.checkpointed = true, .finite = true, .averaged_over_ranks = true});
  state_.add_memory("activations", m.activation_bytes());
  state_.add_memory("activation grads", m.activation_grad_bytes());
  if (m.widening_bytes() > 0) state_.add_memory("fp32 widening", m.widening_bytes());
  state_.add_memory("saved for backward", m.saved_bytes());
  state_.add_memory("library workspace", m.workspace_bytes());
  // The training-loss accumulator of the next log line: resumed, it logs what an uninterrupted
  // run logs.
  state_.add("loss_sum", StateRole::run_progress, loss_sum_.span(), kept);
  const auto working = [&](const std::string& row, auto&... buffers) {
    (state_.add_plain("", StateRole::working, buffers, {}, row), ...);
  };
  working("batch buffers", batch_x_, batch_y_, dlogits_, losses_, grad_norm_, reduce_scratch_,
          scalars_, batch_indices_, tta_logits_);
  state_.add_memory("batch buffers", lr_table_.bytes());  // by size: stepping past the end regrows it
  for (DeviceSplit* split : {&train_dev_, &val_dev_, &test_dev_})
    working("datasets", split->images, split->features, split->labels, split->eval_order);
  working("datasets", permutation_);
  if (ema_) state_.add("lookahead_ema", StateRole::weight_average, ema_->state().span(), kept);
  if (tta_) state_.add_memory("test-time augmentation", tta_->bytes());
  if (grad_queue_) grad_queue_->register_state(state_);
  state_.seal();
}

void Trainer::upload_dataset() {
  train_dev_.upload(train_, local_b_);
  train_dev_.eval_order = {};  // the training split is read in the epoch's permutation
  val_dev_.upload(val_, local_b_);
  test_dev_.upload(test_, local_b_);
  permutation_ = DeviceBuffer<std::int32_t>(train_.n);
}

// --cuda-graph: auto takes graphs where the step can be captured, on insists.
void Trainer::choose_step_graph() {
  const std::string why_not = graph_unavailable();
  if (cfg_.cuda_graph == "on" && !why_not.empty())
    GQ_FAIL(
        "--cuda-graph on: the training step cannot be captured as a CUDA graph: {}; use "
        "--cuda-graph auto (direct launches where graphs do not work) or off",
        why_not);
  graph_on_ = cfg_.cuda_graph != "off" && why_not.empty();
  graph_status_ =
      !graph_on_ ? (cfg_.cuda_graph == "off" ? "off (--cuda-graph off)" : "off: " + why_not)
      : "on: the step is one graph, captured at its second step and replayed";
}

// Before the first step of a new run: a whitening stem's filters from the first training images
// (normalised, not augmented, read in whole batches through batch_x_), then the EMA starts from
// those weights. A resume restores both from the checkpoint instead.
void Trainer::init_weights(Checkpoint* init) {
  if (init) {
    take_weights(*init, cfg_.init_from);
  } else if (!train_.images.empty()) {
    std::vector<std::int32_t> order(static_cast<std::size_t>(train_.n) + local_b_);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i % train_.n);
    const DeviceBuffer<std::int32_t> indices{std::span<const std::int32_t>(order)};
    const kernels::AugmentParams plain;
    const std::string whitened = init_whitening(*model_, cfg_, train_.n, local_b_, [&](int start) {
      gather_batch(train_dev_, indices.data() + start, plain, nullptr);
      return static_cast<const float*>(batch_x_.data());
    });
    if (!whitened.empty()) init_status_ = "whitening   " + whitened;
  }
  if (ema_) ema_->reset();
}

}  // namespace gq::train
