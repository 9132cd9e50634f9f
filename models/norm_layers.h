// Normalisation layers: BatchNorm2d (batch statistics in training, running statistics in eval)
// and GroupNorm (per-sample statistics: no coupling between samples, so per-sample gradients are
// the gradients of each sample's own loss).
#pragma once

#include "models/layer.h"
#include "runtime/memory.h"

namespace gq::models {

// What both share: a per-channel scale gamma (ones) and shift beta (zeros), not decayed, and
// Grad Queue's fallback for them (no per-cluster kernel: their batch gradient in every cluster).
class AffineNorm : public Layer {
 public:
  bool has_params() const override { return true; }
  std::optional<std::size_t> prepare_per_cluster(int) override { return 0; }
  bool per_cluster_rows_are_batch_gradient() const override { return true; }
  void per_cluster_grads(const float*, const float*, const kernels::Clustering&, MatrixView rows,
                         stream_t stream) override {
    params_->grad_in_every_row(gamma_, rows, stream);
    params_->grad_in_every_row(beta_, rows, stream);
  }

 protected:
  // Registers "<name>.weight" (gamma) and "<name>.bias" (beta) of `channels` values each; a
  // frozen gamma stays at 1 (ParamRegistry::add_frozen).
  void add_affine(const std::string& name, std::int64_t channels, ParamRegistry& params,
                  bool frozen_gamma = false) {
    params_ = &params;
    gamma_ = frozen_gamma ? params.add_frozen(name + ".weight", Shape{channels}, Init::ones)
                          : params.add(name + ".weight", Shape{channels}, false, Init::ones);
    beta_ = params.add(name + ".bias", Shape{channels}, false, Init::zeros);
    params.mark_normalization(gamma_);
    params.mark_normalization(beta_);
  }
  // The registry names of gamma and beta (graph inputs).
  const std::string& gamma_name() const { return params_->info(gamma_).name; }
  const std::string& beta_name() const { return params_->info(beta_).name; }
  ParamRegistry* params_ = nullptr;
  ParamRegistry::Id gamma_ = -1, beta_ = -1;
};

// momentum follows PyTorch: running = (1 - momentum) * running + momentum * batch statistic
// (airbench94's "decay 0.6" is momentum 0.4). Scale::frozen_at_one is airbench94's BatchNorm
// (weight=False): gamma is a frozen tensor fixed at 1, and its gradient is never written.
class BatchNorm2d : public AffineNorm {
 public:
  enum class Scale { trained, frozen_at_one };
  explicit BatchNorm2d(float momentum = 0.1f, float eps = 1e-5f, Scale scale = Scale::trained)
      : momentum_(momentum), eps_(eps), scale_(scale) {}
  std::string kind() const override { return "batchnorm2d"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  bool stores_bf16() const override { return true; }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override;
  void backward_bf16(const Context& ctx, const bf16* x, const bf16* y, const bf16* dy,
                     bf16* dx) override;
  MemoryUse memory_use() const override {
    return {saved_.bytes() + unused_dgamma_.bytes(), 0};  // running_: model state
  }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;
  std::vector<StateTensor> state_tensors() override {
    return {{"running_mean", running_.data(), running_.size() / 2},
            {"running_var", running_.data() + running_.size() / 2, running_.size() / 2}};
  }

 private:
  float momentum_, eps_;
  Scale scale_;
  int n_ = 0, c_ = 0, hw_ = 0;
  DeviceBuffer<float> saved_;          // mean, invstd
  DeviceBuffer<float> running_;        // running mean, running var
  DeviceBuffer<float> unused_dgamma_;  // frozen scale: where the kernel's dgamma goes

  // The passes over activations stored as T (float or bf16).
  template <class T>
  void forward_as(const Context& ctx, const T* x, T* y);
  template <class T>
  void backward_as(const Context& ctx, const T* x, const T* dy, T* dx);
};

class GroupNorm : public AffineNorm {
 public:
  explicit GroupNorm(int groups, float eps = 1e-5f) : groups_(groups), eps_(eps) {}
  std::string kind() const override { return "groupnorm"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  bool stores_bf16() const override { return true; }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override;
  void backward_bf16(const Context& ctx, const bf16* x, const bf16* y, const bf16* dy,
                     bf16* dx) override;
  MemoryUse memory_use() const override { return {saved_.bytes(), 0}; }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;

 private:
  int groups_;
  float eps_;
  int n_ = 0, c_ = 0, hw_ = 0;
  DeviceBuffer<float> saved_;  // mean, invstd per (sample, group)

  template <class T>
  void forward_as(const Context& ctx, const T* x, T* y);
  template <class T>
  void backward_as(const Context& ctx, const T* x, const T* dy, T* dx);
};

}  // namespace gq::models
