// Conv2d layer: dnn::Conv2d (cuDNN / oneDNN) for the convolution, kernels/bias for the bias.
#pragma once

#include <optional>

#include "kernels/per_cluster_grad.h"
#include "models/layer.h"
#include "runtime/dnn.h"

namespace gq::models {

class Conv2d : public Layer {
 public:
  // How the weight starts: PyTorch's default (U(+-1/sqrt(fan_in))), or that followed by the
  // identity on the first input channels (Init::uniform_fan_in_dirac, airbench94's convs).
  enum class WeightInit { fan_in_uniform, dirac };
  Conv2d(int out_channels, int kernel, int stride = 1, int pad = 0, bool bias = true,
         WeightInit init = WeightInit::fan_in_uniform)
      : out_(out_channels), kernel_(kernel), stride_(stride), pad_(pad), bias_(bias), init_(init) {}
  std::string kind() const override { return "conv2d"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  // bf16 storage: the library's bf16 passes where it has them (the CPU) and there is no bias (a
  // separate kernel adding to a rounded output would round twice).
  bool stores_bf16() const override { return !bias_ && plan_->bf16_activations(); }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override;
  void backward_bf16(const Context& ctx, const bf16* x, const bf16* y, const bf16* dy,
                     bf16* dx) override;
  double flops_per_sample() const override;
  MemoryUse memory_use() const override { return {0, plan_ ? plan_->workspace_bytes() : 0}; }
  bool has_params() const override { return true; }
  void add_library_choices(LibraryChoices& choices) const override;
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;
  std::optional<std::size_t> prepare_per_cluster(int k) override;
  void per_cluster_grads(const float* x, const float* dy, const kernels::Clustering& clusters,
                         MatrixView rows, stream_t stream) override;

  ParamRegistry::Id weight_id() const { return weight_; }
  ParamRegistry::Id bias_id() const { return bias_id_; }  // -1 without bias
  const dnn::Conv2dShape& shape() const { return plan_->shape(); }

 private:
  int out_, kernel_, stride_, pad_;
  bool bias_;
  WeightInit init_;
  ParamRegistry* params_ = nullptr;
  ParamRegistry::Id weight_ = -1, bias_id_ = -1;
  std::optional<dnn::Conv2d> plan_;
  std::optional<kernels::Conv2dPerClusterGrad> per_cluster_;
};

}  // namespace gq::models
