// airbench94's whitening stem: a p x p convolution (p = 2) whose 2 * c * p * p filters are the
// eigenvectors of the uncentred covariance of the training images' patches, scaled by
// 1 / sqrt(eigenvalue + eps), and their negatives; set once before training and frozen, with a
// trainable bias.
//
// The pieces, each testable alone:
//  - PatchCovariance: C = P^T P / (number of patches) over every p x p patch (stride 1) of the
//    normalised images it is given, in chunks (kernels/patch_covariance.h per image, summed on the
//    host in double in image order: the same C for any chunking);
//  - symmetric_eigen: eigenvalues and eigenvectors of a symmetric matrix in double (cyclic
//    Jacobi), in descending order, each vector's largest-magnitude component positive;
//  - whitening_filters: W = V^T / sqrt(lambda + eps) (rows = eigenvectors, descending), then
//    concat(W, -W) as [2d][c][p][p] (d = c * p * p; a patch flattened channel-major);
//  - Whitening: the layer (conv + bias), whose weight is a frozen tensor set by set_filters.
#pragma once

#include <optional>
#include <vector>

#include "models/layer.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"

namespace gq::models {

class PatchCovariance {
 public:
  // Images of shape [c, h, w], at most max_batch per add().
  PatchCovariance(int max_batch, int c, int h, int w, int patch);
  // x: [n][c][h][w] device floats, n <= max_batch. Synchronises with the stream (reads the sums).
  void add(const float* x, int n, stream_t stream = nullptr);
  // d x d, row-major, divided by the number of patches added; needs one add() first.
  std::vector<double> covariance() const;
  int dim() const { return d_; }
  std::size_t bytes() const { return gram_.bytes(); }

 private:
  int max_batch_, c_, h_, w_, p_, d_;
  DeviceBuffer<float> gram_;
  std::vector<float> host_;
  std::vector<double> sum_;
  double patches_ = 0;
};

struct SymmetricEigen {
  std::vector<double> values;   // descending
  std::vector<double> vectors;  // d x d row-major; row k is the eigenvector of values[k]
};
// a: d x d row-major, symmetric (only what is symmetric is used: (a + a^T) / 2).
SymmetricEigen symmetric_eigen(const std::vector<double>& a, int d);

// [2d][c][p][p] floats from a d x d patch covariance (d = c * p * p).
std::vector<float> whitening_filters(const std::vector<double>& covariance, int c, int p,
                                     double eps = 5e-4);

class Whitening : public Layer {
 public:
  // out = 2 * c * patch * patch channels (the input's c is known at setup; 24 for RGB and p = 2).
  explicit Whitening(int patch = 2) : p_(patch) {}
  std::string kind() const override { return "whitening"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  double flops_per_sample() const override;
  MemoryUse memory_use() const override { return {0, plan_ ? plan_->workspace_bytes() : 0}; }
  bool has_params() const override { return true; }
  void add_library_choices(LibraryChoices& choices) const override;
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;
  // The bias's batch gradient in every cluster's row (the weight's columns: its zero gradient).
  std::optional<std::size_t> prepare_per_cluster(int) override { return 0; }
  bool per_cluster_rows_are_batch_gradient() const override { return true; }
  void per_cluster_grads(const float*, const float*, const kernels::Clustering&, MatrixView rows,
                         stream_t stream) override;

  // filters: whitening_filters(...) for this layer's c and patch. Before training (the values are
  // checkpointed with the other parameters from then on).
  void set_filters(const std::vector<float>& filters, stream_t stream = nullptr);
  ParamRegistry::Id weight_id() const { return weight_; }
  ParamRegistry::Id bias_id() const { return bias_; }
  int patch() const { return p_; }

 private:
  int p_, c_ = 0;
  ParamRegistry* params_ = nullptr;
  ParamRegistry::Id weight_ = -1, bias_ = -1;
  std::optional<dnn::Conv2d> plan_;
};

}  // namespace gq::models
