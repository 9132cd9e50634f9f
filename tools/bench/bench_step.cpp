// gq-bench: the whole training step, plain and with Grad Queue, side by side, on real CIFAR-10
// batches ($GQ_DATA_DIR). Reports images/s per variant and, for Grad Queue, the ratio of its step
// time to the plain step's (`x_plain`). Model, batch size and k follow DESIGN's targets:
//   GQ_BENCH_MODEL (paper-cnn), GQ_BENCH_BATCH (512), GQ_BENCH_K (4).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "runtime/stream.h"
#include "tools/train/trainer.h"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

gq::train::TrainConfig config(bool gradqueue) {
  gq::train::TrainConfig cfg;
  cfg.model = env_or("GQ_BENCH_MODEL", "paper-cnn");
  cfg.dataset = "cifar10";
  cfg.batch_size = std::stoi(env_or("GQ_BENCH_BATCH", "512"));
  cfg.train_subset = cfg.batch_size * 8;
  cfg.test_subset = cfg.batch_size;
  cfg.lr = 0.01f;
  cfg.epochs = 100;
  cfg.quiet = true;
  cfg.gradqueue = gradqueue;
  cfg.gq.clusters = std::stoi(env_or("GQ_BENCH_K", "4"));
  return cfg;
}

std::map<bool, double> seconds_per_step;  // plain / Grad Queue, for the ratio

void BM_TrainStep(benchmark::State& state) {
  const bool gradqueue = state.range(0) != 0;
  gq::train::Trainer trainer(config(gradqueue));
  for (int i = 0; i < 3; ++i) trainer.step();  // warm-up: library plans, caches, queue filling
  gq::device_synchronize();
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    trainer.step();
    gq::device_synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    total += s;
  }
  const double per_step = total / static_cast<double>(state.iterations());
  seconds_per_step[gradqueue] = per_step;
  state.counters["images_per_s"] =
      trainer.train_set().n > 0 ? config(gradqueue).batch_size / per_step : 0;
  if (gradqueue && seconds_per_step.count(false))
    state.counters["x_plain"] = per_step / seconds_per_step[false];
  state.SetLabel(gradqueue ? "gradqueue k=" + env_or("GQ_BENCH_K", "4") : "plain");
}
BENCHMARK(BM_TrainStep)
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
