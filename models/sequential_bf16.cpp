// Sequential with bf16 activation storage (--activations bf16): every layer's output and every
// activation gradient is kept in bf16, half the bytes of float. Arithmetic stays float inside each
// layer. A layer with bf16 passes (Layer::stores_bf16) loads bf16 and rounds once when it stores;
// any other layer runs its float passes on widened copies of its inputs (exact) and its outputs
// are rounded to nearest even: the bits a bf16 pass of it must give, so that a layer's bf16 passes
// change speed and memory, never results. The model's edges stay float: its input is rounded into
// `input`, its last output widened into `output` (the loss reads float logits), and the loss
// gradient rounded before the backward pass. Memory: the bf16 buffers, plus four float buffers as
// large as the largest widened layer's input and output; a backward hook (Grad Queue) reads float
// copies of the x and dy of the layers it names, widened into two of them, grown to fit.
#include <algorithm>

#include "kernels/precision.h"
#include "models/sequential.h"
#include "runtime/nvtx.h"

namespace gq::models {

std::pair<std::size_t, std::size_t> Sequential::widened_extent(const BackwardHook* hook) const {
  const auto count = [&](const Shape& one) {
    return static_cast<std::size_t>(one.numel()) * batch_;
  };
  std::size_t in = 0, out = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const bool hooked = hook && layers_[i]->has_params() && hook->reads(static_cast<int>(i));
    if (layers_[i]->stores_bf16() && !hooked) continue;
    in = std::max(in, count(i == 0 ? input_ : shapes_[i - 1]));
    out = std::max(out, count(shapes_[i]));
  }
  return {in, out};
}

void Sequential::allocate_bf16(std::size_t max_elems) {
  Bf16Storage& s = bf16_.emplace();
  for (const Shape& shape : shapes_)
    s.activations.emplace_back(static_cast<std::size_t>(shape.numel()) * batch_);
  const auto [wide_in, wide_out] = widened_extent(nullptr);
  s.input = DeviceBuffer<bf16>(static_cast<std::size_t>(input_.numel()) * batch_);
  s.grad_a = DeviceBuffer<bf16>(max_elems * batch_);
  s.grad_b = DeviceBuffer<bf16>(max_elems * batch_);
  s.output = DeviceBuffer<float>(s.activations.back().size());
  s.wide_x = DeviceBuffer<float>(wide_in);
  s.wide_dx = DeviceBuffer<float>(wide_in);
  s.wide_y = DeviceBuffer<float>(wide_out);
  s.wide_dy = DeviceBuffer<float>(wide_out);
}

void Sequential::prepare_backward_hook(const BackwardHook& hook) {
  GQ_CHECK(batch_ > 0, "Sequential::prepare_backward_hook before setup");
  if (!bf16_) return;
  const auto [in, out] = widened_extent(&hook);
  if (in > bf16_->wide_x.size()) bf16_->wide_x = DeviceBuffer<float>(in);
  if (out > bf16_->wide_dy.size()) bf16_->wide_dy = DeviceBuffer<float>(out);
}

const float* Sequential::forward_bf16(const Context& ctx, const float* x) {
  Bf16Storage& s = *bf16_;
  kernels::round_to_bf16(x, s.input.data(), s.input.size(), ctx.stream);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    NvtxRange range(names_[i]);
    const DeviceBuffer<bf16>& in = i == 0 ? s.input : s.activations[i - 1];
    DeviceBuffer<bf16>& out = s.activations[i];
    if (layers_[i]->stores_bf16()) {
      layers_[i]->forward_bf16(ctx, in.data(), out.data());
      continue;
    }
    kernels::widen_to_float(in.data(), s.wide_x.data(), in.size(), ctx.stream);
    layers_[i]->forward(ctx, s.wide_x.data(), s.wide_y.data());
    kernels::round_to_bf16(s.wide_y.data(), out.data(), out.size(), ctx.stream);
  }
  kernels::widen_to_float(s.activations.back().data(), s.output.data(), s.output.size(),
                          ctx.stream);
  return s.output.data();
}

// Layer i without bf16 passes: its float backward on widened x, y and dy; dx rounded.
void Sequential::backward_widened(int i, const Context& ctx, const bf16* dy, bf16* dx) {
  Bf16Storage& s = *bf16_;
  const DeviceBuffer<bf16>& x = i == 0 ? s.input : s.activations[i - 1];
  const DeviceBuffer<bf16>& y = s.activations[i];
  kernels::widen_to_float(x.data(), s.wide_x.data(), x.size(), ctx.stream);
  kernels::widen_to_float(y.data(), s.wide_y.data(), y.size(), ctx.stream);
  kernels::widen_to_float(dy, s.wide_dy.data(), y.size(), ctx.stream);
  layers_[i]->backward(ctx, s.wide_x.data(), s.wide_y.data(), s.wide_dy.data(),
                       dx ? s.wide_dx.data() : nullptr);
  if (dx) kernels::round_to_bf16(s.wide_dx.data(), dx, x.size(), ctx.stream);
}

void Sequential::backward_bf16(const Context& ctx, const float* dout, const BackwardHook& hook) {
  Bf16Storage& s = *bf16_;
  bf16* dy = s.grad_a.data();
  kernels::round_to_bf16(dout, dy, s.activations.back().size(), ctx.stream);
  for (int i = num_layers() - 1; i >= 0; --i) {
    NvtxRange range(names_[i] + ".backward");
    // Ping-pong: the gradient flowing in never shares a buffer with the one flowing out.
    bf16* dx = i == 0 ? nullptr : (dy == s.grad_a.data() ? s.grad_b.data() : s.grad_a.data());
    const bf16* x = i == 0 ? s.input.data() : s.activations[i - 1].data();
    const Context layer_ctx = layer_context(ctx, hook, i);
    if (layers_[i]->stores_bf16())
      layers_[i]->backward_bf16(layer_ctx, x, s.activations[i].data(), dy, dx);
    else
      backward_widened(i, layer_ctx, dy, dx);
    if (hook.after_layer && layers_[i]->has_params()) call_hook_bf16(i, ctx, hook, dy);
    dy = dx;
  }
}

// The hook reads float x and dy: a widened layer's own copies, still in wide_x and wide_dy after
// its backward, or for a layer with bf16 passes, copies made now.
void Sequential::call_hook_bf16(int i, const Context& ctx, const BackwardHook& hook,
                                const bf16* dy) {
  if (!hook.reads(i)) {
    hook.after_layer(i, nullptr, nullptr);
    return;
  }
  Bf16Storage& s = *bf16_;
  const DeviceBuffer<bf16>& x = i == 0 ? s.input : s.activations[i - 1];
  const std::size_t dy_size = s.activations[i].size();
  if (layers_[i]->stores_bf16()) {
    GQ_CHECK(x.size() <= s.wide_x.size() && dy_size <= s.wide_dy.size(),
             "a backward hook reads layer '{}' with bf16 storage: call "
             "Sequential::prepare_backward_hook with that hook first",
             names_[i]);
    kernels::widen_to_float(x.data(), s.wide_x.data(), x.size(), ctx.stream);
    kernels::widen_to_float(dy, s.wide_dy.data(), dy_size, ctx.stream);
  }
  hook.after_layer(i, s.wide_x.data(), s.wide_dy.data());
}

std::size_t Sequential::widening_bytes() const {
  if (!bf16_) return 0;
  return bf16_->wide_x.bytes() + bf16_->wide_y.bytes() + bf16_->wide_dy.bytes() +
         bf16_->wide_dx.bytes();
}

std::vector<std::string> Sequential::widened_kinds() const {
  std::vector<std::string> kinds;
  for (const auto& layer : layers_)
    if (!layer->stores_bf16() &&
        std::find(kinds.begin(), kinds.end(), layer->kind()) == kinds.end())
      kinds.push_back(layer->kind());
  return kinds;
}

}  // namespace gq::models
