// Parameter-free layers: activations, pooling, flatten, dropout.
#pragma once

#include "kernels/activation.h"
#include "kernels/pool.h"
#include "models/layer.h"
#include "runtime/memory.h"

namespace gq::models {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(kernels::Activation act) : act_(act) {}
  std::string kind() const override { return act_ == kernels::Activation::relu ? "relu" : "gelu"; }
  Shape setup(const std::string&, const Shape& in, int batch, ParamRegistry&) override {
    n_ = static_cast<std::size_t>(in.numel()) * batch;
    return in;
  }
  void forward(const Context& ctx, const float* x, float* y) override {
    kernels::activation_forward(act_, x, y, n_, ctx.stream);
  }
  void backward(const Context& ctx, const float* x, const float*, const float* dy,
                float* dx) override {
    if (dx) kernels::activation_backward(act_, x, dy, dx, n_, ctx.stream);
  }
  bool stores_bf16() const override { return true; }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override {
    kernels::activation_forward(act_, x, y, n_, ctx.stream);
  }
  void backward_bf16(const Context& ctx, const bf16* x, const bf16*, const bf16* dy,
                     bf16* dx) override {
    if (dx) kernels::activation_backward(act_, x, dy, dx, n_, ctx.stream);
  }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;

 private:
  kernels::Activation act_;
  std::size_t n_ = 0;
};

enum class PoolKind { max, avg };

class Pool2d : public Layer {
 public:
  Pool2d(PoolKind kind, int window, int stride, int pad = 0)
      : kind_(kind), window_(window), stride_(stride), pad_(pad) {}
  std::string kind() const override { return kind_ == PoolKind::max ? "maxpool2d" : "avgpool2d"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  bool stores_bf16() const override { return kind_ == PoolKind::max; }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override;
  void backward_bf16(const Context& ctx, const bf16* x, const bf16* y, const bf16* dy,
                     bf16* dx) override;
  MemoryUse memory_use() const override { return {argmax_.bytes(), 0}; }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override;

 private:
  PoolKind kind_;
  int window_, stride_, pad_;
  kernels::PoolShape shape_{};
  DeviceBuffer<std::int32_t> argmax_;
};

class GlobalAvgPool : public Layer {
 public:
  std::string kind() const override { return "global_avgpool"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) override;
  void forward(const Context& ctx, const float* x, float* y) override {
    kernels::global_avgpool_forward(n_, c_, hw_, x, y, ctx.stream);
  }
  void backward(const Context& ctx, const float*, const float*, const float* dy,
                float* dx) override {
    if (dx) kernels::global_avgpool_backward(n_, c_, hw_, dy, dx, ctx.stream);
  }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override {
    return g.add(name, "Flatten", {g.add(name, "GlobalAveragePool", {x})}, {{"axis", std::int64_t{1}}});
  }

 private:
  int n_ = 0, c_ = 0, hw_ = 0;
};

// [C, H, W] -> [C*H*W]: the memory layout is already right, so forward and backward are copies.
class Flatten : public Layer {
 public:
  std::string kind() const override { return "flatten"; }
  Shape setup(const std::string&, const Shape& in, int batch, ParamRegistry&) override {
    n_ = static_cast<std::size_t>(in.numel()) * batch;
    return Shape{in.numel()};
  }
  void forward(const Context& ctx, const float* x, float* y) override {
    copy_on_device(y, x, n_ * sizeof(float), ctx.stream);
  }
  void backward(const Context& ctx, const float*, const float*, const float* dy,
                float* dx) override {
    if (dx) copy_on_device(dx, dy, n_ * sizeof(float), ctx.stream);
  }
  bool stores_bf16() const override { return true; }
  void forward_bf16(const Context& ctx, const bf16* x, bf16* y) override {
    copy_on_device(y, x, n_ * sizeof(bf16), ctx.stream);
  }
  void backward_bf16(const Context& ctx, const bf16*, const bf16*, const bf16* dy,
                     bf16* dx) override {
    if (dx) copy_on_device(dx, dy, n_ * sizeof(bf16), ctx.stream);
  }
  std::string add_to_graph(InferenceGraph& g, const std::string& name,
                           const std::string& x) const override {
    return g.add(name, "Flatten", {x}, {{"axis", std::int64_t{1}}});
  }

 private:
  std::size_t n_ = 0;
};

// Inverted dropout; the mask is regenerated from (seed, step, layer index) in backward.
class Dropout : public Layer {
 public:
  explicit Dropout(float p) : p_(p) {}
  std::string kind() const override { return "dropout"; }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) override;
  void forward(const Context& ctx, const float* x, float* y) override;
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override;
  // The identity in evaluation mode.
  std::string add_to_graph(InferenceGraph&, const std::string&,
                           const std::string& x) const override {
    return x;
  }

 private:
  float p_;
  std::size_t n_ = 0, per_sample_ = 0;
  std::uint64_t salt_ = 0;
};

}  // namespace gq::models
