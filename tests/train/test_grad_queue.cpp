// GradQueue over layers it knows nothing about: a layer with parameters and no per-cluster
// gradient is named, and its batch gradient fills its columns of every cluster's row; the other
// layers' per-cluster rows (Linear here, strided into the k x P matrix) still sum to the batch
// gradient, which their backward no longer computes under Grad Queue.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "models/linear.h"
#include "models/sequential.h"
#include "tests/test_util.h"
#include "runtime/train/grad_queue.h"

namespace gq::train {
namespace {

// An identity layer with a parameter whose gradient is a constant: a stand-in for a user's layer.
class Passthrough : public models::Layer {
 public:
  static constexpr float kGrad = 0.25f;
  std::string kind() const override { return "passthrough"; }
  Shape setup(const std::string& name, const Shape& in, int batch,
              models::ParamRegistry& params) override {
    params_ = &params;
    id_ = params.add(name + ".weight", in, false, models::Init::ones);
    bytes_ = static_cast<std::size_t>(in.numel()) * batch * sizeof(float);
    return in;
  }
  void forward(const models::Context& ctx, const float* x, float* y) override {
    copy_on_device(y, x, bytes_, ctx.stream);
  }
  void backward(const models::Context& ctx, const float*, const float*, const float* dy,
                float* dx) override {
    if (dx) copy_on_device(dx, dy, bytes_, ctx.stream);
    kernels::fill(params_->grad(id_), params_->info(id_).numel(), kGrad, ctx.stream);
  }
  bool has_params() const override { return true; }
  models::ParamRegistry::Id id() const { return id_; }

 private:
  models::ParamRegistry* params_ = nullptr;
  models::ParamRegistry::Id id_ = -1;
  std::size_t bytes_ = 0;
};

TEST(GradQueueLayers, ALayerWithoutPerClusterGradientsIsNamedAndTakesItsBatchGradient) {
  const int b = 24, features = 7, classes = 5;
  models::Sequential model;
  auto passthrough = std::make_unique<Passthrough>();
  const Passthrough& custom = *passthrough;
  model.add("custom", std::move(passthrough));
  model.add("fc", std::make_unique<models::Linear>(classes));
  model.setup(Shape{features}, b);
  model.initialize(1);

  GradQueueConfig cfg;
  cfg.clusters = 3;
  cfg.qmin = 1;
  cfg.scarcity.family = kernels::ScarcityFamily::none;  // G* = gbar, the sum of the rows
  cfg.scarcity.renorm = false;
  GradQueue gq(cfg, model, 11);
  EXPECT_EQ(gq.fallback_layers(), std::vector<std::string>{"custom"});

  const auto x = test::to_device(test::random_vector(std::size_t(b) * features, 1));
  const auto dout = test::to_device(test::random_vector(std::size_t(b) * classes, 2, -0.1f, 0.1f));
  const float loss = 1.0f;
  const DeviceBuffer<float> step_loss(std::span<const float>(&loss, 1));
  models::ParamRegistry& reg = model.params();
  const float poison = std::numeric_limits<float>::quiet_NaN();
  kernels::fill(reg.grads(), reg.size(), poison);
  models::Context ctx;
  model.forward(ctx, x.data());
  gq.cluster(x.data(), 0, nullptr);
  model.backward(ctx, dout.data(), gq.hook(nullptr));
  const float* gstar = gq.combine_and_push(step_loss.data(), nullptr);
  std::vector<float> got(reg.size()), skipped(reg.size()), batch(reg.size());
  copy_to_host(got.data(), gstar, got.size() * sizeof(float));
  copy_to_host(skipped.data(), reg.grads(), skipped.size() * sizeof(float));
  model.backward(ctx, dout.data());  // the batch gradient, for reference
  copy_to_host(batch.data(), reg.grads(), batch.size() * sizeof(float));
  for (int id = 0; id < static_cast<int>(reg.infos().size()); ++id) {
    const models::ParamInfo& info = reg.info(id);
    const std::span<const float> g(got.data() + info.offset, info.numel());
    const std::span<const float> want(batch.data() + info.offset, info.numel());
    const std::span<const float> left(skipped.data() + info.offset, info.numel());
    if (id == custom.id()) {
      for (float v : g) EXPECT_FLOAT_EQ(v, Passthrough::kGrad) << info.name;
      for (float v : left) EXPECT_FLOAT_EQ(v, Passthrough::kGrad) << info.name << ": written";
    } else {  // Linear: its per-cluster rows replace the batch gradient it would have written
      for (float v : left) EXPECT_TRUE(std::isnan(v)) << info.name << ": not skipped";
    }
    EXPECT_TRUE(test::all_close(g, want, 1e-6, 1e-5)) << info.name;
  }
}

}  // namespace
}  // namespace gq::train
