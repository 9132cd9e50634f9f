#include "models/sequential.h"

#include <algorithm>

#include <fmt/format.h>

#include "runtime/error.h"
#include "runtime/nvtx.h"

namespace gq::models {

void Sequential::add(std::string name, std::unique_ptr<Layer> layer) {
  GQ_CHECK(batch_ == 0, "layer '{}' added after setup", name);
  names_.push_back(std::move(name));
  layers_.push_back(std::move(layer));
}

void Sequential::setup(const Shape& input, int batch, Precision precision, Precision storage) {
  GQ_CHECK(!layers_.empty(), "a model needs at least one layer");
  GQ_CHECK(batch > 0, "batch size must be positive, got {}", batch);
  input_ = input;
  batch_ = batch;
  Shape shape = input;
  std::size_t max_elems = static_cast<std::size_t>(input.numel());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    param_begin_.push_back(static_cast<ParamRegistry::Id>(params_.infos().size()));
    layers_[i]->set_precision(precision);
    shape = layers_[i]->setup(names_[i], shape, batch, params_);
    shapes_.push_back(shape);
    max_elems = std::max(max_elems, static_cast<std::size_t>(shape.numel()));
  }
  param_begin_.push_back(static_cast<ParamRegistry::Id>(params_.infos().size()));
  params_.allocate();
  if (storage == Precision::bf16) {
    allocate_bf16(max_elems);
    return;
  }
  for (const Shape& s : shapes_)
    activations_.emplace_back(static_cast<std::size_t>(s.numel()) * batch);
  grad_a_ = DeviceBuffer<float>(max_elems * batch);
  grad_b_ = DeviceBuffer<float>(max_elems * batch);
}

void Sequential::initialize(std::uint64_t seed, stream_t stream) {
  params_.initialize(seed, stream);
}

const float* Sequential::activation(int i) const {
  GQ_CHECK(!bf16_, "Sequential::activation({}): the model stores its activations in bf16", i);
  return activations_[i].data();
}

const bf16* Sequential::activation_bf16(int i) const {
  GQ_CHECK(bf16_, "Sequential::activation_bf16({}): the model stores its activations in float", i);
  return bf16_->activations[i].data();
}

const float* Sequential::output() const {
  return bf16_ ? bf16_->output.data() : activations_.back().data();
}

const float* Sequential::forward(const Context& ctx, const float* x) {
  GQ_NVTX_FUNCTION();
  last_input_ = x;
  if (bf16_) return forward_bf16(ctx, x);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    NvtxRange range(names_[i]);
    layers_[i]->forward(ctx, i == 0 ? x : activations_[i - 1].data(), activations_[i].data());
  }
  return activations_.back().data();
}

void Sequential::backward(const Context& ctx, const float* dout, const BackwardHook& hook) {
  GQ_NVTX_FUNCTION();
  GQ_CHECK(last_input_, "backward called before forward");
  GQ_CHECK(hook.takes_param_grads.empty() || hook.takes_param_grads.size() == layers_.size(),
           "backward hook: takes_param_grads has {} entries for {} layers",
           hook.takes_param_grads.size(), layers_.size());
  GQ_CHECK(hook.reads_activations.empty() || hook.reads_activations.size() == layers_.size(),
           "backward hook: reads_activations has {} entries for {} layers",
           hook.reads_activations.size(), layers_.size());
  if (bf16_) {
    backward_bf16(ctx, dout, hook);
    return;
  }
  const float* dy = dout;
  for (int i = num_layers() - 1; i >= 0; --i) {
    NvtxRange range(names_[i] + ".backward");
    // Ping-pong: the gradient flowing in never shares a buffer with the one flowing out.
    float* dx = i == 0 ? nullptr : (dy == grad_a_.data() ? grad_b_.data() : grad_a_.data());
    const float* x = i == 0 ? last_input_ : activations_[i - 1].data();
    layers_[i]->backward(layer_context(ctx, hook, i), x, activations_[i].data(), dy, dx);
    if (hook.after_layer && layers_[i]->has_params())
      hook.reads(i) ? hook.after_layer(i, x, dy) : hook.after_layer(i, nullptr, nullptr);
    dy = dx;
  }
}

Context Sequential::layer_context(const Context& ctx, const BackwardHook& hook, int i) {
  Context layer_ctx = ctx;
  layer_ctx.param_grads =
      ctx.param_grads && (hook.takes_param_grads.empty() || !hook.takes_param_grads[i]);
  return layer_ctx;
}

double Sequential::flops_per_sample() const {
  double f = 0;
  for (const auto& l : layers_) f += l->flops_per_sample();
  return f;
}

std::size_t Sequential::activation_bytes() const {
  std::size_t b = 0;
  for (const auto& a : activations_) b += a.bytes();
  if (bf16_) {
    for (const auto& a : bf16_->activations) b += a.bytes();
    b += bf16_->input.bytes() + bf16_->output.bytes();
  }
  return b;
}

std::size_t Sequential::activation_grad_bytes() const {
  return grad_a_.bytes() + grad_b_.bytes() +
         (bf16_ ? bf16_->grad_a.bytes() + bf16_->grad_b.bytes() : 0);
}

std::size_t Sequential::saved_bytes() const {
  std::size_t b = 0;
  for (const auto& l : layers_) b += l->memory_use().saved;
  return b;
}

std::size_t Sequential::workspace_bytes() const {
  std::size_t b = 0;
  for (const auto& l : layers_) b += l->memory_use().workspace;
  return b;
}

std::vector<StateTensor> Sequential::state_tensors() {
  std::vector<StateTensor> out;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (StateTensor t : layers_[i]->state_tensors()) {
      t.name = names_[i] + "." + t.name;
      out.push_back(std::move(t));
    }
  return out;
}

std::string Sequential::summary() const {
  // Parameters per layer: registry entries are named "<layer>.<tensor>".
  std::string s = fmt::format("{:<14} {:<15} {:>16} {:>10} {:>11}\n", "layer", "kind", "output",
                              "params", "MFLOP/img");
  // Trainable parameters only: a frozen tensor (ParamInfo::frozen) is state, not a parameter.
  std::size_t total_params = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    std::size_t p = 0;
    for (const ParamInfo& info : params_.infos())
      if (!info.frozen && info.name.rfind(names_[i] + ".", 0) == 0) p += info.numel();
    total_params += p;
    s += fmt::format("{:<14} {:<15} {:>16} {:>10} {:>11.2f}\n", names_[i], layers_[i]->kind(),
                     shapes_[i].str(), p, layers_[i]->flops_per_sample() / 1e6);
  }
  s += fmt::format("{:<14} {:<15} {:>16} {:>10} {:>11.2f}\n", "total", "", input_.str() + " in",
                   total_params, flops_per_sample() / 1e6);
  return s;
}

LibraryChoices Sequential::library_choices() const {
  LibraryChoices choices;
  for (const auto& layer : layers_) layer->add_library_choices(choices);
  return choices;
}

}  // namespace gq::models
