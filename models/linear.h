// Linear layer, y = x W^T + b with W stored [out, in] (PyTorch's layout), on three GEMMs planned
// at setup in the layer's precision (runtime/gemm_plan.h: fp32 is exactly blas::gemm).
#pragma once

#include <optional>

#include "kernels/per_cluster_grad.h"
#include "models/layer.h"
#include "runtime/gemm_plan.h"

namespace gq::models {

class Linear : public Layer {
 public:
  // output_scale: y = (x W^T + b) * output_scale, the scale applied to the logits as its own
  // float multiply (airbench94's head: Mul(1/9) after a bias-free linear); 1 is the plain layer.
  explicit Linear(int out_features, bool bias = true, float output_scale = 1.0f)
      : out_(out_features), bias_(bias), output_scale_(output_scale) {}
  std::string kind() const override { return "linear"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  double flops_per_sample() const override { return 2.0 * in_ * out_; }
  MemoryUse memory_use() const override;
  bool has_params() const override { return true; }
  void add_library_choices(LibraryChoices& choices) const override;
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;
  std::optional<std::size_t> prepare_per_cluster(int k) override;
  void per_cluster_grads(const float* x, const float* dy, const kernels::Clustering& clusters,
                         MatrixView rows, stream_t stream) override;

  ParamRegistry::Id weight_id() const { return weight_; }
  ParamRegistry::Id bias_id() const { return bias_id_; }  // -1 without bias
  int in_features() const { return in_; }
  int out_features() const { return out_; }

 private:
  int out_, in_ = 0, batch_ = 0;
  bool bias_;
  float output_scale_;
  ParamRegistry* params_ = nullptr;
  ParamRegistry::Id weight_ = -1, bias_id_ = -1;
  std::optional<kernels::LinearPerClusterGrad> per_cluster_;
  // y = x W^T, dW = s dy^T x, dx = s dy W (s = output_scale_).
  std::optional<blas::GemmPlan> forward_, grad_weight_, grad_input_;
};

}  // namespace gq::models
