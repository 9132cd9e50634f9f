// --cuda-graph (issue 12): the training step captured once and replayed gives exactly the bits of
// direct launches: per-step losses, Grad Queue's diagnostics, and the whole checkpoint (parameters,
// optimizer state, the queue, the loss accumulator), for plain optimizers, a model with dropout and
// Grad Queue with k-means, across an epoch boundary and across a save and resume. Every test also
// checks that graphs were really captured and replayed (a test that passes with graphs silently
// off would show nothing), and that a replayed step issues the device operations of a direct one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "kernels/augment.h"
#include "kernels/dropout.h"
#include "kernels/optim.h"
#include "runtime/graph.h"
#include "runtime/launch_counters.h"
#include "runtime/memory.h"
#include "runtime/train/trainer.h"
#include "tests/temp_dir.h"
#include "tests/train/trainer_steps.h"

namespace gq::train {
namespace {

using gq::test::TempDir;

constexpr int kSteps = 8;  // 5 steps per epoch: the epoch boundary is crossed at step 5

TrainConfig config(const std::string& cuda_graph) {
  TrainConfig cfg = small_mnist_config(32, 2, 160, 64, 3);
  cfg.cuda_graph = cuda_graph;
  return cfg;
}

TrainConfig gq(TrainConfig cfg) {
  cfg.gradqueue = true;
  cfg.gq.clusters = 3;  // k > 1: k-means runs every step
  cfg.gq.qmin = 2;
  return cfg;
}

// What a run shows per step: the mean loss, Grad Queue's diagnostics and the step's device
// operations; and at the end the checkpoint's bytes.
struct Record {
  std::vector<double> values;
  std::vector<std::uint64_t> ops;
  std::string checkpoint;
};

void steps(Trainer& t, int n, Record& r) {
  for (int i = 0; i < n; ++i) {
    const LaunchCounters before = launch_counters();
    t.step();
    // After the loss's readback, which waits for the step: with the emulator's deferred streams a
    // replay's recorded library calls count their launches when they run (emulated_streams.h).
    r.values.push_back(t.take_train_loss());
    r.ops.push_back((launch_counters() - before).total());
    if (GradQueue* q = t.grad_queue()) {
      const GradQueueDiagnostics d = q->diagnostics();
      r.values.insert(r.values.end(),
                      {double(d.qlen), double(d.queue_count), d.mean_delta, d.frac_delta_gt1,
                       d.cos_gstar_gbar, d.norm_gbar, d.noise_scale, double(d.k_effective),
                       double(d.kmeans_iterations), double(d.skipped_steps)});
      r.values.insert(r.values.end(), d.cluster_sizes.begin(), d.cluster_sizes.end());
    }
  }
}

std::string save_bytes(Trainer& t, const std::filesystem::path& path) {
  t.save(path);
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

Record run(const TrainConfig& cfg, int n, const TempDir& dir, const char* name,
           StepGraphUse* use = nullptr) {
  Trainer t(cfg);
  Record r;
  steps(t, n, r);
  r.checkpoint = save_bytes(t, dir / name);
  if (use) *use = t.step_graph_use();
  return r;
}

// Graph runs capture the step once, on their second step, and replay it every step after;
// direct runs never capture.
void expect_graphs(const StepGraphUse& use, int steps_taken) {
  EXPECT_TRUE(use.on) << use.status;
  EXPECT_EQ(use.status.rfind("on", 0), 0u) << use.status;
  EXPECT_EQ(use.captures, 1);
  EXPECT_EQ(use.replays, steps_taken - 1);
  EXPECT_GT(use.nodes, 0u);
}

void expect_same(const Record& graph, const Record& direct, const std::string& what) {
  EXPECT_EQ(graph.values, direct.values) << what;
  EXPECT_EQ(graph.ops, direct.ops) << what << ": a replayed step issues the direct step's work";
  EXPECT_EQ(graph.checkpoint.size(), direct.checkpoint.size()) << what;
  EXPECT_TRUE(graph.checkpoint == direct.checkpoint) << what << ": checkpoints differ";
}

TEST(StepGraph, PlainStepsReplayBitIdenticallyAcrossAnEpoch) {
  const TempDir dir("step_graph_plain");
  // sgd and lars read the learning rate on the device, adamw the step too (bias correction); the
  // mlp has dropout (its masks' stream is the step, read on the device).
  for (const char* opt : {"sgd", "adamw", "lars", "mlp"}) {
    TrainConfig cfg = config("on");
    if (std::string(opt) == "mlp")
      cfg.model = "mlp";
    else
      cfg.optimizer = opt;
    cfg.lr = std::string(opt) == "adamw" ? 1e-3f : std::string(opt) == "lars" ? 2.0f : 0.05f;
    StepGraphUse use, off;
    const Record graph = run(cfg, kSteps, dir, "graph.ckpt", &use);
    cfg.cuda_graph = "off";
    const Record direct = run(cfg, kSteps, dir, "direct.ckpt", &off);
    expect_graphs(use, kSteps);
    EXPECT_FALSE(off.on);
    EXPECT_EQ(off.captures + off.replays, 0);
    EXPECT_EQ(off.status, "off (--cuda-graph off)");
    expect_same(graph, direct, opt);
  }
}

TEST(StepGraph, GradQueueStepsReplayBitIdenticallyAcrossAnEpoch) {
  const TempDir dir("step_graph_gq");
  StepGraphUse use;
  const Record graph = run(gq(config("auto")), kSteps, dir, "graph.ckpt", &use);
  const Record direct = run(gq(config("off")), kSteps, dir, "direct.ckpt");
  expect_graphs(use, kSteps);  // k-means (one cooperative launch) inside the graph
  expect_same(graph, direct, "Grad Queue k = 3");

  // One cluster: no k-means.
  TrainConfig one = gq(config("on"));
  one.gq.clusters = 1;
  const Record graph1 = run(one, kSteps, dir, "graph1.ckpt", &use);
  one.cuda_graph = "off";
  expect_graphs(use, kSteps);
  expect_same(graph1, run(one, kSteps, dir, "direct1.ckpt"), "Grad Queue k = 1");
}

// A run with graphs, stopped mid-epoch and resumed (again with graphs) across the epoch boundary,
// ends with the checkpoint of an uninterrupted run of direct launches.
TEST(StepGraph, ResumedGraphRunEqualsUninterruptedDirectRun) {
  const TempDir dir("step_graph_resume");
  for (const TrainConfig& base : {config("on"), gq(config("on"))}) {
    const std::string what = base.gradqueue ? "Grad Queue" : "plain";
    TrainConfig direct_cfg = base;
    direct_cfg.cuda_graph = "off";
    const Record straight = run(direct_cfg, kSteps, dir, "straight.ckpt");
    {
      Trainer first(base);
      Record r;
      steps(first, 3, r);
      first.save(dir / "mid.ckpt");
      EXPECT_EQ(first.step_graph_use().captures, 1) << what;
    }
    Trainer resumed(base);
    resumed.load(dir / "mid.ckpt");
    Record r;
    steps(resumed, kSteps - 3, r);
    expect_graphs(resumed.step_graph_use(), kSteps - 3);
    EXPECT_TRUE(save_bytes(resumed, dir / "resumed.ckpt") == straight.checkpoint) << what;
    const std::size_t per_step = r.values.size() / (kSteps - 3);
    EXPECT_EQ(r.values, std::vector<double>(straight.values.end() - per_step * (kSteps - 3),
                                            straight.values.end()))
        << what;
  }
}

// Steps past the run's end (which the Trainer allows) grow the learning-rate table and capture
// the graph again, still with the direct steps' bits.
TEST(StepGraph, StepsPastTheEndRecaptureAndKeepTheBits) {
  const TempDir dir("step_graph_past");
  TrainConfig cfg = config("on");
  cfg.epochs = 1;  // 5 steps
  StepGraphUse use;
  const Record graph = run(cfg, 7, dir, "graph.ckpt", &use);
  cfg.cuda_graph = "off";
  expect_same(graph, run(cfg, 7, dir, "direct.ckpt"), "past the end");
  EXPECT_EQ(use.captures, 2);
  EXPECT_EQ(use.replays, 6);
}

TEST(StepGraph, FlagValuesAreChecked) {
  TrainConfig cfg = config("sometimes");
  try {
    Trainer t(cfg);
    FAIL() << "accepted --cuda-graph sometimes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "--cuda-graph: expected one of auto, on, off, found 'sometimes'"),
              std::string::npos)
        << e.what();
  }
}

// The kernels whose per-step argument the step reads on the device: a graph captured once and
// replayed with other values in device memory gives what direct launches with those values as
// host arguments give (the augmentation's crops and flips, dropout's mask, AdamW's update).
TEST(StepGraph, DeviceScalarArgumentsAreReadAtReplay) {
  constexpr int kBatch = 4, kC = 3, kH = 6, kW = 5;
  std::vector<std::uint8_t> images(8 * kC * kH * kW);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<std::uint8_t>(i * 37);
  const std::vector<std::int32_t> indices = {5, 0, 7, 2};
  const float mean[kC] = {0.5f, 0.4f, 0.3f}, sd[kC] = {0.2f, 0.25f, 0.3f};
  DeviceBuffer<std::uint8_t> d_images{std::span<const std::uint8_t>(images)};
  DeviceBuffer<std::int32_t> d_indices{std::span<const std::int32_t>(indices)};
  const std::size_t n = std::size_t{kBatch} * kC * kH * kW;
  DeviceBuffer<float> out(n), dropped(n), param(n), grad(n), m(n), v(n);
  DeviceBuffer<std::uint64_t> step(1);
  DeviceBuffer<float> lr(1);
  std::vector<float> g(n);
  for (std::size_t i = 0; i < n; ++i) g[i] = 0.01f * static_cast<float>(i % 17) - 0.07f;
  grad.upload(g);

  // All three with the given scalars: host values, or device memory.
  const auto work = [&](DeviceScalar<std::uint64_t> s, DeviceScalar<float> rate, stream_t stream) {
    kernels::AugmentParams aug;
    aug.pad = 2;
    aug.flip = true;
    aug.seed = 9;
    aug.step = s.value;
    aug.step_device = s.at;
    kernels::gather_augment(d_images.data(), nullptr, d_indices.data(), kBatch, kC, kH, kW, mean,
                            sd, aug, out.data(), nullptr, stream);
    kernels::dropout_forward(out.data(), dropped.data(), n, 0.5f, 9, s.affine(1 << 16, 5), stream);
    kernels::adamw_step(param.data(), grad.data(), m.data(), v.data(), n, rate, 0.9f, 0.999f, 1e-8f,
                        0.01f, s.affine(1, 1), stream);
  };
  const auto reset = [&] {
    param.upload(std::vector<float>(n, 0.5f));
    m.fill_bytes(0);
    v.fill_bytes(0);
  };
  const auto results = [&] {
    std::vector<float> all = out.to_host(), d = dropped.to_host(), p = param.to_host();
    all.insert(all.end(), d.begin(), d.end());
    all.insert(all.end(), p.begin(), p.end());
    return all;
  };

  Stream stream(Stream::Order::ordered_with_default);  // after the uploads, on a GPU too
  Graph graph;
  graph.capture(stream.get(), [&] {
    work(DeviceScalar<std::uint64_t>::read(step.data()), DeviceScalar<float>::read(lr.data()),
         stream.get());
  });
  std::vector<float> previous;
  for (const std::uint64_t s : {std::uint64_t{3}, std::uint64_t{1000}}) {
    const float rate = s == 3 ? 0.1f : 0.02f;
    reset();
    work(s, rate, nullptr);
    const std::vector<float> direct = results();
    reset();
    step.upload(std::vector<std::uint64_t>{s});
    lr.upload(std::vector<float>{rate});
    graph.replay(stream.get());
    EXPECT_EQ(results(), direct) << "step " << s;
    EXPECT_NE(direct, previous) << "the step changes the results";
    previous = direct;
  }
}

}  // namespace
}  // namespace gq::train
