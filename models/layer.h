// The layer interface. A model is set up once for a fixed batch size: each layer learns its input
// shape, registers its parameters and allocates everything it needs (saved statistics, library
// plans, workspaces). forward/backward then allocate nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/clustering.h"
#include "models/inference_graph.h"
#include "models/params.h"
#include "runtime/bf16.h"
#include "runtime/device_scalar.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/precision.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace gq::models {

struct Context {
  stream_t stream = nullptr;
  bool training = true;
  std::uint64_t seed = 0;  // the run's seed (dropout masks)
  // The global step (a fresh dropout mask each step); in training, device memory read when the
  // kernels run, so that a captured step (runtime/graph.h) sees each replay's step.
  DeviceScalar<std::uint64_t> step = 0;
  // Data-parallel: the global batch position of this process's first sample (dropout masks are
  // those of the whole batch, so R processes draw what one process draws).
  std::uint64_t first_sample = 0;
  // False: backward writes dx only; the caller computes this layer's parameter gradients another
  // way (Grad Queue's per-cluster rows, whose weighted sum is the batch gradient).
  bool param_grads = true;
};

// Bytes each layer holds, by class, for the memory plan printed at start.
struct MemoryUse {
  std::size_t saved = 0;      // state kept from forward for backward (statistics, argmax, ...)
  std::size_t workspace = 0;  // library workspaces and scratch
};

// What the libraries chose for a model's plans (dnn::Conv2d, blas::GemmPlan), each name once in
// the order first added: the start-up line `precision`.
struct LibraryChoices {
  std::vector<std::string> convolutions, gemms;
  static void add(std::vector<std::string>& to, const std::vector<std::string>& names) {
    for (const std::string& n : names)
      if (std::find(to.begin(), to.end(), n) == to.end()) to.push_back(n);
  }
};

// A float tensor of model state on the device.
struct StateTensor {
  std::string name;
  float* data;
  std::size_t size;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // A short type name for the summary table ("conv2d", "relu", ...).
  virtual std::string kind() const = 0;
  // in: one sample's shape ([C, H, W] or [F]); returns one sample's output shape.
  virtual Shape setup(const std::string& name, const Shape& in, int batch,
                      ParamRegistry& params) = 0;
  // The arithmetic of this layer's GEMMs and convolutions (--precision, runtime/precision.h),
  // set before setup (Sequential::setup); layers without either ignore it.
  void set_precision(Precision p) { precision_ = p; }
  Precision precision() const { return precision_; }
  virtual void forward(const Context& ctx, const float* x, float* y) = 0;
  // Writes dx (skipped when dx is null: the first layer) and, unless ctx.param_grads is false,
  // this layer's parameter gradients. x and y are the forward's input and output.
  virtual void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                        float* dx) = 0;
  // bf16 activation storage (--activations bf16, models/sequential_bf16.cpp): a layer that reads
  // and writes bf16 itself returns true and overrides the two passes below, with forward /
  // backward's contract and, as its tests check, the bits to_bf16 gives of the float passes'
  // results on the same inputs. Any other layer runs its float passes between a widening of its
  // inputs and a rounding of its outputs, which Sequential does.
  virtual bool stores_bf16() const { return false; }
  virtual void forward_bf16(const Context& /*ctx*/, const bf16* /*x*/, bf16* /*y*/) {
    GQ_FAIL("layer {} has no bf16 pass (models/layer.h, stores_bf16)", kind());
  }
  virtual void backward_bf16(const Context& /*ctx*/, const bf16* /*x*/, const bf16* /*y*/,
                             const bf16* /*dy*/, bf16* /*dx*/) {
    GQ_FAIL("layer {} has no bf16 pass (models/layer.h, stores_bf16)", kind());
  }
  // Multiply-adds x 2 of one sample's forward pass.
  virtual double flops_per_sample() const { return 0; }
  virtual MemoryUse memory_use() const { return {}; }
  // Adds what its library plans run on (layers with convolutions or GEMMs).
  virtual void add_library_choices(LibraryChoices& /*choices*/) const {}
  virtual bool has_params() const { return false; }
  // Model state that is not a parameter (BatchNorm's running statistics), named within the layer
  // ("running_mean"); the Trainer registers it (runtime/train/state_registry.h): checkpointed,
  // averaged over data-parallel ranks, averaged by the lookahead EMA.
  virtual std::vector<StateTensor> state_tensors() { return {}; }
  // gq-export --format onnx: appends this layer's evaluation-mode computation of input x (a value
  // name) to g, its tensors named as registered ("<name>.weight", "<name>.running_mean"), and
  // returns its output's name. A layer without one cannot be exported; gq-export names it.
  virtual std::string add_to_graph(InferenceGraph& /*g*/, const std::string& name,
                                   const std::string& /*x*/) const {
    GQ_FAIL("layer {} ({}) has no ONNX form yet: it cannot be exported (models/layer.h, "
            "add_to_graph)", name, kind());
  }

  // Grad Queue's per-cluster gradients (docs/GRADQUEUE.md §5.3). A layer with parameters provides
  // them by overriding both; Grad Queue names a layer that does not at start-up and puts its batch
  // gradient in every cluster's row.
  // Builds, once, what per_cluster_grads needs for k clusters (plans, scratch); returns its device
  // bytes for the memory plan, or nullopt: no per-cluster gradient.
  virtual std::optional<std::size_t> prepare_per_cluster(int /*k*/) { return std::nullopt; }
  // Called right after this layer's backward with its input x and the gradient dy of the
  // batch-mean loss w.r.t. its output. Writes this layer's columns of rows (k x P, each row laid
  // out like the registry's flat vector): row c = g_c, the mean over cluster c's samples of the
  // gradient of each sample's own loss.
  virtual void per_cluster_grads(const float* /*x*/, const float* /*dy*/,
                                 const kernels::Clustering& /*clusters*/, MatrixView /*rows*/,
                                 stream_t /*stream*/) {}
  // True when per_cluster_grads writes the layer's batch gradient in every row (the normalisation
  // layers) rather than per-cluster means: data-parallel Grad Queue sums such rows over the ranks
  // as they are, and rescales true per-cluster rows by each rank's share of the cluster. A layer
  // with true per-cluster rows must honour ctx.param_grads == false in backward: Grad Queue then
  // skips the batch gradient it would not use.
  virtual bool per_cluster_rows_are_batch_gradient() const { return false; }

 private:
  Precision precision_ = Precision::fp32;
};

}  // namespace gq::models
