// A Grad Queue step's device operations (kernel launches, copies, memsets; runtime/
// launch_counters.h) must not grow with the number of clusters k: every phase handles all
// clusters in one launch (docs/PERF.md "Launches per step"). The model is a small paper-cnn
// (conv without bias -> GroupNorm -> ReLU -> global average pool -> linear with bias), so every
// per-cluster path of a training step runs: a conv's and a linear's per-cluster weight gradients,
// a linear's bias, and a GroupNorm's batch gradient copied into every cluster's row.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "models/conv2d.h"
#include "models/linear.h"
#include "models/norm_layers.h"
#include "models/sequential.h"
#include "models/simple_layers.h"
#include "runtime/launch_counters.h"
#include "runtime/train/grad_queue.h"
#include "tests/test_util.h"

namespace gq::train {
namespace {

constexpr int kBatch = 40, kClasses = 5;
// Grad Queue may add at most this many device operations to the plain step at any k (issue 12).
constexpr std::uint64_t kMaxExtraOps = 40;

std::unique_ptr<models::Sequential> small_cnn() {
  auto m = std::make_unique<models::Sequential>();
  m->add("conv", std::make_unique<models::Conv2d>(8, 3, 1, 1, false));
  m->add("norm", std::make_unique<models::GroupNorm>(4));
  m->add("relu", std::make_unique<models::ActivationLayer>(kernels::Activation::relu));
  m->add("pool", std::make_unique<models::GlobalAvgPool>());
  m->add("fc", std::make_unique<models::Linear>(kClasses));
  m->setup(Shape{3, 6, 6}, kBatch);
  m->initialize(1);
  return m;
}

struct StepOps {
  LaunchCounters ops;
  std::vector<float> gstar;
};

// Device operations of forward + backward (+ Grad Queue's clustering, per-cluster rows, combine
// and push when k > 0), counted on the second step (the first may set things up).
StepOps count_step(int k, int kmeans_iters = 10) {
  auto model = small_cnn();
  std::unique_ptr<GradQueue> gq;
  if (k > 0) {
    GradQueueConfig cfg;
    cfg.clusters = k;
    cfg.qmin = 1;
    cfg.kmeans_iters = kmeans_iters;
    cfg.features = "input";  // distinct points, so k-means can fill up to b clusters
    gq = std::make_unique<GradQueue>(cfg, *model, 5);
  }
  const auto x = test::to_device(test::random_vector(std::size_t(kBatch) * 3 * 6 * 6, 1));
  const auto dout =
      test::to_device(test::random_vector(std::size_t(kBatch) * kClasses, 2, -0.1f, 0.1f));
  const float loss = 1.0f;
  const DeviceBuffer<float> step_loss(std::span<const float>(&loss, 1));
  StepOps out;
  for (int step = 0; step < 2; ++step) {
    const LaunchCounters before = launch_counters();
    models::Context ctx{nullptr, true, 1, static_cast<std::uint64_t>(step)};
    model->forward(ctx, x.data());
    if (gq) gq->cluster(x.data(), static_cast<std::uint64_t>(step), nullptr);
    model->backward(ctx, dout.data(), gq ? gq->hook(nullptr) : models::Sequential::BackwardHook{});
    const float* g = gq ? gq->combine_and_push(step_loss.data(), nullptr) : nullptr;
    out.ops = launch_counters() - before;
    if (g) {
      out.gstar.resize(model->params().size());
      copy_to_host(out.gstar.data(), g, out.gstar.size() * sizeof(float));
    }
  }
  return out;
}

TEST(GradQueueLaunches, CountersSeeLaunchesCopiesAndMemsets) {
  const LaunchCounters before = launch_counters();
  DeviceBuffer<float> a(17), b(17);
  a.fill_bytes(0);
  copy_on_device(b.data(), a.data(), a.bytes());
  copy_on_device(b.data(), a.data(), 0);  // nothing to do: not counted
  const LaunchCounters d = launch_counters() - before;
  EXPECT_EQ(d.memsets, 1u);
  EXPECT_EQ(d.copies, 1u);
  EXPECT_EQ(d.launches, 0u);
  EXPECT_EQ(d.total(), 2u);
}

TEST(GradQueueLaunches, AStepCostsTheSameDeviceOperationsAtAnyK) {
  const StepOps plain = count_step(0);
  ASSERT_GT(plain.ops.launches, 0u);
  // k = 1 needs no k-means: within plain + 40.
  const StepOps one = count_step(1);
  EXPECT_LE(one.ops.total(), plain.ops.total() + kMaxExtraOps)
      << "k = 1: " << one.ops.launches << " launches, " << one.ops.copies << " copies, "
      << one.ops.memsets << " memsets; plain: " << plain.ops.total();
  // From k = 2 on: exactly the k = 1 step plus k-means, the features' normalisation and one
  // cooperative launch whatever the iteration cap (kernels/kmeans.cu), so within plain + 40 too.
  for (int iters : {10, 0}) {
    const std::uint64_t kmeans_ops = 1 + 1;
    std::printf("device ops per step: plain %llu, k = 1: %llu, k >= 2: %llu (%d iterations)\n",
                static_cast<unsigned long long>(plain.ops.total()),
                static_cast<unsigned long long>(one.ops.total()),
                static_cast<unsigned long long>(one.ops.total() + kmeans_ops), iters);
    for (int k : {2, 3, 4, 7, 16, 32, kBatch}) {
      const StepOps got = count_step(k, iters);
      SCOPED_TRACE("k = " + std::to_string(k) + ", " + std::to_string(iters) + " Lloyd iterations");
      EXPECT_EQ(got.ops.launches, one.ops.launches + kmeans_ops);
      EXPECT_LE(got.ops.total(), plain.ops.total() + kMaxExtraOps);
      EXPECT_EQ(got.ops.copies, one.ops.copies);
      EXPECT_EQ(got.ops.memsets, one.ops.memsets);
      for (float v : got.gstar) ASSERT_TRUE(std::isfinite(v));
    }
  }
}

}  // namespace
}  // namespace gq::train
