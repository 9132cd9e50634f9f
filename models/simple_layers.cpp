#include "models/simple_layers.h"

#include "kernels/dropout.h"
#include "runtime/error.h"

namespace gq::models {

Shape Pool2d::setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) {
  GQ_CHECK(in.rank == 3, "{}: pooling needs a [C, H, W] input, got {}", name, in.str());
  shape_ = kernels::PoolShape{batch,
                              static_cast<int>(in[0]),
                              static_cast<int>(in[1]),
                              static_cast<int>(in[2]),
                              window_,
                              stride_,
                              pad_};
  GQ_CHECK(shape_.out_h() > 0 && shape_.out_w() > 0,
           "{}: a {}x{} pooling window with stride {} does not fit a {}x{} input", name, window_,
           window_, stride_, in[1], in[2]);
  const Shape out{in[0], shape_.out_h(), shape_.out_w()};
  if (kind_ == PoolKind::max) argmax_ = DeviceBuffer<std::int32_t>(out.numel() * batch);
  return out;
}

void Pool2d::forward(const Context& ctx, const float* x, float* y) {
  if (kind_ == PoolKind::max)
    kernels::maxpool2d_forward(shape_, x, y, argmax_.data(), ctx.stream);
  else
    kernels::avgpool2d_forward(shape_, x, y, ctx.stream);
}

void Pool2d::backward(const Context& ctx, const float*, const float*, const float* dy, float* dx) {
  if (!dx) return;
  if (kind_ == PoolKind::max)
    kernels::maxpool2d_backward(shape_, dy, argmax_.data(), dx, ctx.stream);
  else
    kernels::avgpool2d_backward(shape_, dy, dx, ctx.stream);
}

void Pool2d::forward_bf16(const Context& ctx, const bf16* x, bf16* y) {
  GQ_CHECK(kind_ == PoolKind::max, "avgpool2d has no bf16 pass");
  kernels::maxpool2d_forward(shape_, x, y, argmax_.data(), ctx.stream);
}

void Pool2d::backward_bf16(const Context& ctx, const bf16*, const bf16*, const bf16* dy, bf16* dx) {
  GQ_CHECK(kind_ == PoolKind::max, "avgpool2d has no bf16 pass");
  if (dx) kernels::maxpool2d_backward(shape_, dy, argmax_.data(), dx, ctx.stream);
}

Shape GlobalAvgPool::setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) {
  GQ_CHECK(in.rank == 3, "{}: global pooling needs a [C, H, W] input, got {}", name, in.str());
  n_ = batch;
  c_ = static_cast<int>(in[0]);
  hw_ = static_cast<int>(in[1] * in[2]);
  return Shape{in[0]};
}

Shape Dropout::setup(const std::string& name, const Shape& in, int batch, ParamRegistry&) {
  GQ_CHECK(p_ >= 0.0f && p_ < 1.0f, "{}: dropout probability must be in [0, 1), got {}", name, p_);
  per_sample_ = static_cast<std::size_t>(in.numel());
  n_ = per_sample_ * batch;
  // FNV-1a of the layer name: distinct, stable masks for distinct dropout layers.
  salt_ = 1469598103934665603ull;
  for (unsigned char ch : name) salt_ = (salt_ ^ ch) * 1099511628211ull;
  return in;
}

// The mask's Philox stream: the step in the high bits, this layer's salt in the low ones,
// (step << 16) ^ (salt & 0xffff), written as step * 2^16 + (salt & 0xffff) (the same bits), an
// affine function of the step, so that the step may be read on the device.
static DeviceScalar<std::uint64_t> mask_offset(DeviceScalar<std::uint64_t> step,
                                               std::uint64_t salt) {
  return step.affine(std::uint64_t{1} << 16, salt & 0xffff);
}

void Dropout::forward(const Context& ctx, const float* x, float* y) {
  if (!ctx.training || p_ == 0.0f) {
    copy_on_device(y, x, n_ * sizeof(float), ctx.stream);
    return;
  }
  kernels::dropout_forward(x, y, n_, p_, ctx.seed, mask_offset(ctx.step, salt_), ctx.stream,
                           ctx.first_sample * per_sample_);
}

void Dropout::backward(const Context& ctx, const float*, const float*, const float* dy, float* dx) {
  if (!dx) return;
  if (!ctx.training || p_ == 0.0f) {
    copy_on_device(dx, dy, n_ * sizeof(float), ctx.stream);
    return;
  }
  kernels::dropout_backward(dy, dx, n_, p_, ctx.seed, mask_offset(ctx.step, salt_), ctx.stream,
                            ctx.first_sample * per_sample_);
}

std::string ActivationLayer::add_to_graph(InferenceGraph& g, const std::string& name,
                                          const std::string& x) const {
  if (act_ == kernels::Activation::relu) return g.add(name, "Relu", {x});
  // Opset 17 has no Gelu: the exact (erf) form, x * (1 + erf(x / sqrt 2)) / 2.
  const std::string erf =
      g.add(name, "Erf", {g.add(name, "Mul", {x, g.constant(name, {}, {0.70710678118654752f})})});
  const std::string one_plus = g.add(name, "Add", {erf, g.constant(name, {}, {1.0f})});
  return g.add(name, "Mul", {g.add(name, "Mul", {x, one_plus}), g.constant(name, {}, {0.5f})});
}

// Padding is never a candidate for max and never counted by average (kernels/pool.h).
std::string Pool2d::add_to_graph(InferenceGraph& g, const std::string& name,
                                 const std::string& x) const {
  std::vector<GraphAttribute> attributes{
      {"kernel_shape", std::vector<std::int64_t>{window_, window_}},
      {"strides", std::vector<std::int64_t>{stride_, stride_}},
      {"pads", std::vector<std::int64_t>{pad_, pad_, pad_, pad_}}};
  if (kind_ == PoolKind::avg) attributes.push_back({"count_include_pad", std::int64_t{0}});
  return g.add(name, kind_ == PoolKind::max ? "MaxPool" : "AveragePool", {x}, attributes);
}

}  // namespace gq::models
