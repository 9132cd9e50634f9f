#include "runtime/train/grad_queue.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "kernels/precision.h"
#include "kernels/step_guard.h"
#include "runtime/error.h"
#include "runtime/nvtx.h"
#include "runtime/train/gq_shard.h"
#include "runtime/train/ring_state_check.h"
#include "runtime/train/settings.h"
#include "runtime/train/state_registry.h"

namespace gq::train {

using kernels::ClusterWeight;
using kernels::Granularity;
using kernels::ScarcityFamily;
using kernels::SigmaScale;

Precision& ring_precision(const GradQueueConfig& c) {
  return c.slots.get("gq-ring-precision", Precision::fp32);
}

// Grad Queue's settings (docs/GRADQUEUE.md §6 states each one's meaning, default and range).
const bool kSettingsDeclared = declare([] {
  const auto match = ResumeRule::must_match;
  const std::string gq = "Grad Queue";
  const auto about = [&](const char* name, const char* help) {
    return About{name, gq, help, match, "gradqueue"};
  };
  return std::vector<Setting>{
      flag({"gradqueue", gq, "train with Grad Queue on top of --optimizer", match},
           GQ_FIELD(gradqueue)),
      integer(about("gq-clusters", "k-means clusters per batch: auto (batch/128, 1..32) or N"),
              GQ_FIELD(gq.clusters), 1, kernels::kKMeansMaxClusters, "auto"),
      integer(about("gq-kmeans-iters", "Lloyd iterations at most"), GQ_FIELD(gq.kmeans_iters), 0,
              1000),
      integer(about("gq-qmin", "queue length floor (and warm-up)"), GQ_FIELD(gq.qmin), 1, INT_MAX),
      integer(about("gq-qmax", "queue capacity"), GQ_FIELD(gq.qmax), 1, INT_MAX),
      integer(about("gq-qlen-init", "initial queue length (0: qmin)"), GQ_FIELD(gq.qlen_init), 0,
              INT_MAX),
      flag(about("gq-fixed-qlen", "keep the queue length fixed (no loss rule)"),
           GQ_FIELD(gq.fixed_qlen)),
      real(about("gq-rho", "bound of the scarcity weight"), GQ_FIELD(gq.scarcity.rho), 1, 1e6),
      choice<ScarcityFamily>(about("gq-scarcity", "scarcity weight family"),
                             GQ_FIELD(gq.scarcity.family),
                             {{"powtanh", ScarcityFamily::powtanh},
                              {"clip", ScarcityFamily::clip},
                              {"chebyshev", ScarcityFamily::chebyshev},
                              {"none", ScarcityFamily::none}}),
      choice<SigmaScale>(about("gq-sigma-scale", "the spread Delta is measured against"),
                         GQ_FIELD(gq.scarcity.sigma_scale),
                         {{"cluster", SigmaScale::cluster}, {"batch", SigmaScale::batch}}),
      choice<Granularity>(about("gq-granularity", "one scarcity weight per element or cluster"),
                          GQ_FIELD(gq.scarcity.granularity),
                          {{"element", Granularity::element}, {"cluster", Granularity::cluster}}),
      choice<ClusterWeight>(about("gq-cluster-weight", "how clusters are weighted in G*"),
                            GQ_FIELD(gq.scarcity.cluster_weight),
                            {{"size", ClusterWeight::size}, {"uniform", ClusterWeight::uniform}}),
      choice<bool>(about("gq-renorm", "rescale G* to the batch gradient's norm"),
                   GQ_FIELD(gq.scarcity.renorm), {{"on", true}, {"off", false}}),
      real(about("gq-loss-ema", "loss EMA factor of the length rule"), GQ_FIELD(gq.loss_ema), 0,
           0.999999),
      real(about("gq-tol", "relative loss change that moves the length"), GQ_FIELD(gq.tol), 0,
           0.999999),
      choice<std::string>(about("gq-features", "what k-means clusters"), GQ_FIELD(gq.features),
                          {{"penultimate", "penultimate"}, {"input", "input"}}),
      // Recorded only as bf16, so fp32 runs' checkpoints stay those of the builds before it.
      choice<Precision>({"gq-ring-precision", gq,
                         "storage of the queue's gradients: fp32, or bf16 (half the queue's "
                         "memory; each gradient rounded to nearest even as it is pushed; the "
                         "running sums stay float64)",
                         ResumeRule::must_match_when_set, "gradqueue"},
                        +[](TrainConfig& c) -> Precision& { return ring_precision(c.gq); },
                        {{"fp32", Precision::fp32}, {"bf16", Precision::bf16}}),
  };
}());

namespace {

// Philox streams of the k-means seeding, apart from augmentation (stream = step) and dropout.
constexpr std::uint64_t kKMeansStream = std::uint64_t{2} << 40;

}  // namespace

GradQueue::GradQueue(const GradQueueConfig& config, models::Sequential& model, std::uint64_t seed,
                     Communicator* comm)
    : cfg_(config), model_(model), seed_(seed) {
  if (comm && comm->distributed()) {
    comm_ = comm;
    rank_ = comm->rank();
    ranks_ = comm->size();
  }
  size_clusters_and_features();
  index_tensors();
  prepare_per_cluster_gradients();
  allocate_clustering();
  allocate_queue();
  if (comm_) {
    local_order_ = DeviceBuffer<int>(local_b_);
    local_offsets_ = DeviceBuffer<int>(k_ + 1);
    local_sizes_ = DeviceBuffer<int>(k_);
    local_factors_ = DeviceBuffer<float>(k_);
    comm_->reserve(p_ * k_);
  }
}

// The batch k-means sees, the clusters k and the feature width, checked against the model.
void GradQueue::size_clusters_and_features() {
  local_b_ = model_.batch();
  b_ = local_b_ * ranks_;  // k-means, the clustering and the combine see the global batch
  k_ = cfg_.clusters > 0 ? cfg_.clusters : std::clamp(b_ / 128, 1, 32);
  GQ_CHECK(k_ <= kernels::kKMeansMaxClusters && k_ <= b_,
           "--gq-clusters {}: at most {} and at most the batch size {}", k_,
           kernels::kKMeansMaxClusters, b_);
  GQ_CHECK(cfg_.qmin >= 1 && cfg_.qmin <= cfg_.qmax,
           "--gq-qmin {} / --gq-qmax {}: need 1 <= qmin <= qmax", cfg_.qmin, cfg_.qmax);
  GQ_CHECK(model_.num_layers() >= 2, "Grad Queue needs a model with a classifier layer");
  if (cfg_.features == "penultimate")
    features_ = static_cast<int>(model_.output_shape(model_.num_layers() - 2).numel());
  else if (cfg_.features == "input")
    features_ = static_cast<int>(model_.input_shape().numel());
  else
    GQ_FAIL("--gq-features '{}': valid: penultimate, input", cfg_.features);
  cfg_.scarcity.qmin = cfg_.qmin;
}

// The combine works per parameter tensor: their start offsets, in order, then P.
void GradQueue::index_tensors() {
  models::ParamRegistry& reg = model_.params();
  p_ = reg.size();
  tensors_ = static_cast<int>(reg.infos().size());
  std::vector<int> offsets;
  for (const auto& info : reg.infos()) offsets.push_back(static_cast<int>(info.offset));
  std::sort(offsets.begin(), offsets.end());
  offsets.push_back(static_cast<int>(p_));
  tensor_offsets_ = DeviceBuffer<int>(std::span<const int>(offsets));
}

// Every layer with parameters builds its per-cluster gradient now, or falls back; the backward
// hook then fills each layer's rows.
void GradQueue::prepare_per_cluster_gradients() {
  layer_fallback_.assign(model_.num_layers(), 0);
  for (int i = 0; i < model_.num_layers(); ++i) {
    models::Layer& layer = model_.layer(i);
    if (!layer.has_params()) continue;
    if (const std::optional<std::size_t> bytes = layer.prepare_per_cluster(k_)) {
      per_cluster_bytes_ += *bytes;
    } else {
      layer_fallback_[i] = 1;
      fallback_layers_.push_back(model_.layer_name(i));
    }
  }
  hook_.after_layer = [this](int layer, const float* x, const float* dy) {
    per_cluster_rows(layer, x, dy, hook_stream_);
  };
  // A layer with true per-cluster rows reads x and dy, and needs no batch gradient: gbar is their
  // weighted sum. The others' rows are their batch gradient.
  for (int i = 0; i < model_.num_layers(); ++i) {
    const models::Layer& l = model_.layer(i);
    const bool rows =
        l.has_params() && !layer_fallback_[i] && !l.per_cluster_rows_are_batch_gradient();
    hook_.reads_activations.push_back(rows);
    hook_.takes_param_grads.push_back(rows);
  }
  model_.prepare_backward_hook(hook_);
}

// k-means' buffers and its result, the clustering. With one cluster k-means never runs: the
// clustering is the whole batch in order, written once here.
void GradQueue::allocate_clustering() {
  feature_buf_ = DeviceBuffer<float>(static_cast<std::size_t>(b_) * features_);
  if (cfg_.features == "penultimate" && model_.storage() == Precision::bf16)
    features_widened_ = DeviceBuffer<float>(static_cast<std::size_t>(local_b_) * features_);
  centroids_ = DeviceBuffer<float>(static_cast<std::size_t>(k_) * features_);
  assignment_ = DeviceBuffer<int>(b_);
  sizes_ = DeviceBuffer<int>(k_);
  order_ = DeviceBuffer<int>(b_);
  offsets_ = DeviceBuffer<int>(k_ + 1);
  kmeans_result_ = DeviceBuffer<kernels::KMeansResult>(1);
  if (k_ > 1) {
    kmeans_scratch_ = DeviceBuffer<char>(kernels::kmeans_scratch_bytes(b_, features_, k_));
    return;
  }
  std::vector<int> order(b_);
  std::iota(order.begin(), order.end(), 0);
  order_.upload(order);
  const std::vector<int> offs = {0, b_}, sizes = {b_};
  offsets_.upload(offs);
  sizes_.upload(sizes);
  const kernels::KMeansResult one{0, 1, 1};
  kmeans_result_.upload(std::span<const kernels::KMeansResult>(&one, 1));
}

// The k cluster gradients, gbar and G*, the ring of past gbars (empty, at its initial length)
// with its statistics, and the combine's diagnostics and skip counters.
void GradQueue::allocate_queue() {
  combine_scratch_ = DeviceBuffer<char>(kernels::combine_scratch_bytes(p_, k_, tensors_));
  cluster_grads_ = DeviceBuffer<float>(p_ * k_);
  gbar_ = DeviceBuffer<float>(p_);
  gstar_ = DeviceBuffer<float>(p_);
  queue_mean_ = DeviceBuffer<float>(p_);
  queue_std_ = DeviceBuffer<float>(p_);
  slot_type_ = ring_precision(cfg_);
  if (slot_type_ == Precision::bf16)
    slots_bf16_ = DeviceBuffer<bf16>(p_ * cfg_.qmax);
  else
    slots_ = DeviceBuffer<float>(p_ * cfg_.qmax);
  sum_ = DeviceBuffer<double>(p_);
  sumsq_ = DeviceBuffer<double>(p_);
  sum_.fill_bytes(0);
  sumsq_.fill_bytes(0);
  const kernels::RingState st = kernels::initial_ring_state(
      cfg_.qmin, cfg_.qmax, cfg_.qlen_init > 0 ? cfg_.qlen_init : cfg_.qmin);
  state_ = DeviceBuffer<kernels::RingState>(std::span<const kernels::RingState>(&st, 1));
  diagnostics_ = DeviceBuffer<kernels::CombineDiagnostics>(1);
  diagnostics_.fill_bytes(0);
  skips_ = DeviceBuffer<std::int32_t>(2);
  skips_.fill_bytes(0);
}

kernels::Clustering GradQueue::local_clustering() {
  return {local_order_.data(), local_offsets_.data(), local_sizes_.data(), k_, local_b_};
}

std::uint64_t GradQueue::comm_bytes_per_step() const {
  if (!comm_) return 0;
  const std::uint64_t gather =
      k_ > 1 ? std::uint64_t{4} * local_b_ * features_ * (ranks_ - 1) : 0;
  return gather + sum_bytes_sent(p_ * k_, ranks_, rank_);
}

kernels::Clustering GradQueue::clustering() {
  return {order_.data(), offsets_.data(), sizes_.data(), k_, b_};
}

kernels::GradientRing GradQueue::ring() {
  void* slots = slot_type_ == Precision::bf16 ? static_cast<void*>(slots_bf16_.data())
                                              : static_cast<void*>(slots_.data());
  return {slots, sum_.data(), sumsq_.data(), state_.data(), p_, cfg_.qmax, slot_type_};
}

void GradQueue::cluster(const float* input, DeviceScalar<std::uint64_t> step, stream_t stream) {
  if (k_ == 1) {
    share_clustering(stream);
    return;
  }
  NvtxRange range("gq.kmeans");
  const float* src = input;
  if (features_widened_.size() > 0) {
    kernels::widen_to_float(model_.activation_bf16(model_.num_layers() - 2),
                            features_widened_.data(), features_widened_.size(), stream);
    src = features_widened_.data();
  } else if (cfg_.features == "penultimate") {
    src = model_.activation(model_.num_layers() - 2);
  }
  // The features are normalised into k-means' own buffer (the model's activation stays as it is).
  // Data-parallel, every rank clusters the whole global batch: the ranks' features, in rank order.
  if (comm_) {
    comm_->all_gather(src, feature_buf_.data(), static_cast<std::size_t>(local_b_) * features_,
                      stream);
    kernels::l2_normalize_rows(feature_buf_.data(), b_, features_, stream);
  } else {
    kernels::l2_normalize_rows(src, feature_buf_.data(), b_, features_, stream);
  }
  // Stream kKMeansStream | step (steps stay below 2^40), as the sum the device can form.
  kernels::kmeans({feature_buf_.data(), Shape{b_, features_}},
                  {k_, cfg_.kmeans_iters, seed_, step.affine(1, kKMeansStream)},
                  {assignment_.data(), centroids_.data(), clustering(), kmeans_result_.data()},
                  kmeans_scratch_.data(), stream);
  share_clustering(stream);
}

// Data-parallel: this rank's members of each cluster and its factors (gq_shard.h).
void GradQueue::share_clustering(stream_t stream) {
  if (comm_)
    shard_clustering(clustering(), rank_ * local_b_, ranks_, local_clustering(),
                     local_factors_.data(), stream);
}

const models::Sequential::BackwardHook& GradQueue::hook(stream_t stream) {
  hook_stream_ = stream;
  return hook_;
}

// One layer's columns of the k x p matrix of per-cluster gradients.
void GradQueue::per_cluster_rows(int layer, const float* x, const float* dy, stream_t stream) {
  models::Layer& l = model_.layer(layer);
  NvtxRange range("gq.per_cluster." + model_.layer_name(layer));
  const MatrixView rows{cluster_grads_.data(), static_cast<std::size_t>(k_), p_, p_};
  if (!layer_fallback_[layer]) {
    l.per_cluster_grads(x, dy, comm_ ? local_clustering() : clustering(), rows, stream);
    // Data-parallel: this rank's share of each g_c (a batch gradient's share needs no factor).
    if (comm_ && !l.per_cluster_rows_are_batch_gradient()) {
      const auto [first, last] = model_.param_ids(layer);
      for (int id = first; id < last; ++id)
        scale_rows(model_.params().columns(id, rows), local_factors_.data(), stream);
    }
    return;
  }
  const auto [first, last] = model_.param_ids(layer);
  for (int id = first; id < last; ++id) model_.params().grad_in_every_row(id, rows, stream);
}

// Data-parallel: the ranks' shares of the k x P cluster gradients summed in rank order (the
// counts n_c are the global clustering's, the same on every rank): from here on every rank
// computes the same queue, scarcity and G*.
void GradQueue::sum_over_ranks(stream_t stream) {
  if (comm_) comm_->sum(cluster_grads_.data(), cluster_grads_.size(), stream);
}

float* GradQueue::combine_and_push(const float* step_loss, stream_t stream) {
  NvtxRange range("gq.combine");
  kernels::ring_statistics(ring(), queue_mean_.data(), queue_std_.data(), stream);
  kernels::scarcity_combine(
      cluster_grads_.data(), clustering(), {queue_mean_.data(), queue_std_.data(), state_.data()},
      {tensor_offsets_.data(), tensors_}, p_, cfg_.scarcity,
      {gbar_.data(), gstar_.data(), diagnostics_.data()}, combine_scratch_.data(), stream);
  kernels::track_skipped_steps(apply_flag(), skips_.data(), stream);
  kernels::ring_push(ring(), gbar_.data(), stream, apply_flag());
  if (!cfg_.fixed_qlen)
    kernels::ring_update_length(state_.data(), step_loss, cfg_.loss_ema, cfg_.tol, stream);
  return gstar_.data();
}

const std::int32_t* GradQueue::apply_flag() const {
  return &diagnostics_.data()->applied;
}

GradQueueDiagnostics GradQueue::diagnostics() {
  kernels::CombineDiagnostics d{};
  kernels::RingState st{};
  kernels::KMeansResult km{};
  std::vector<int> sizes(k_);
  std::int32_t skips[2];
  copy_to_host(&d, diagnostics_.data(), sizeof d);
  copy_to_host(&st, state_.data(), sizeof st);
  copy_to_host(&km, kmeans_result_.data(), sizeof km);
  copy_to_host(sizes.data(), sizes_.data(), sizes.size() * sizeof(int));
  copy_to_host(skips, skips_.data(), sizeof skips);
  if (skips[0] >= 3) {
    // Name the first tensor whose batch gradient is not finite.
    const std::vector<float> g = gbar_.to_host();
    std::string where = "no tensor of gbar (G* itself)";
    for (const auto& info : model_.params().infos()) {
      const auto first = g.begin() + static_cast<std::ptrdiff_t>(info.offset);
      if (std::any_of(first, first + static_cast<std::ptrdiff_t>(info.numel()),
                      [](float v) { return !std::isfinite(v); })) {
        where = info.name;
        break;
      }
    }
    GQ_FAIL(
        "Grad Queue: {} consecutive steps were not applied (non-finite gradient, first in {}); "
        "lower --lr, enable --clip-norm or try a milder --gq-rho",
        skips[0], where);
  }
  return {st.qlen,         st.count,       d.mean_delta,   d.frac_delta_gt1,
          d.cos_gstar_gbar, d.norm_gbar,    d.noise_scale,  km.k_effective,
          km.iterations,    std::move(sizes), skips[1]};
}

// The ring and its statistics are checkpointed (bit for bit: the sums are float64, the state a
// struct) and checked as a whole on restore (ring_state_check.h); everything else is recomputed
// every step.
void GradQueue::register_state(StateRegistry& reg) {
  const StateUse saved{.checkpointed = true};
  const std::string ring = "gq queue (qmax x P)";
  // bf16 slots travel as plain data (their bits, two to a float of the section).
  if (slot_type_ == Precision::bf16)
    reg.add_plain("gq.slots", StateRole::grad_queue, slots_bf16_, saved, ring);
  else
    reg.add("gq.slots", StateRole::grad_queue, slots_.span(), saved, {}, ring);
  reg.add_plain("gq.sum", StateRole::grad_queue, sum_, saved, ring);
  reg.add_plain("gq.sumsq", StateRole::grad_queue, sumsq_, saved, ring);
  reg.add_plain("gq.state", StateRole::grad_queue, state_, saved, ring);
  reg.add_plain("gq.skips", StateRole::grad_queue, skips_, saved, ring);
  reg.add_restore_check(StateRole::grad_queue, [this](const Checkpoint& ck, const std::string& path) {
    read_ring_sections(ck, p_, cfg_.qmin, cfg_.qmax, slot_type_, path);
  });
  const auto working = [&](const std::string& row, auto&... buffers) {
    (reg.add_plain("", StateRole::working, buffers, {}, row), ...);
  };
  working(ring, queue_mean_, queue_std_);
  working("gq cluster grads (k x P)", cluster_grads_, gbar_, gstar_);
  working("gq k-means scratch", feature_buf_, features_widened_, centroids_, assignment_, sizes_,
          order_, offsets_, kmeans_result_, kmeans_scratch_, local_order_, local_offsets_,
          local_sizes_, local_factors_);
  reg.add_memory("gq per-cluster grads", per_cluster_bytes_);
  working("gq combine scratch", combine_scratch_, tensor_offsets_, diagnostics_);
}

}  // namespace gq::train
