#include "models/linear.h"

#include "kernels/bias.h"
#include "kernels/elementwise.h"
#include "kernels/matrix_rows.h"
#include "models/per_cluster.h"
#include "runtime/blas.h"
#include "runtime/error.h"

namespace gq::models {

using blas::Op;

Shape Linear::setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) {
  GQ_CHECK(in.rank == 1, "{}: linear needs a flat [F] input (add a flatten layer), got {}", name,
           in.str());
  in_ = static_cast<int>(in[0]);
  batch_ = batch;
  params_ = &params;
  weight_ = params.add(name + ".weight", Shape{out_, in_}, true, Init::uniform_fan_in, in_);
  if (bias_) bias_id_ = params.add(name + ".bias", Shape{out_}, false, Init::uniform_fan_in, in_);
  const float s = output_scale_;
  forward_.emplace(blas::GemmShape{Op::N, Op::T, batch_, out_, in_, in_, in_, out_}, 1.0f, 0.0f,
                   precision());
  grad_weight_.emplace(blas::GemmShape{Op::T, Op::N, out_, in_, batch_, out_, in_, in_}, s, 0.0f,
                       precision());
  grad_input_.emplace(blas::GemmShape{Op::N, Op::N, batch_, in_, out_, out_, in_, in_}, s, 0.0f,
                      precision());
  return Shape{out_};
}

MemoryUse Linear::memory_use() const {
  if (!forward_) return {};
  return {0, forward_->workspace_bytes() + grad_weight_->workspace_bytes() +
                 grad_input_->workspace_bytes()};
}

void Linear::forward(const Context& ctx, const float* x, float* y) {
  forward_->run(x, params_->value(weight_), y, ctx.stream);
  if (bias_) kernels::bias_add(y, params_->value(bias_id_), batch_, out_, 1, ctx.stream);
  if (output_scale_ != 1.0f)
    kernels::scale(y, static_cast<std::size_t>(batch_) * out_, output_scale_, ctx.stream);
}

void Linear::backward(const Context& ctx, const float* x, const float*, const float* dy,
                      float* dx) {
  // dW = s dy^T x, db = s (column sums of dy), dx = s dy W, with s = output_scale (the gemms'
  // alpha: dy itself belongs to the layer above and is not scaled in place).
  const float s = output_scale_;
  if (ctx.param_grads) {
    grad_weight_->run(dy, x, params_->grad(weight_), ctx.stream);
    if (bias_) {
      kernels::bias_grad(dy, params_->grad(bias_id_), batch_, out_, 1, false, ctx.stream);
      if (s != 1.0f) kernels::scale(params_->grad(bias_id_), out_, s, ctx.stream);
    }
  }
  if (dx) grad_input_->run(dy, params_->value(weight_), dx, ctx.stream);
}

std::optional<std::size_t> Linear::prepare_per_cluster(int k) {
  per_cluster_.emplace(batch_, in_, out_, k);
  return per_cluster_->bytes();
}

void Linear::per_cluster_grads(const float* x, const float* dy, const kernels::Clustering& clusters,
                               MatrixView rows, stream_t stream) {
  weight_and_bias_per_cluster(per_cluster_ ? &*per_cluster_ : nullptr, *params_, weight_, bias_id_,
                              batch_, x, dy, clusters, rows, stream);
  if (output_scale_ == 1.0f) return;
  kernels::scale_rows(params_->columns(weight_, rows), output_scale_, stream);
  if (bias_) kernels::scale_rows(params_->columns(bias_id_, rows), output_scale_, stream);
}

// Gemm (x W^T + b), then the output scale as its own multiply, as forward applies it.
std::string Linear::add_to_graph(InferenceGraph& g, const std::string& name,
                                 const std::string& x) const {
  std::vector<std::string> inputs{x, params_->info(weight_).name};
  if (bias_) inputs.push_back(params_->info(bias_id_).name);
  const std::string y = g.add(name, "Gemm", inputs, {{"transB", std::int64_t{1}}});
  if (output_scale_ == 1.0f) return y;
  return g.add(name, "Mul", {y, g.constant(name, {}, {output_scale_})});
}

void Linear::add_library_choices(LibraryChoices& choices) const {
  for (const auto* plan : {&forward_, &grad_weight_, &grad_input_})
    LibraryChoices::add(choices.gemms, {(*plan)->implementation()});
}

}  // namespace gq::models
