// GradQueue: drives Grad Queue (docs/GRADQUEUE.md §2) around the model's ordinary step, all on the
// device: features -> k-means -> per-cluster gradients (a backward hook) -> queue statistics ->
// scarcity/combine -> G* for the base optimizer -> push gbar -> queue length from the loss EMA.
// The model knows nothing about it; the Trainer calls cluster(), passes hook() to backward and
// hands the result of combine_and_push() to the optimizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/clustering.h"
#include "kernels/gradient_ring.h"
#include "kernels/kmeans.h"
#include "kernels/scarcity.h"
#include "models/sequential.h"
#include "runtime/bf16.h"
#include "runtime/comm.h"
#include "runtime/memory.h"
#include "runtime/train/state_registry.h"
#include "runtime/train/train_config.h"

namespace gq::train {

// --gq-ring-precision (declared in grad_queue.cpp, its value in GradQueueConfig's slots): how the
// ring stores its gradients. A test sets it with ring_precision(cfg.gq) = Precision::bf16.
Precision& ring_precision(const GradQueueConfig& c);

// What one step of Grad Queue did (docs/GRADQUEUE.md, "Diagnostics"), read back from the device.
struct GradQueueDiagnostics {
  int qlen = 0, queue_count = 0;  // the queue's length and how many gradients it holds
  float mean_delta = 0, frac_delta_gt1 = 0, cos_gstar_gbar = 0, norm_gbar = 0, noise_scale = 0;
  int k_effective = 0, kmeans_iterations = 0;
  std::vector<int> cluster_sizes;
  int skipped_steps = 0;  // in the whole run
};

class GradQueue {
 public:
  // comm (optional, not owned): data-parallel Grad Queue (docs/GRADQUEUE.md §10). The model is
  // set up for this rank's share of the batch; k-means runs on the whole global batch.
  GradQueue(const GradQueueConfig& config, models::Sequential& model, std::uint64_t seed,
            Communicator* comm = nullptr);
  GradQueue(const GradQueue&) = delete;
  GradQueue& operator=(const GradQueue&) = delete;

  int clusters() const { return k_; }
  // Clusters this step's batch (call after forward, before backward). input: the batch fed to the
  // model (used with --gq-features input). step: the step number, which picks k-means++'s Philox
  // stream; from device memory (DeviceScalar::read) a CUDA graph can replay it.
  void cluster(const float* input, DeviceScalar<std::uint64_t> step, stream_t stream);
  // For backward: each layer's rows of the per-cluster gradients from its x and dy, on `stream`;
  // the layers with true per-cluster rows skip their batch gradient (gbar replaces it).
  const models::Sequential::BackwardHook& hook(stream_t stream);
  // Data-parallel, after backward and before combine_and_push: sums the ranks' shares of the
  // k x P cluster gradients (a collective). No-op in one process.
  void sum_over_ranks(stream_t stream);
  // After backward: G* (device, the model's parameter count) for the optimizer; pushes gbar and
  // updates the queue length from this step's mean loss (a device scalar).
  float* combine_and_push(const float* step_loss, stream_t stream);
  // Device flag: 0 when this step's G* must not be applied.
  const std::int32_t* apply_flag() const;
  // Host sync: qlen, mean Delta, fraction Delta > 1, cos(G*, gbar), cluster sizes, noise scale,
  // skipped steps. Throws gq::Error after 3 consecutive skipped steps.
  GradQueueDiagnostics diagnostics();

  // Layers with parameters but no per-cluster gradient: their batch gradient is used in every
  // cluster's row.
  const std::vector<std::string>& fallback_layers() const { return fallback_layers_; }
  // Data-parallel: bytes this rank sends per step (features all-gather, k x P sum).
  std::uint64_t comm_bytes_per_step() const;
  // Every device buffer, by memory-plan row: the ring (qmax x P slots of fp32 or bf16, float64
  // sums: checkpointed), the k cluster gradients (k x P) and G*, the k-means scratch, the layers'
  // per-cluster gradients (scratch and library plans) and the combine's scratch.
  void register_state(StateRegistry& registry);

 private:
  // Construction, in this order.
  void size_clusters_and_features();
  void index_tensors();
  void prepare_per_cluster_gradients();
  void allocate_clustering();
  void allocate_queue();

  void per_cluster_rows(int layer, const float* x, const float* dy, stream_t stream);
  kernels::Clustering clustering();
  kernels::GradientRing ring();
  kernels::Clustering local_clustering();  // data-parallel: this rank's share of clustering()
  void share_clustering(stream_t stream);

  GradQueueConfig cfg_;
  models::Sequential& model_;
  std::uint64_t seed_;
  int k_ = 1, b_ = 0, features_ = 0;  // b_: the global batch (all ranks)
  Communicator* comm_ = nullptr;      // null unless data-parallel
  int rank_ = 0, ranks_ = 1, local_b_ = 0;
  std::size_t p_ = 0;
  int tensors_ = 0;
  std::vector<char> layer_fallback_;  // per layer: its batch gradient fills its rows
  models::Sequential::BackwardHook hook_;  // calls back into this object: not copied or moved
  stream_t hook_stream_ = nullptr;
  std::vector<std::string> fallback_layers_;
  std::size_t per_cluster_bytes_ = 0;  // what the layers' per-cluster gradients hold

  DeviceBuffer<float> feature_buf_, centroids_;
  DeviceBuffer<float> features_widened_;  // bf16 storage: the penultimate activation, in float
  DeviceBuffer<int> assignment_, sizes_, order_, offsets_, tensor_offsets_;
  DeviceBuffer<kernels::KMeansResult> kmeans_result_;
  DeviceBuffer<char> kmeans_scratch_, combine_scratch_;
  DeviceBuffer<float> cluster_grads_;  // k x p
  DeviceBuffer<float> gbar_, gstar_, queue_mean_, queue_std_;
  Precision slot_type_ = Precision::fp32;  // --gq-ring-precision
  DeviceBuffer<float> slots_;      // qmax x p with fp32 slots, else empty
  DeviceBuffer<bf16> slots_bf16_;  // qmax x p with bf16 slots, else empty
  DeviceBuffer<double> sum_, sumsq_;
  DeviceBuffer<kernels::RingState> state_;
  DeviceBuffer<kernels::CombineDiagnostics> diagnostics_;
  DeviceBuffer<std::int32_t> skips_;  // consecutive, total
  DeviceBuffer<int> local_order_, local_offsets_, local_sizes_;  // data-parallel share
  DeviceBuffer<float> local_factors_;
};

}  // namespace gq::train
