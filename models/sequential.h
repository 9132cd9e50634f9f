// A model as a sequence of layers, set up once for a fixed batch size. It owns every activation
// (each layer's output is kept for backward), two ping-pong buffers for activation gradients, and
// the parameter registry. forward/backward allocate nothing.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/layer.h"
#include "models/params.h"
#include "runtime/memory.h"

namespace gq::models {

class Sequential {
 public:
  void add(std::string name, std::unique_ptr<Layer> layer);
  // Sets up every layer for `batch` samples of one-sample shape `input`, its GEMMs and
  // convolutions in `precision`, then allocates the activations and their gradients, stored in
  // `storage` (bf16: models/sequential_bf16.cpp; the model's input, output and output gradient stay
  // float either way).
  void setup(const Shape& input, int batch, Precision precision = Precision::fp32,
             Precision storage = Precision::fp32);
  void initialize(std::uint64_t seed, stream_t stream = nullptr);

  // x: [batch, input...] on the device. Returns the last layer's output.
  const float* forward(const Context& ctx, const float* x);
  // Per-cluster gradients hook into backward without the model knowing about them.
  struct BackwardHook {
    // Called for each layer with parameters right after its backward, with the layer's input x
    // and the gradient dy w.r.t. its output (valid only during the call), or with two nulls for a
    // layer it does not read. Float with either storage: bf16 storage passes exact widenings of
    // what it stores (prepare_backward_hook).
    std::function<void(int layer, const float* x, const float* dy)> after_layer;
    // Per layer, nonzero: after_layer reads x and dy. Empty: it reads every layer's.
    std::vector<char> reads_activations;
    // Per layer, nonzero: after_layer computes this layer's parameter gradients itself, so its
    // backward writes dx only (Context::param_grads). Empty: every layer writes them.
    std::vector<char> takes_param_grads;
    bool reads(int layer) const { return reads_activations.empty() || reads_activations[layer]; }
  };
  // dout: gradient of the loss w.r.t. the output. Writes every parameter gradient the hook does
  // not take.
  void backward(const Context& ctx, const float* dout, const BackwardHook& hook = {});
  // bf16 storage: sizes the float copies of the x and dy that `hook` reads (the memory plan's
  // fp32 widening). Call once after setup, before a backward with this hook. Float storage hands
  // a hook its own buffers: nothing to do.
  void prepare_backward_hook(const BackwardHook& hook);

  int batch() const { return batch_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  Layer& layer(int i) { return *layers_[i]; }
  const std::string& layer_name(int i) const { return names_[i]; }
  const Shape& input_shape() const { return input_; }
  const Shape& output_shape(int i) const { return shapes_[i]; }  // one sample
  const Shape& output_shape() const { return shapes_.back(); }
  Precision storage() const { return bf16_ ? Precision::bf16 : Precision::fp32; }
  // Layer i's output with float storage (bf16 storage keeps none in float) ...
  const float* activation(int i) const;
  // ... and with bf16 storage.
  const bf16* activation_bf16(int i) const;
  const float* output() const;  // the last forward's output, float in either storage
  ParamRegistry& params() { return params_; }
  // The parameter tensors layer i registered: ids [first, second).
  std::pair<ParamRegistry::Id, ParamRegistry::Id> param_ids(int i) const {
    return {param_begin_[i], param_begin_[i + 1]};
  }

  // Per-layer table: name, kind, output shape, parameters, forward MFLOPs per sample.
  std::string summary() const;
  double flops_per_sample() const;  // forward
  // Bytes by class for the memory plan.
  std::size_t activation_bytes() const;
  std::size_t activation_grad_bytes() const;
  // bf16 storage: the float buffers a layer without bf16 passes runs between (0 otherwise).
  std::size_t widening_bytes() const;
  // bf16 storage: the kinds of the layers that run in float between a widening and a rounding.
  std::vector<std::string> widened_kinds() const;
  std::size_t saved_bytes() const;
  std::size_t workspace_bytes() const;
  // What every layer's library plans run on (the start-up line `precision`).
  LibraryChoices library_choices() const;
  // Non-parameter state of all layers, in layer order, named "<layer>.<tensor>" ("bn1.running_mean").
  std::vector<StateTensor> state_tensors();

 private:
  // bf16 storage's buffers (models/sequential_bf16.cpp).
  struct Bf16Storage {
    std::vector<DeviceBuffer<bf16>> activations;           // each layer's output
    DeviceBuffer<bf16> input, grad_a, grad_b;              // the model's input, rounded; gradients
    DeviceBuffer<float> output;                            // the last layer's output, widened
    DeviceBuffer<float> wide_x, wide_y, wide_dy, wide_dx;  // a widened layer's float passes
  };
  // The largest input and output, in elements of the batch, of the layers that run widened and
  // of those `hook` (if any) reads.
  std::pair<std::size_t, std::size_t> widened_extent(const BackwardHook* hook) const;
  void allocate_bf16(std::size_t max_elems);
  const float* forward_bf16(const Context& ctx, const float* x);
  void backward_bf16(const Context& ctx, const float* dout, const BackwardHook& hook);
  void backward_widened(int i, const Context& ctx, const bf16* dy, bf16* dx);
  void call_hook_bf16(int i, const Context& ctx, const BackwardHook& hook, const bf16* dy);
  // The Context of layer i's backward: no parameter gradients where the hook takes them.
  static Context layer_context(const Context& ctx, const BackwardHook& hook, int i);

  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Shape> shapes_;
  std::vector<ParamRegistry::Id> param_begin_;  // per layer, then the total
  std::vector<DeviceBuffer<float>> activations_;  // float storage
  DeviceBuffer<float> grad_a_, grad_b_;
  std::optional<Bf16Storage> bf16_;  // bf16 storage
  ParamRegistry params_;
  Shape input_;
  int batch_ = 0;
  const float* last_input_ = nullptr;
};

}  // namespace gq::models
