#include "models/conv2d.h"

#include "kernels/bias.h"
#include "models/per_cluster.h"
#include "runtime/error.h"

namespace gq::models {

Shape Conv2d::setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) {
  GQ_CHECK(in.rank == 3, "{}: conv2d needs a [C, H, W] input, got {}", name, in.str());
  const int c = static_cast<int>(in[0]), h = static_cast<int>(in[1]), w = static_cast<int>(in[2]);
  plan_.emplace(
      dnn::Conv2dShape{batch, c, h, w, out_, kernel_, kernel_, stride_, stride_, pad_, pad_},
      precision());
  params_ = &params;
  weight_ = params.add(name + ".weight", Shape{out_, c, kernel_, kernel_}, true,
                       init_ == WeightInit::dirac ? Init::uniform_fan_in_dirac : Init::uniform_fan_in,
                       static_cast<std::int64_t>(c) * kernel_ * kernel_);
  if (bias_)
    bias_id_ = params.add(name + ".bias", Shape{out_}, false, Init::uniform_fan_in,
                          static_cast<std::int64_t>(c) * kernel_ * kernel_);
  return Shape{out_, plan_->shape().out_h(), plan_->shape().out_w()};
}

void Conv2d::forward(const Context& ctx, const float* x, float* y) {
  plan_->forward(x, params_->value(weight_), y, ctx.stream);
  const auto& s = plan_->shape();
  if (bias_)
    kernels::bias_add(y, params_->value(bias_id_), s.n, s.k, s.out_h() * s.out_w(), ctx.stream);
}

void Conv2d::backward(const Context& ctx, const float* x, const float*, const float* dy,
                      float* dx) {
  const auto& s = plan_->shape();
  if (ctx.param_grads) {
    plan_->backward_filter(x, dy, params_->grad(weight_), false, ctx.stream);
    if (bias_)
      kernels::bias_grad(dy, params_->grad(bias_id_), s.n, s.k, s.out_h() * s.out_w(), false,
                         ctx.stream);
  }
  if (dx) plan_->backward_data(dy, params_->value(weight_), dx, ctx.stream);
}

void Conv2d::forward_bf16(const Context& ctx, const bf16* x, bf16* y) {
  plan_->forward(x, params_->value(weight_), y, ctx.stream);
}

void Conv2d::backward_bf16(const Context& ctx, const bf16* x, const bf16*, const bf16* dy,
                           bf16* dx) {
  if (ctx.param_grads) plan_->backward_filter(x, dy, params_->grad(weight_), false, ctx.stream);
  if (dx) plan_->backward_data(dy, params_->value(weight_), dx, ctx.stream);
}

std::optional<std::size_t> Conv2d::prepare_per_cluster(int k) {
  per_cluster_.emplace(plan_->shape(), k);
  return per_cluster_->bytes();
}

void Conv2d::per_cluster_grads(const float* x, const float* dy, const kernels::Clustering& clusters,
                               MatrixView rows, stream_t stream) {
  weight_and_bias_per_cluster(per_cluster_ ? &*per_cluster_ : nullptr, *params_, weight_, bias_id_,
                              plan_->shape().n, x, dy, clusters, rows, stream);
}

double Conv2d::flops_per_sample() const {
  return plan_->shape().flops_forward() / plan_->shape().n;
}

// ONNX's Conv is this layer's cross-correlation, NCHW, [out, in, k, k] weights.
std::string Conv2d::add_to_graph(InferenceGraph& g, const std::string& name,
                                 const std::string& x) const {
  std::vector<std::string> inputs{x, params_->info(weight_).name};
  if (bias_) inputs.push_back(params_->info(bias_id_).name);
  return g.add(name, "Conv", inputs,
               {{"kernel_shape", std::vector<std::int64_t>{kernel_, kernel_}},
                {"strides", std::vector<std::int64_t>{stride_, stride_}},
                {"pads", std::vector<std::int64_t>{pad_, pad_, pad_, pad_}}});
}

void Conv2d::add_library_choices(LibraryChoices& choices) const {
  LibraryChoices::add(choices.convolutions, plan_->implementation_names());
}

}  // namespace gq::models
