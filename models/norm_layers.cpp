#include "models/norm_layers.h"

#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "runtime/error.h"

namespace gq::models {

Shape BatchNorm2d::setup(const std::string& name, const Shape& in, int batch,
                         ParamRegistry& params) {
  GQ_CHECK(in.rank == 3, "{}: batchnorm2d needs a [C, H, W] input, got {}", name, in.str());
  n_ = batch;
  c_ = static_cast<int>(in[0]);
  hw_ = static_cast<int>(in[1] * in[2]);
  add_affine(name, c_, params, scale_ == Scale::frozen_at_one);
  if (scale_ == Scale::frozen_at_one) unused_dgamma_ = DeviceBuffer<float>(c_);
  saved_ = DeviceBuffer<float>(2 * static_cast<std::size_t>(c_));
  running_ = DeviceBuffer<float>(2 * static_cast<std::size_t>(c_));
  kernels::fill(running_.data(), c_, 0.0f);
  kernels::fill(running_.data() + c_, c_, 1.0f);
  return in;
}

void BatchNorm2d::forward(const Context& ctx, const float* x, float* y) {
  forward_as(ctx, x, y);
}
void BatchNorm2d::forward_bf16(const Context& ctx, const bf16* x, bf16* y) {
  forward_as(ctx, x, y);
}
void BatchNorm2d::backward(const Context& ctx, const float* x, const float*, const float* dy,
                           float* dx) {
  backward_as(ctx, x, dy, dx);
}
void BatchNorm2d::backward_bf16(const Context& ctx, const bf16* x, const bf16*, const bf16* dy,
                                bf16* dx) {
  backward_as(ctx, x, dy, dx);
}

template <class T>
void BatchNorm2d::forward_as(const Context& ctx, const T* x, T* y) {
  const float* gamma = params_->value(gamma_);
  const float* beta = params_->value(beta_);
  if (ctx.training)
    kernels::batchnorm2d_forward_train(n_, c_, hw_, x, gamma, beta, y, saved_.data(),
                                       saved_.data() + c_, running_.data(), running_.data() + c_,
                                       momentum_, eps_, ctx.stream);
  else
    kernels::batchnorm2d_forward_eval(n_, c_, hw_, x, gamma, beta, running_.data(),
                                      running_.data() + c_, eps_, y, ctx.stream);
}

template <class T>
void BatchNorm2d::backward_as(const Context& ctx, const T* x, const T* dy, T* dx) {
  GQ_CHECK(dx, "batchnorm2d as the first layer is not supported (its backward writes dx)");
  // A frozen scale's gradient stays 0 in the registry: an optimizer stepping every tensor
  // leaves it at 1, and Grad Queue's rows get zeros for it.
  float* dgamma = scale_ == Scale::frozen_at_one ? unused_dgamma_.data() : params_->grad(gamma_);
  kernels::batchnorm2d_backward(n_, c_, hw_, x, dy, params_->value(gamma_), saved_.data(),
                                saved_.data() + c_, dx, dgamma, params_->grad(beta_), false,
                                ctx.stream);
}

Shape GroupNorm::setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) {
  GQ_CHECK(in.rank == 3, "{}: groupnorm needs a [C, H, W] input, got {}", name, in.str());
  n_ = batch;
  c_ = static_cast<int>(in[0]);
  hw_ = static_cast<int>(in[1] * in[2]);
  GQ_CHECK(groups_ > 0 && c_ % groups_ == 0, "{}: {} channels do not split into {} groups", name,
           c_, groups_);
  add_affine(name, c_, params);
  saved_ = DeviceBuffer<float>(2 * static_cast<std::size_t>(n_) * groups_);
  return in;
}

void GroupNorm::forward(const Context& ctx, const float* x, float* y) {
  forward_as(ctx, x, y);
}
void GroupNorm::forward_bf16(const Context& ctx, const bf16* x, bf16* y) {
  forward_as(ctx, x, y);
}
void GroupNorm::backward(const Context& ctx, const float* x, const float*, const float* dy,
                         float* dx) {
  backward_as(ctx, x, dy, dx);
}
void GroupNorm::backward_bf16(const Context& ctx, const bf16* x, const bf16*, const bf16* dy,
                              bf16* dx) {
  backward_as(ctx, x, dy, dx);
}

template <class T>
void GroupNorm::forward_as(const Context& ctx, const T* x, T* y) {
  kernels::groupnorm_forward(n_, c_, hw_, groups_, x, params_->value(gamma_), params_->value(beta_),
                             eps_, y, saved_.data(),
                             saved_.data() + static_cast<std::size_t>(n_) * groups_, ctx.stream);
}

template <class T>
void GroupNorm::backward_as(const Context& ctx, const T* x, const T* dy, T* dx) {
  GQ_CHECK(dx, "groupnorm as the first layer is not supported (its backward writes dx)");
  kernels::groupnorm_backward(n_, c_, hw_, groups_, x, dy, params_->value(gamma_), saved_.data(),
                              saved_.data() + static_cast<std::size_t>(n_) * groups_, dx,
                              params_->grad(gamma_), params_->grad(beta_), false, ctx.stream);
}

// In evaluation mode: the running statistics (ONNX's BatchNormalization, inference form).
std::string BatchNorm2d::add_to_graph(InferenceGraph& g, const std::string& name,
                                      const std::string& x) const {
  return g.add(name, "BatchNormalization",
               {x, gamma_name(), beta_name(), name + ".running_mean", name + ".running_var"},
               {{"epsilon", eps_}});
}

// Opset 17 has no GroupNormalization: each sample's groups as the channels of an
// InstanceNormalization ([N, G, C/G * H * W], unit scale, no shift), then the per-channel affine.
std::string GroupNorm::add_to_graph(InferenceGraph& g, const std::string& name,
                                    const std::string& x) const {
  const std::vector<float> ones(groups_, 1.0f), zeros(groups_, 0.0f);
  const std::string grouped = g.add(name, "Reshape", {x, g.shape_constant(name, {0, groups_, -1})});
  const std::string normalised =
      g.add(name, "InstanceNormalization",
            {grouped, g.constant(name, {groups_}, ones), g.constant(name, {groups_}, zeros)},
            {{"epsilon", eps_}});
  const std::string y = g.add(name, "Reshape", {normalised, g.add(name, "Shape", {x})});
  const std::string per_channel = g.shape_constant(name, {c_, 1, 1});
  const std::string gamma = g.add(name, "Reshape", {gamma_name(), per_channel});
  const std::string beta = g.add(name, "Reshape", {beta_name(), per_channel});
  return g.add(name, "Add", {g.add(name, "Mul", {y, gamma}), beta});
}

}  // namespace gq::models
