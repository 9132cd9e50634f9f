#include "runtime/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "datasets/catalog.h"
#include "kernels/augment.h"
#include "kernels/elementwise.h"
#include "kernels/gather.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/step_scalars.h"
#include "models/zoo.h"
#include "runtime/device.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/gemm_plan.h"
#include "runtime/nvtx.h"
#include "runtime/profiler.h"
#include "runtime/rng.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/checkpoint_dir.h"
#include "runtime/train/rank_agreement.h"
#include "runtime/train/run_header.h"
#include "runtime/train/settings.h"
#include "runtime/train/tensorboard_writer.h"
#include "runtime/train/whitening_init.h"

namespace gq::train {
namespace {

std::string mib(std::size_t bytes) {
  return fmt::format("{:8.1f} MiB", bytes / 1048576.0);
}

void take_subset(data::Dataset& d, int n) {
  if (n <= 0 || n >= d.n) return;
  d.n = n;
  if (d.images.empty())
    d.features.resize(d.sample_size() * n);
  else
    d.images.resize(d.sample_size() * n);
  d.labels.resize(n);
}

// Removes the last n samples from d and returns them: a validation split training never sees.
data::Dataset split_off_tail(data::Dataset& d, int n) {
  GQ_CHECK(n > 0 && n < d.n, "--val-size {} must leave training samples (the training set has {})",
           n, d.n);
  const std::size_t keep = static_cast<std::size_t>(d.n - n), size = d.sample_size();
  std::vector<std::uint8_t> images = std::move(d.images);
  std::vector<float> features = std::move(d.features);
  std::vector<std::int32_t> labels = std::move(d.labels);
  data::Dataset tail = d;  // the metadata; the sample vectors were moved out
  tail.split = "validation";
  tail.n = n;
  if (!images.empty()) tail.images.assign(images.begin() + keep * size, images.end());
  if (!features.empty()) tail.features.assign(features.begin() + keep * size, features.end());
  tail.labels.assign(labels.begin() + keep, labels.end());
  images.resize(images.empty() ? 0 : keep * size);
  features.resize(features.empty() ? 0 : keep * size);
  labels.resize(keep);
  d.images = std::move(images);
  d.features = std::move(features);
  d.labels = std::move(labels);
  d.n = static_cast<int>(keep);
  return tail;
}

// Per-channel mean and standard deviation of the training images, in [0, 1] units.
void channel_stats(const data::Dataset& d, std::vector<float>& mean, std::vector<float>& stddev) {
  const std::size_t plane = static_cast<std::size_t>(d.height) * d.width;
  mean.assign(d.channels, 0);
  stddev.assign(d.channels, 0);
  for (int c = 0; c < d.channels; ++c) {
    double s = 0, s2 = 0;
    for (int i = 0; i < d.n; ++i) {
      const std::uint8_t* p =
          d.images.data() + (static_cast<std::size_t>(i) * d.channels + c) * plane;
      for (std::size_t j = 0; j < plane; ++j) {
        const double v = p[j] / 255.0;
        s += v;
        s2 += v * v;
      }
    }
    const double count = static_cast<double>(d.n) * plane;
    mean[c] = static_cast<float>(s / count);
    stddev[c] =
        static_cast<float>(std::sqrt(std::max(1e-12, s2 / count - (s / count) * (s / count))));
  }
}

nlohmann::json to_json(const GradQueueDiagnostics& d) {
  return {{"qlen", d.qlen},
          {"queue_count", d.queue_count},
          {"mean_delta", d.mean_delta},
          {"frac_delta_gt1", d.frac_delta_gt1},
          {"cos_gstar_gbar", d.cos_gstar_gbar},
          {"norm_gbar", d.norm_gbar},
          {"noise_scale", d.noise_scale},
          {"k_effective", d.k_effective},
          {"kmeans_iterations", d.kmeans_iterations},
          {"cluster_sizes", d.cluster_sizes},
          {"skipped_steps", d.skipped_steps}};
}

}  // namespace

Stopped::Stopped(int signal, long step, std::filesystem::path checkpoint)
    : Error(fmt::format("stopped by signal {} after step {}", signal, step)),
      signal_(signal),
      step_(step),
      checkpoint_(std::move(checkpoint)) {}

Trainer::Trainer(const TrainConfig& config, Communicator* comm)
    : cfg_(config), comm_(comm), progress_redraws_(::isatty(STDOUT_FILENO) == 1) {
  check_values(cfg_);  // what the command line checks, for a TrainConfig built in code
  GQ_CHECK(cfg_.epochs > 0 || cfg_.max_steps > 0, "--epochs or --max-steps must be positive");
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
  model_->setup(input, local_b_, cfg_.precision);
  model_->initialize(cfg_.seed);
  plan_schedule();
  allocate_step(input);
  upload_dataset();
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

// A new run in a folder of another run's checkpoints would mix the two runs' files, prune the
// other's and leave nothing to say which is whose: refused unless asked for (--overwrite).
void Trainer::claim_for_new_run(const std::filesystem::path& dir) const {
  const std::vector<std::filesystem::path> found = run_checkpoints(dir);
  if (found.empty()) return;
  const std::filesystem::path& newest = found.back().filename() == "last.ckpt" && found.size() > 1
                                            ? found[found.size() - 2]
                                            : found.back();
  GQ_CHECK(cfg_.overwrite,
           "--checkpoint-dir {} holds {} checkpoint(s) of another run (the newest: {}): continue "
           "that run with --resume {}, write to another folder, or add --overwrite to delete "
           "them and start over",
           dir.string(), found.size(), found.back().filename().string(), newest.string());
  std::error_code ec;
  for (const auto& path : found) std::filesystem::remove(path, ec);
  if (!cfg_.quiet)
    fmt::print("removed {} checkpoint(s) of an earlier run from {} (--overwrite)\n", found.size(),
               dir.string());
}

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

void Trainer::load_data() {
  data::TrainTest tt = data::load_dataset(
      cfg_.dataset, cfg_.data_dir.empty() ? data::data_root() : cfg_.data_dir);
  train_ = std::move(tt.train);
  test_ = std::move(tt.test);
  take_subset(train_, cfg_.train_subset);
  take_subset(test_, cfg_.test_subset);
  if (cfg_.val_size > 0) val_ = split_off_tail(train_, cfg_.val_size);
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
    for (DeviceBuffer<float>* state : model_->state_buffers())
      spans.push_back({state->data(), state->size()});
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
  finite_flags_ = DeviceBuffer<std::int32_t>(model_->params().infos().size() +
                                             optimizer_->state().size() +
                                             model_->state_buffers().size() + (ema_ ? 1 : 0));
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

namespace {
// The start-up line `precision`: in bf16, what the libraries chose for the model's plans.
std::string precision_status(Precision precision) {
  if (precision == Precision::fp32) return "fp32 compute and storage";
  const std::string conv = dnn::implementations_used(precision);
  const std::string gemm = blas::gemm_implementations_used();
  std::string chosen = conv.empty() ? "" : "convolutions " + conv;
  if (!gemm.empty()) chosen += (chosen.empty() ? "GEMMs " : "; GEMMs ") + gemm;
  return fmt::format("bf16 compute, fp32 storage ({}: {})", dnn::library_version(), chosen);
}
}  // namespace

void Trainer::print_configuration(const Shape& input) const {
  fmt::print("settings    {}\n", changed_settings(cfg_));
  fmt::print("device      {}\n", device_info().name);
  if (comm_)
    fmt::print("processes   {} (data-parallel, {} samples each; {:.2f} MiB sent per step by each)\n",
               ranks_, local_b_, comm_bytes_per_step_ / 1048576.0);
  fmt::print("data        {} train / {}{} test samples of {}, {} classes\n", train_.n,
             val_.n > 0 ? fmt::format("{} validation / ", val_.n) : "", test_.n, input.str(),
             train_.num_classes);
  fmt::print("schedule    {} steps ({} per epoch), {} lr {} warm-up {} steps\n", total_steps_,
             steps_per_epoch_, cfg_.schedule, cfg_.lr, schedule_.warmup_steps);
  fmt::print("cuda-graph  {}\n", graph_status_);
  fmt::print("precision   {}\n", precision_status(cfg_.precision));
  if (!init_status_.empty()) fmt::print("{}\n", init_status_);
  if (!extend_status_.empty()) fmt::print("{}\n", extend_status_);
  if (ema_)
    fmt::print("lookahead   EMA of {} values, every {} steps, decay {} (s/{})^3, final copy\n",
               ema_->state().size(), ema_schedule_.every, ema_schedule_.base,
               ema_schedule_.total_steps);
  if (tta_) fmt::print("tta         level {} ({} views) at the final evaluation\n", tta_->level(), tta_->views());
  const auto& reg = model_->params();
  fmt::print("optimizer   {}, weight decay {} on {} of {} parameters{}\n", optimizer_->describe(),
             cfg_.optimizer_settings.weight_decay, reg.decayed_count(), reg.size(),
             cfg_.clip_norm > 0 ? fmt::format(", clip norm {}", cfg_.clip_norm) : "");
  if (grad_queue_) {
    fmt::print("gradqueue   k={} features={} kmeans-iters={} qmin={} qmax={} rho={} {}\n",
               grad_queue_->clusters(), cfg_.gq.features, cfg_.gq.kmeans_iters, cfg_.gq.qmin,
               cfg_.gq.qmax, cfg_.gq.scarcity.rho, cfg_.gq.scarcity.renorm ? "renorm" : "no-renorm");
    for (const std::string& layer : grad_queue_->fallback_layers())
      fmt::print(
          "gradqueue   {} has no per-cluster gradient: its batch gradient is used for every "
          "cluster\n",
          layer);
  }
  fmt::print("\n{}\n{}\n", model_->summary(), memory_plan());
}

Trainer::~Trainer() = default;

std::string Trainer::memory_plan() const {
  const auto& m = *model_;
  const std::size_t param_bytes = model_->params().size() * sizeof(float);
  std::size_t opt = optimizer_->scratch_bytes();
  for (const Optimizer::State& state : optimizer_->state()) opt += state.values.bytes();
  const std::size_t data =
      train_dev_.bytes() + val_dev_.bytes() + test_dev_.bytes() + permutation_.bytes();
  const std::size_t step = batch_x_.bytes() + batch_y_.bytes() + dlogits_.bytes() +
                           losses_.bytes() + loss_sum_.bytes() + grad_norm_.bytes() +
                           finite_flags_.bytes() + reduce_scratch_.bytes() + lr_table_.bytes() +
                           scalars_.bytes() + batch_indices_.bytes() + tta_logits_.bytes();
  const std::size_t rows[] = {param_bytes,
                              param_bytes,
                              opt,
                              m.activation_bytes(),
                              m.activation_grad_bytes(),
                              m.saved_bytes(),
                              m.workspace_bytes(),
                              step,
                              data};
  const char* names[] = {"parameters",        "gradients",        "optimizer state",
                         "activations",       "activation grads", "saved for backward",
                         "library workspace", "batch buffers",    "datasets"};
  std::string s = "memory plan (allocated once, before the first step)\n";
  std::size_t total = 0;
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    s += fmt::format("  {:<24} {}\n", names[i], mib(rows[i]));
    total += rows[i];
  }
  const auto row = [&](const char* name, std::size_t bytes) {
    s += fmt::format("  {:<24} {}\n", name, mib(bytes));
    total += bytes;
  };
  if (ema_) row("lookahead EMA", ema_->bytes());
  if (tta_) row("test-time augmentation", tta_->bytes());
  if (grad_queue_)
    for (const auto& [name, bytes] : grad_queue_->memory_rows()) {
      s += fmt::format("  {:<24} {}\n", name, mib(bytes));
      total += bytes;
    }
  return s + fmt::format("  {:<24} {}\n", "total", mib(total));
}

void DeviceSplit::upload(const data::Dataset& d, int batch) {
  features = DeviceBuffer<float>(std::span<const float>(d.features));
  images = DeviceBuffer<std::uint8_t>(std::span<const std::uint8_t>(d.images));
  labels = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(d.labels));
  // Evaluation covers the split in whole batches; the tail batch wraps around and only its first
  // samples are counted.
  const int padded = d.n == 0 ? 0 : (d.n + batch - 1) / batch * batch;
  std::vector<std::int32_t> idx(padded);
  for (int i = 0; i < padded; ++i) idx[i] = i % d.n;
  eval_order = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(idx));
}

std::size_t DeviceSplit::bytes() const {
  return images.bytes() + features.bytes() + labels.bytes() + eval_order.bytes();
}

void Trainer::upload_dataset() {
  train_dev_.upload(train_, local_b_);
  train_dev_.eval_order = {};  // the training split is read in the epoch's permutation
  val_dev_.upload(val_, local_b_);
  test_dev_.upload(test_, local_b_);
  permutation_ = DeviceBuffer<std::int32_t>(train_.n);
}

// Before the first step of a new run: a whitening stem's filters from the first training images
// (normalised, not augmented, read in whole batches through batch_x_), then the EMA starts from
// those weights. A resume restores both from the checkpoint instead.
void Trainer::init_weights(const Checkpoint* init) {
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

// --init-from: the parameters and model state of a model with the same tensors, which the
// checkpoint lists by name and shape (older checkpoints: the same model and parameter count).
void Trainer::take_weights(const Checkpoint& ck, const std::filesystem::path& path) {
  const nlohmann::json mine = tensor_list();
  const std::string model = ck.header.value("model", std::string("?"));
  if (ck.header.contains("tensors")) {
    std::vector<std::string> differ;
    const nlohmann::json& theirs = ck.header["tensors"];
    for (std::size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i)
      if (i >= mine.size() || i >= theirs.size() || mine[i] != theirs[i])
        differ.push_back(fmt::format("#{}: checkpoint {}, this model {}", i,
                                     i < theirs.size() ? theirs[i].dump() : "none",
                                     i < mine.size() ? mine[i].dump() : "none"));
    GQ_CHECK(differ.empty(),
             "--init-from {}: its model ({}) does not have this model's ({}) tensors; {} differ, "
             "the first: {}",
             path.string(), model, cfg_.model, differ.size(), differ.front());
  } else {
    GQ_CHECK(model == cfg_.model, "--init-from {}: a checkpoint of model {}, this run trains {}",
             path.string(), model, cfg_.model);
  }
  restore_model(ck, path);
  init_status_ = fmt::format("init-from   the weights of {} ({}, step {})", path.string(), model,
                             ck.header.value("step", 0L));
}

// [["conv1.weight", [8, 1, 3, 3]], ...]: the parameter tensors, in the order of the flat vector.
nlohmann::json Trainer::tensor_list() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& info : model_->params().infos()) {
    std::vector<std::int64_t> dims(info.shape.dims.begin(), info.shape.dims.begin() + info.shape.rank);
    out.push_back({info.name, dims});
  }
  return out;
}

// The epoch's order: a Fisher-Yates shuffle from (seed, epoch), so resuming at any epoch
// reproduces it without saving it.
void Trainer::begin_epoch() {
  std::vector<std::int32_t> perm(train_.n);
  std::iota(perm.begin(), perm.end(), 0);
  HostRng rng(cfg_.seed, 0x5eed0000ull + static_cast<std::uint64_t>(epoch_));
  for (int i = train_.n - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  permutation_.upload(perm);
}

// One batch from a device-resident split: images are cropped, flipped and normalised on the way
// (gather_augment), text rows are copied (gather_rows).
void Trainer::gather_batch(const DeviceSplit& split, const std::int32_t* indices,
                           const kernels::AugmentParams& aug, stream_t stream) {
  const int b = local_b_;  // this rank's share (training) or its evaluation batch
  const data::Dataset& shape = train_;  // every split has the training split's sample shape
  if (shape.images.empty()) {
    kernels::gather_rows(split.features.data(), split.labels.data(), indices, b,
                         shape.feature_dim, batch_x_.data(), batch_y_.data(), stream);
    return;
  }
  kernels::gather_augment(split.images.data(), split.labels.data(), indices, b, shape.channels,
                          shape.height, shape.width, mean_.data(), std_.data(), aug,
                          batch_x_.data(), batch_y_.data(), stream);
}

// The step's kernels read its number, learning rate and batch from scalars_, which begin_step
// advances on the device: the same launches, with the same arguments, every step. So the step can
// be captured once as a CUDA graph and replayed (--cuda-graph), and the direct launches (data-
// parallel runs, --cuda-graph off, the first step) compute the same bits.
models::Context Trainer::train_context() {
  return {stream_.get(), true, cfg_.seed, DeviceScalar<std::uint64_t>::read(&scalars_.data()->step),
          static_cast<std::uint64_t>(rank_) * local_b_};
}

// The learning rate of steps [0, steps) on the device, computed as the log line computes it, so
// the device reads the same bits (kernels/step_scalars.h). Stepping past the table (past the
// run's end: tests do) grows it; the graphs that read the old table are captured again.
void Trainer::plan_learning_rates(long steps) {
  std::vector<float> lr(steps);
  for (long s = 0; s < steps; ++s) lr[s] = learning_rate(schedule_, s);
  graph_ = Graph();
  lr_table_ = DeviceBuffer<float>(std::span<const float>(lr));
}

void Trainer::step() {
  NvtxRange range("train_step");
  if (static_cast<std::size_t>(step_) >= lr_table_.size()) plan_learning_rates(2 * (step_ + 1));
  if (step_ % steps_per_epoch_ == 0) {  // outside the graph: a host upload
    epoch_ = static_cast<int>(step_ / steps_per_epoch_);
    begin_epoch();
  }
  const stream_t s = stream_.get();
  const auto direct = [&] {
    step_front(s);
    step_back(s);
  };
  if (!graph_on_ || !warmed_up_) {
    // The first step runs directly: libraries set themselves up (handles, workspaces, lazily
    // loaded kernels), which a capture forbids.
    direct();
    warmed_up_ = true;
  } else {
    replay(direct);
  }
  ++step_;
  ++loss_steps_;
}

// Replays the step's graph, capturing it first if it is not yet. A capture that fails falls back to
// direct launches under --cuda-graph auto (saying so once) and is an error under on.
template <class F>
void Trainer::replay(F&& direct) {
  Graph& g = graph_;
  if (!g.ready()) {
    try {
      g.capture(stream_.get(), direct);
    } catch (const Error& e) {
      if (cfg_.cuda_graph == "on")
        GQ_FAIL("--cuda-graph on: capturing the training step failed: {}", e.what());
      graph_on_ = false;
      graph_status_ = fmt::format("off from step {}: the capture failed: {}", step_ + 1, e.what());
      if (!cfg_.quiet) fmt::print("cuda-graph  {}\n", graph_status_);
      direct();  // nothing captured ran
      return;
    }
    ++graph_captures_;
  }
  g.replay(stream_.get());
  ++graph_replays_;
}

void Trainer::step_front(stream_t stream) {
  const int b = local_b_;  // this rank's share of the global batch
  const int classes = train_.num_classes;
  const models::Context ctx = train_context();
  {
    NvtxRange r("data");
    // This step's number, learning rate and samples: rank r takes positions [r b, (r + 1) b) of
    // the global batch, with their own draws.
    kernels::begin_step(scalars_.data(),
                        {lr_table_.data(), lr_table_.size(), permutation_.data(),
                         static_cast<std::uint64_t>(steps_per_epoch_), cfg_.batch_size, rank_ * b},
                        batch_indices_.data(), b, stream);
    kernels::AugmentParams aug;
    aug.pad = cfg_.augment && train_.channels == 3 ? cfg_.crop_pad : 0;
    aug.flip = cfg_.augment && train_.channels == 3;
    aug.pad_mode = cfg_.pad_mode == "reflect" ? kernels::PadMode::reflect : kernels::PadMode::zero;
    aug.flip_mode =
        cfg_.flip == "alternating" ? kernels::FlipMode::alternating : kernels::FlipMode::coin;
    aug.steps_per_epoch = static_cast<std::uint64_t>(steps_per_epoch_);
    aug.seed = cfg_.seed;
    aug.step_device = ctx.step.at;  // the step, read on the device
    aug.first = static_cast<std::uint64_t>(rank_) * b;
    gather_batch(train_dev_, batch_indices_.data(), aug, stream);
  }
  const float* logits = model_->forward(ctx, batch_x_.data());
  {
    NvtxRange r("loss");
    // The gradient of the global batch's mean loss: 1 / batch_size per sample on every rank, so
    // that the ranks' gradients add up to the one-process gradient.
    const int global_b = cfg_.batch_size;
    kernels::softmax_xent(logits, batch_y_.data(), b, classes, cfg_.label_smoothing, losses_.data(),
                          dlogits_.data(), 1.0f / global_b, stream);
    // loss_sum_[1] = this step's mean loss (Grad Queue's length rule reads it on the device),
    // loss_sum_[0] accumulates it until the next log. Data-parallel: every rank's share, summed.
    kernels::reduce_sum(losses_.data(), b, loss_sum_.data() + 1, reduce_scratch_.data(), stream);
    kernels::scale(loss_sum_.data() + 1, 1, 1.0f / global_b, stream);
    if (comm_) comm_->sum(loss_sum_.data() + 1, 1, stream);
    kernels::axpy(1, 1.0f, loss_sum_.data() + 1, loss_sum_.data(), stream);
  }
  if (grad_queue_) grad_queue_->cluster(batch_x_.data(), ctx.step, stream);
}

void Trainer::step_back(stream_t stream) {
  const models::Context ctx = train_context();
  if (grad_queue_)
    model_->backward(ctx, dlogits_.data(), grad_queue_->hook(stream));
  else
    model_->backward(ctx, dlogits_.data());
  // The gradient the optimizer takes: G* with Grad Queue (skipped on the device when not finite),
  // the batch gradient without.
  float* grads = model_->params().grads();
  if (comm_ && !grad_queue_) {
    // The batch gradient: the ranks' gradients summed in rank order (runtime/comm.h), the same
    // bits on every rank, so the ranks' parameters stay identical.
    NvtxRange r("allreduce");
    comm_start_.record(stream);
    comm_->sum(grads, model_->params().size(), stream);
    comm_stop_.record(stream);
    comm_timed_ = true;
  }
  const std::int32_t* apply = nullptr;
  if (grad_queue_) {
    if (comm_) {  // timed: the k x P sum (the features' gather ran before backward, untimed)
      NvtxRange r("allreduce");
      comm_start_.record(stream);
      grad_queue_->sum_over_ranks(stream);
      comm_stop_.record(stream);
      comm_timed_ = true;
    }
    grads = grad_queue_->combine_and_push(loss_sum_.data() + 1, stream);
    apply = grad_queue_->apply_flag();
  }
  {
    NvtxRange r("optimizer");
    auto& reg = model_->params();
    if (cfg_.clip_norm > 0)
      kernels::clip_grad_norm(grads, reg.size(), cfg_.clip_norm, grad_norm_.data(),
                              reduce_scratch_.data(), stream);
    optimizer_->step({reg.values(), grads, DeviceScalar<float>::read(&scalars_.data()->lr),
                      ctx.step, apply, stream});
  }
  // After the step: steps done = this step's number + 1; the schedule decides on the device
  // whether this step updates the EMA (and copies it into the weights).
  if (ema_) ema_->update_on_schedule(ema_schedule_, ctx.step.affine(1, 1), stream);
}

StepGraphUse Trainer::step_graph_use() const {
  return {graph_on_, graph_status_, graph_captures_, graph_replays_,
          graph_.nodes()};
}

// Why the step cannot be captured, or empty.
std::string Trainer::graph_unavailable() const {
  if (comm_)
    return fmt::format(
        "data-parallel ({} processes): the step's collectives are host calls (MPI on the emulator; "
        "the timing events and the per-step stop agreement on GPUs) that a replay would skip",
        ranks_);
  return {};
}

double Trainer::take_train_loss() {
  float sum = 0;
  copy_to_host(&sum, loss_sum_.data(), sizeof sum);
  memset_device(loss_sum_.data(), 0, sizeof(float));
  const double mean = loss_steps_ ? sum / loss_steps_ : 0.0;
  loss_steps_ = 0;
  return mean;
}

EvalResult Trainer::evaluate_final() {
  EvalResult r = evaluate();
  if (!tta_) return r;
  const EvalResult t = evaluate(false, tta_->level());
  r.tta_level = t.tta_level;
  r.tta_loss = t.loss;
  r.tta_accuracy = t.accuracy;
  return r;
}

EvalResult Trainer::evaluate(bool validation, int tta_level) {
  GQ_CHECK(tta_level == 0 || (tta_ && tta_->level() == tta_level),
           "evaluate: test-time augmentation level {} was not set up (--tta-level {})", tta_level,
           cfg_.tta_level);
  NvtxRange range("evaluate");
  sync_state_buffers();
  const data::Dataset& split = validation ? val_ : test_;
  const DeviceSplit& dev = validation ? val_dev_ : test_dev_;
  GQ_CHECK(split.n > 0, "evaluate: the {} split is empty", validation ? "validation" : "test");
  // Every rank evaluates the whole split (identical parameters: identical results), in batches
  // of its training share.
  const int b = local_b_, classes = split.num_classes;
  models::Context ctx{nullptr, false, cfg_.seed, 0, 0};
  EvalResult res;
  res.confusion.assign(static_cast<std::size_t>(classes) * classes, 0);
  std::vector<float> logits(static_cast<std::size_t>(b) * classes), losses(b);
  double loss_sum = 0;
  std::int64_t correct = 0;
  kernels::AugmentParams plain;
  for (int start = 0; start < split.n; start += b) {
    gather_batch(dev, dev.eval_order.data() + start, plain, ctx.stream);
    const float* out = nullptr;
    if (tta_level > 0) {
      tta_->logits([&](const float* x) { return model_->forward(ctx, x); }, batch_x_.data(),
                   tta_logits_.data(), ctx.stream);
      out = tta_logits_.data();
    } else {
      out = model_->forward(ctx, batch_x_.data());
    }
    kernels::softmax_xent(out, batch_y_.data(), b, classes, 0.0f, losses_.data(), nullptr, 1.0f,
                          ctx.stream);
    copy_to_host(logits.data(), out, logits.size() * sizeof(float));
    copy_to_host(losses.data(), losses_.data(), losses.size() * sizeof(float));
    const int valid = std::min(b, split.n - start);
    for (int i = 0; i < valid; ++i) {
      const float* row = logits.data() + static_cast<std::size_t>(i) * classes;
      const int pred = static_cast<int>(std::max_element(row, row + classes) - row);
      const int label = split.labels[start + i];
      correct += pred == label;
      ++res.confusion[static_cast<std::size_t>(label) * classes + pred];
      loss_sum += losses[i];
    }
  }
  res.n = split.n;
  res.loss = loss_sum / split.n;
  res.accuracy = static_cast<double>(correct) / split.n;
  res.tta_level = tta_level;
  return res;
}

// One "eval" record: the test split, and the validation split when there is one.
void Trainer::log_evaluation(const EvalResult& test) {
  nlohmann::json record{{"type", "eval"},
                        {"step", step_},
                        {"epoch", epoch_ + 1},
                        {"test_loss", test.loss},
                        {"test_accuracy", test.accuracy}};
  std::string val_text;
  if (test.tta_level > 0) {
    record["tta_level"] = test.tta_level;
    record["test_loss_tta"] = test.tta_loss;
    record["test_accuracy_tta"] = test.tta_accuracy;
    val_text = fmt::format(" with TTA level {}: loss {:.4f} accuracy {:.2f}%", test.tta_level,
                           test.tta_loss, 100 * test.tta_accuracy);
  }
  if (val_.n > 0) {
    const EvalResult val = evaluate(/*validation=*/true);
    record["val_loss"] = val.loss;
    record["val_accuracy"] = val.accuracy;
    val_text +=
        fmt::format(" validation loss {:.4f} accuracy {:.2f}%", val.loss, 100 * val.accuracy);
  }
  if (!cfg_.quiet)
    fmt::print("eval  step {:>6} epoch {:>3} test loss {:.4f} test accuracy {:.2f}%{}\n", step_,
               epoch_ + 1, test.loss, 100 * test.accuracy, val_text);
  log_metrics(std::move(record));
}

// Every record goes out here, stamped with the wall-clock time (Unix seconds) and the seconds
// since this segment's run header (the first record written), to both sinks: the JSONL and
// TensorBoard.
void Trainer::log_metrics(nlohmann::json record) {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  if (!records_started_) records_started_ = now;
  const auto millis = [](double s) { return std::round(s * 1000) / 1000; };
  record["time"] = millis(duration<double>(system_clock::now().time_since_epoch()).count());
  record["elapsed_s"] = millis(duration<double>(now - *records_started_).count());
  metrics_.write(record.dump());
  if (tensorboard_) tensorboard_->write(record);
}

// Profiling run: a few warm-up steps, then the profiled steps between profiler_start/stop (what
// nsys --capture-range=cudaProfilerApi and ncu --profile-from-start off record). No evaluation.
void Trainer::run_profile(const std::function<int()>& stop_requested) {
  // A stop request holds here too: after the step in flight, with nothing to save.
  const auto step_or_stop = [&] {
    step();
    if (const int sig = stop_agreed(stop_requested)) {
      device_synchronize();
      profiler_stop();
      throw Stopped(sig, step_, {});
    }
  };
  for (int i = 0; i < kProfileWarmup; ++i) step_or_stop();
  device_synchronize();
  profiler_start();
  {
    NvtxRange range("profiled_steps");
    for (int i = 0; i < cfg_.profile_steps; ++i) step_or_stop();
    device_synchronize();
  }
  profiler_stop();
  if (!cfg_.quiet)
    fmt::print("profiled {} steps after {} warm-up steps\n", cfg_.profile_steps, kProfileWarmup);
}

// Data-parallel: a signal seen by any rank stops every rank after the same step.
int Trainer::stop_agreed(const std::function<int()>& stop_requested) const {
  const int sig = stop_requested ? stop_requested() : 0;
  return comm_ ? comm_->max(sig) : sig;
}

// One "train" record and progress line for the `steps` steps since the last, which took `secs`.
void Trainer::log_training(long steps, double secs, bool eval_now) {
  const double loss = take_train_loss();
  const double ips = steps * cfg_.batch_size / std::max(secs, 1e-9);
  const double eta = (total_steps_ - step_) * cfg_.batch_size / std::max(ips, 1e-9);
  const float lr = learning_rate(schedule_, step_ - 1);
  if (!std::isfinite(loss)) {
    const auto bad = first_nonfinite();
    diverged(fmt::format("the mean training loss is {} (lr {}){}", loss, lr,
                         bad ? "; the first non-finite tensor is the " + *bad : std::string()));
  }
  nlohmann::json record{{"type", "train"}, {"step", step_}, {"epoch", epoch_ + 1},
                        {"loss", loss},    {"lr", lr},      {"images_per_s", ips}};
  std::string comm_status;
  if (comm_) {
    const double ms = last_step_comm_ms();
    record["ranks"] = ranks_;
    record["comm_ms"] = ms;
    record["comm_bytes"] = comm_bytes_per_step_;
    comm_status = fmt::format(" comm {:.1f} ms", ms);
  }
  std::string gq_status;
  if (grad_queue_) {
    const GradQueueDiagnostics d = grad_queue_->diagnostics();  // throws after repeated skips
    record["gradqueue"] = to_json(d);
    gq_status = fmt::format(" qlen {:>2} mean-delta {:.3f} cos {:.3f}", d.qlen, d.mean_delta,
                            d.cos_gstar_gbar);
  }
  print_progress(fmt::format("step {:>6}/{} epoch {:>3} loss {:.4f} lr {:.4f}{}{} {:>7.0f} img/s "
                             "ETA {:>5.0f}s",
                             step_, total_steps_, epoch_ + 1, loss, lr, gq_status, comm_status, ips,
                             eta),
                 eval_now);
  log_metrics(std::move(record));
}

// On a terminal the progress line redraws itself (\r) until an evaluation ends it; in a file or a
// pipe (a log, CI) each interval is a line of its own.
void Trainer::print_progress(const std::string& line, bool end_line) const {
  if (cfg_.quiet) return;
  if (progress_redraws_)
    fmt::print("\r{}   {}", line, end_line ? "\n" : "");
  else
    fmt::print("{}\n", line);
  std::fflush(stdout);
}

EvalResult Trainer::run(const std::function<int()>& stop_requested) {
  if (const int sig = stop_agreed(stop_requested))
    throw Stopped(sig, step_, {});  // no step taken: nothing to save
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const long first_step = step_;
  long logged_step = step_;
  auto t_log = t0;
  EvalResult last;
  while (step_ < total_steps_) {
    step();
    // Agreed right after the step, before anything waits for the device: on GPUs this host
    // collective is where a stopped or dead rank is caught (Communicator::set_timeout).
    const int sig = stop_agreed(stop_requested);
    const bool epoch_end = step_ % steps_per_epoch_ == 0 || step_ == total_steps_;
    const bool eval_now = epoch_end || (cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0);
    if (step_ % cfg_.log_every == 0 || eval_now) {
      const auto now = clock::now();
      log_training(step_ - logged_step, std::chrono::duration<double>(now - t_log).count(),
                   eval_now);
      t_log = now;
      logged_step = step_;
    }
    if (eval_now) {
      const auto te = clock::now();
      last = step_ == total_steps_ ? evaluate_final() : evaluate();
      log_evaluation(last);
      t_log += clock::now() - te;  // evaluation time is not training throughput
    }
    // After this step's records: a checkpoint at step S means every record up to S is written,
    // so a resume from it drops exactly the records after S and writes them again.
    const bool dir = !cfg_.checkpoint_dir.empty();
    const bool periodic = dir && cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0;
    if (periodic) save_step_checkpoint();
    if (sig != 0 && step_ < total_steps_) {
      if (!cfg_.quiet && progress_redraws_) fmt::print("\n");  // ends the redrawn line
      throw Stopped(sig, step_,
                    !dir       ? std::filesystem::path()
                    : periodic ? last_good_checkpoint_
                               : save_step_checkpoint());
    }
  }
  if (!cfg_.checkpoint_dir.empty()) save(cfg_.checkpoint_dir / "last.ckpt");
  const double total = std::chrono::duration<double>(clock::now() - t0).count();
  if (!cfg_.quiet)
    fmt::print("done: {} of {} steps in {:.1f} s{}\n", step_ - first_step, total_steps_, total,
               first_step > 0 ? fmt::format(" (resumed from step {})", first_step) : "");
  return last;
}

std::filesystem::path Trainer::save_step_checkpoint() {
  const auto path = step_checkpoint_path(cfg_.checkpoint_dir, step_);
  save(path);
  if (rank_ == 0) prune_checkpoints(cfg_.checkpoint_dir, cfg_.keep_checkpoints, step_);
  return path;
}

std::optional<std::string> Trainer::first_nonfinite() {
  struct Tensor {
    std::string name;
    const float* data;
    std::size_t n;
  };
  std::vector<Tensor> tensors;
  auto& reg = model_->params();
  for (const auto& info : reg.infos())
    tensors.push_back({"parameter " + info.name, reg.values() + info.offset, info.numel()});
  for (Optimizer::State& state : optimizer_->state())
    tensors.push_back({"optimizer state " + state.name, state.values.data(), state.values.size()});
  int i = 0;
  for (DeviceBuffer<float>* b : model_->state_buffers())
    tensors.push_back({fmt::format("model state buffer {}", i++), b->data(), b->size()});
  if (ema_) tensors.push_back({"lookahead EMA", ema_->state().data(), ema_->state().size()});
  GQ_CHECK(tensors.size() <= finite_flags_.size(), "first_nonfinite: {} flags for {} tensors",
           finite_flags_.size(), tensors.size());
  for (std::size_t t = 0; t < tensors.size(); ++t)
    kernels::any_nonfinite(tensors[t].data, tensors[t].n, finite_flags_.data() + t,
                           reduce_scratch_.data());
  std::vector<std::int32_t> flags(tensors.size());
  copy_to_host(flags.data(), finite_flags_.data(), flags.size() * sizeof(std::int32_t));
  for (std::size_t t = 0; t < tensors.size(); ++t)
    if (flags[t]) return tensors[t].name;
  return std::nullopt;
}

void Trainer::diverged(const std::string& what) const {
  const std::string last = last_good_checkpoint_.string();
  // Not "resume from it": a resume keeps this run's settings (others are refused), so it would
  // diverge again.
  GQ_FAIL(
      "training diverged: {} at step {}; no checkpoint is written from this state. Last good "
      "checkpoint: {}. Lower --lr or enable --clip-norm and start a new run.",
      what, step_, last.empty() ? "none (this run wrote none)" : last + " (gq-eval evaluates it)");
}

void Trainer::save(const std::filesystem::path& path) {
  sync_state_buffers();
  // A checkpoint is a promise that the run can go on from it: never one of NaNs.
  if (const auto bad = first_nonfinite()) diverged("the " + *bad + " holds NaN or infinite values");
  Checkpoint ck;
  ck.header = {{"format", 2},
               {"model", cfg_.model},
               {"dataset", cfg_.dataset},
               {"batch_size", cfg_.batch_size},
               {"optimizer", cfg_.optimizer},
               {"gradqueue", cfg_.gradqueue},
               {"seed", cfg_.seed},
               {"step", step_},
               {"train_n", train_.n},
               {"train_subset", cfg_.train_subset},
               {"num_classes", train_.num_classes},
               {"params", model_->params().size()},
               {"tensors", tensor_list()},  // what --init-from compares
               {"loss_steps", loss_steps_},
               {"ranks", ranks_},  // informational: a resume may use another number
               {"settings", run_settings(cfg_)}};
  if (rank_ != 0) {  // every rank holds the same state; rank 0 writes it once
    last_good_checkpoint_ = path;
    return;
  }
  auto& reg = model_->params();
  ck.sections["params"].resize(reg.size());
  copy_to_host(ck.sections["params"].data(), reg.values(), reg.size() * sizeof(float));
  for (Optimizer::State& state : optimizer_->state())
    ck.sections[state.name] = state.values.to_host();
  int i = 0;
  for (DeviceBuffer<float>* b : model_->state_buffers())
    ck.sections[fmt::format("state{}", i++)] = b->to_host();
  if (grad_queue_) grad_queue_->save(ck);
  if (ema_) ck.sections["lookahead_ema"] = ema_->state().to_host();
  // The training-loss accumulator of the next log line: resumed, it logs what an uninterrupted
  // run logs.
  ck.sections["loss_sum"] = loss_sum_.to_host();
  write_checkpoint(path, ck);
  last_good_checkpoint_ = path;
}

// A checkpoint is untrusted (its checksum guards against rot, not forgery): nothing non-finite is
// taken in, or it would be copied into every later "good" checkpoint.
void restore_section(const Checkpoint& ck, const std::filesystem::path& path,
                     const std::string& name, float* dst, std::size_t n) {
  auto it = ck.sections.find(name);
  GQ_CHECK(it != ck.sections.end() && it->second.size() == n,
           "{}: section '{}' missing or of the wrong size (expected {} values)", path.string(),
           name, n);
  const auto bad = std::find_if_not(it->second.begin(), it->second.end(),
                                    [](float v) { return std::isfinite(v); });
  GQ_CHECK(bad == it->second.end(),
           "{}: section '{}' holds {} at index {}: expected finite values (a corrupt or forged "
           "checkpoint)", path.string(), name, *bad, bad - it->second.begin());
  copy_to_device(dst, it->second.data(), n * sizeof(float));
}

// --extend: the start-up line saying how the schedule changes ("extend      from step 96 of 96
// to 192 steps: the learning rate at step 96 is now 0.0542, the schedule over 192 steps").
std::string Trainer::extension(const nlohmann::json& theirs, long step) const {
  const double epochs = theirs.value("epochs", static_cast<double>(cfg_.epochs));
  const long max_steps = theirs.value("max-steps", cfg_.max_steps);
  const ScheduleConfig before =
      schedule_over(total_steps_for(epochs, max_steps, steps_per_epoch_));
  GQ_CHECK(total_steps_ > before.total_steps,
           "--extend: this run ({} steps) is not longer than the checkpoint's ({} steps); give "
           "a larger --epochs or --max-steps",
           total_steps_, before.total_steps);
  return fmt::format(
      "extend      from step {} of {} to {} steps: the learning rate at step {} is {:.4g} (was "
      "{:.4g}), the {} schedule stretched over {} steps",
      step, before.total_steps, total_steps_, step, learning_rate(schedule_, step),
      learning_rate(before, step), cfg_.schedule, total_steps_);
}

// The model's own sections: its parameters and state buffers (what gq-eval and --init-from take).
void Trainer::restore_model(const Checkpoint& ck, const std::filesystem::path& path) {
  restore_section(ck, path, "params", model_->params().values(), model_->params().size());
  int i = 0;
  for (DeviceBuffer<float>* b : model_->state_buffers())
    restore_section(ck, path, fmt::format("state{}", i++), b->data(), b->size());
}

void Trainer::load(const std::filesystem::path& path, bool model_only) {
  load(read_checkpoint(path), path, model_only);
}

void Trainer::check_settings(const Checkpoint& ck, const std::filesystem::path& path) const {
  const auto& h = ck.header;
  if (!h.contains("settings") || !h["settings"].is_object())
    GQ_FAIL(
        "{}: this checkpoint (format {}) does not record its run's settings, so a resume "
        "cannot check that they match this run's; start a new run",
        path.string(), h["format"].dump());
  nlohmann::json theirs = h["settings"], mine = run_settings(cfg_);
  if (cfg_.extend)  // the run's length may change; nothing else
    for (const char* length : {"epochs", "max-steps"}) theirs.erase(length), mine.erase(length);
  const auto diff = settings_differences(theirs, mine);
  if (!diff.empty())
    GQ_FAIL(
        "{}: cannot resume: {} setting(s) differ from the run that wrote the checkpoint:\n  {}\n"
        "Resume with the same settings, or start a new run without --resume.",
        path.string(), diff.size(), fmt::format("{}", fmt::join(diff, "\n  ")));
}

void Trainer::load(const Checkpoint& ck, const std::filesystem::path& path, bool model_only) {
  auto expect = [&](const char* key, const nlohmann::json& want) {
    GQ_CHECK(ck.header.contains(key) && ck.header[key] == want,
             "{}: checkpoint has {} = {}, but this run has {}; resume with the same settings",
             path.string(), key, ck.header.value(key, nlohmann::json()).dump(), want.dump());
  };
  expect("model", cfg_.model);
  expect("dataset", cfg_.dataset);
  expect("batch_size", cfg_.batch_size);
  if (!model_only) {
    expect("optimizer", cfg_.optimizer);
    expect("gradqueue", cfg_.gradqueue);
    expect("train_n", train_.n);
    check_settings(ck, path);
    const long step = ck.header["step"].get<long>();
    if (step == total_steps_)
      GQ_FAIL(
          "{}: this run already finished (step {} of {}): there is nothing to resume. "
          "Evaluate it with gq-eval {}, continue it for longer with --extend and a larger "
          "--epochs or --max-steps, or start a new run without --resume.",
          path.string(), step, total_steps_, path.string());
    if (cfg_.extend) extend_status_ = extension(ck.header["settings"], step);
    if (step > total_steps_)
      GQ_FAIL("{}: the checkpoint is at step {}, past the end of this run ({} steps)",
              path.string(), step, total_steps_);
    GQ_CHECK(ck.header["loss_steps"].get<long>() <= step,
             "{}: loss_steps {} is past the checkpoint's step {}", path.string(),
             ck.header["loss_steps"].dump(), step);
  }
  restore_model(ck, path);
  step_ = ck.header.at("step").get<long>();
  if (model_only) return;
  const auto restore = [&](const std::string& name, float* dst, std::size_t n) {
    restore_section(ck, path, name, dst, n);
  };
  for (Optimizer::State& state : optimizer_->state())
    restore(state.name, state.values.data(), state.values.size());
  if (grad_queue_) grad_queue_->load(ck, path.string());
  if (ema_) restore("lookahead_ema", ema_->state().data(), ema_->state().size());
  restore("loss_sum", loss_sum_.data(), loss_sum_.size());
  loss_steps_ = ck.header["loss_steps"].get<long>();
  // The device's step counter continues from the checkpoint's (begin_step reads `next`).
  const kernels::StepScalars resumed{0, static_cast<std::uint64_t>(step_), 0.0f};
  scalars_.upload(std::span<const kernels::StepScalars>(&resumed, 1));
  epoch_ = static_cast<int>(step_ / steps_per_epoch_);
  if (step_ % steps_per_epoch_ != 0) begin_epoch();  // mid-epoch: rebuild this epoch's order
}

}  // namespace gq::train

namespace gq::train {

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
  if (!comm_) return;
  for (DeviceBuffer<float>* b : model_->state_buffers()) {
    comm_->reserve(b->size());
    comm_->sum(b->data(), b->size(), nullptr);
    kernels::scale(b->data(), b->size(), 1.0f / static_cast<float>(ranks_), nullptr);
  }
}

}  // namespace gq::train
