// gq-bench: the whole training step, plain and with Grad Queue, side by side, on real CIFAR-10
// batches ($GQ_DATA_DIR). Reports images/s per variant and, for Grad Queue, the ratio of its step
// time to the plain step's at the same batch size (`x_plain`). Model, batch sizes and k follow
// the targets in docs/PERF.md ("The Grad Queue step"), overridable from the environment:
//   GQ_BENCH_MODEL (paper-cnn), GQ_BENCH_BATCH (512; a comma list such as 512,2048 runs each),
//   GQ_BENCH_K (4; a comma list such as 4,16 runs Grad Queue with each), GQ_BENCH_MIN_TIME (2 s
//   of timed steps per variant), GQ_BENCH_RECIPE (none; airbench94: the recipe's settings, then
//   the model, batch and k above), GQ_BENCH_PRECISION (fp32; fp32,bf16 runs each: --precision;
//   bf16-storage: --precision bf16 --activations bf16). Variants are named
//   BM_TrainStep/batch:B/k:K/bf16:P, k:0 = plain, bf16:1 = --precision bf16, bf16:2 = bf16 storage
//   too, so --benchmark_filter picks them; a bf16 variant reports its step time over fp32's
//   (x_fp32).
// Counters per step (runtime/launch_counters.h), from one untimed step after the warm-up (not the
// first of an epoch, which also shuffles): `launches` (kernel launches), `copies`, `memsets`, and
// `device_ops` (their sum; on a GPU each costs microseconds however little it computes).
// Emulator build: before each variant's line, the time of one step per NVTX range (print_phases).
// Data-parallel cost (docs/PERF.md, "Data-parallel training"): counters sent_MiB_R2 / _R8 are the
// bytes each of R ranks sends per step at this global batch (runtime/comm.h's deterministic sum:
// the loss, then the batch gradient, or Grad Queue's gathered features and k x P cluster rows).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/launch_counters.h"
#include "runtime/nvtx.h"
#include "runtime/comm.h"
#include "runtime/stream.h"
#include "runtime/train/recipes.h"
#include "runtime/train/trainer.h"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// A comma-separated list of positive integers from the environment.
std::vector<int> env_ints(const char* name, const char* fallback) {
  std::vector<int> out;
  std::stringstream list(env_or(name, fallback));
  for (std::string item; std::getline(list, item, ',');) {
    if (item.empty()) continue;
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v <= 0) {
      std::fprintf(stderr, "gq-bench: %s='%s': expected positive integers separated by commas\n",
                   name, env_or(name, fallback).c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

// precision: 0 fp32, 1 bf16 compute, 2 bf16 compute and storage (GQ_BENCH_PRECISION).
gq::train::TrainConfig config(int batch, int k, int precision) {
  gq::train::TrainConfig cfg;
  gq::train::apply_recipe(env_or("GQ_BENCH_RECIPE", "none"), cfg);
  cfg.model = env_or("GQ_BENCH_MODEL", cfg.recipe == "none" ? "paper-cnn" : cfg.model.c_str());
  cfg.precision = precision > 0 ? gq::Precision::bf16 : gq::Precision::fp32;
  cfg.activations = precision == 2 ? gq::Precision::bf16 : gq::Precision::fp32;
  cfg.dataset = "cifar10";
  cfg.batch_size = batch;
  cfg.train_subset = cfg.batch_size * 8;
  cfg.test_subset = cfg.batch_size;
  cfg.lr = 0.01f;
  cfg.epochs = 100;
  cfg.quiet = true;
  cfg.gradqueue = k > 0;
  if (k > 0) cfg.gq.clusters = k;
  return cfg;
}

// Bytes one of `ranks` ranks sends per step (what Trainer::comm_bytes_per_step reports there).
double sent_mib(gq::train::Trainer& t, int batch, int k, int ranks) {
  auto& m = t.model();
  const std::size_t p = m.params().size();
  const std::size_t features = m.output_shape(m.num_layers() - 2).numel();
  std::uint64_t bytes = gq::sum_bytes_sent(1, ranks);
  if (k == 0) {
    bytes += gq::sum_bytes_sent(p, ranks);
  } else {
    if (k > 1) bytes += std::uint64_t{4} * (batch / ranks) * features * (ranks - 1);
    bytes += gq::sum_bytes_sent(p * k, ranks);
  }
  return static_cast<double>(bytes) / 1048576.0;
}

std::map<int, double> plain_seconds_per_step;  // by batch size, for the ratio
std::map<std::pair<int, int>, double> fp32_seconds_per_step;  // by (batch, k), for x_fp32

// Emulator build: where one step's time goes, by NVTX range (runtime/nvtx.h: data, each layer's
// forward and backward, loss, Grad Queue's k-means / per-cluster gradients / combine, optimizer),
// printed before the variant's timing line. The GPU build prints nothing: use Nsight Systems.
// A replayed graph issues its launches without passing through the ranges, so the breakdown is
// taken from a second Trainer that issues its steps directly (after the same warm-up).
void print_phases(int batch, int k, int precision, const std::string& label) {
  static std::set<std::pair<std::string, int>> printed;  // the library may run a variant twice
  if (!printed.insert({label, batch}).second) return;
  gq::train::TrainConfig cfg = config(batch, k, precision);
  cfg.cuda_graph = "off";
  gq::train::Trainer trainer(cfg);
  for (int i = 0; i < 3; ++i) trainer.step();
  gq::device_synchronize();
  gq::clear_range_times();
  gq::set_range_timing(true);
  trainer.step();
  gq::set_range_timing(false);
  const std::vector<gq::RangeTime> times = gq::range_times();
  if (times.empty()) return;
  const double step = times.front().seconds;  // "train_step", the outermost range
  std::printf("one step, %s, batch %d: %.1f ms\n", label.c_str(), batch, 1e3 * step);
  for (const gq::RangeTime& t : times) {
    const auto depth = std::count(t.path.begin(), t.path.end(), '/');
    std::printf("  %*s%-*s %9.2f ms %5.1f%%\n", static_cast<int>(2 * depth), "",
                static_cast<int>(40 - 2 * depth), t.path.substr(t.path.rfind('/') + 1).c_str(),
                1e3 * t.seconds, 100 * t.seconds / step);
  }
  std::fflush(stdout);
}

// range(0) = batch size, range(1) = Grad Queue clusters k (0: the plain step), range(2) = 1 for
// --precision bf16, 2 for bf16 storage too.
void BM_TrainStep(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1));
  const int precision = static_cast<int>(state.range(2));
  const bool bf16 = precision != 0;
  const std::string label = (k > 0 ? "gradqueue k=" + std::to_string(k) : std::string("plain")) +
                            (precision == 2 ? " bf16 storage"
                             : bf16         ? " bf16"
                                            : "");
  gq::train::Trainer trainer(config(batch, k, precision));
  for (int i = 0; i < 3; ++i) trainer.step();  // warm-up: library plans, caches, queue filling
  gq::device_synchronize();
  const gq::LaunchCounters before = gq::launch_counters();
  trainer.step();  // step 3 of an 8-step epoch: no shuffle
  gq::device_synchronize();
  const gq::LaunchCounters ops = gq::launch_counters() - before;
  print_phases(batch, k, precision, label);
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
  state.counters["images_per_s"] = trainer.train_set().n > 0 ? batch / per_step : 0;
  state.counters["launches"] = static_cast<double>(ops.launches);
  state.counters["copies"] = static_cast<double>(ops.copies);
  state.counters["memsets"] = static_cast<double>(ops.memsets);
  state.counters["device_ops"] = static_cast<double>(ops.total());
  if (bf16) {
    if (fp32_seconds_per_step.count({batch, k}))
      state.counters["x_fp32"] = per_step / fp32_seconds_per_step[{batch, k}];
  } else {
    fp32_seconds_per_step[{batch, k}] = per_step;
    if (k == 0) {
      plain_seconds_per_step[batch] = per_step;
    } else if (plain_seconds_per_step.count(batch)) {
      state.counters["x_plain"] = per_step / plain_seconds_per_step[batch];
    }
  }
  for (const int r : {2, 8})
    state.counters["sent_MiB_R" + std::to_string(r)] = sent_mib(trainer, batch, k, r);
  state.SetLabel(label);
}

// The values of GQ_BENCH_PRECISION: 0 = fp32, 1 = bf16, 2 = bf16-storage, in the order given.
std::vector<int> precisions() {
  const std::vector<std::string> names = {"fp32", "bf16", "bf16-storage"};
  std::vector<int> out;
  std::stringstream list(env_or("GQ_BENCH_PRECISION", "fp32"));
  for (std::string item; std::getline(list, item, ',');) {
    const auto found = std::find(names.begin(), names.end(), item);
    if (found == names.end()) {
      std::fprintf(stderr,
                   "gq-bench: GQ_BENCH_PRECISION: expected fp32, bf16 and/or bf16-storage, found "
                   "'%s'\n",
                   item.c_str());
      std::exit(2);
    }
    out.push_back(static_cast<int>(found - names.begin()));
  }
  return out;
}

// Per batch size: the plain step first (x_plain needs it), then Grad Queue with each k; each in
// every precision asked for, fp32 first where given (x_fp32 needs it).
void step_variants(benchmark::internal::Benchmark* b) {
  const std::vector<int> precision = precisions();
  for (int batch : env_ints("GQ_BENCH_BATCH", "512")) {
    for (int p : precision) b->Args({batch, 0, p});
    for (int k : env_ints("GQ_BENCH_K", "4"))
      for (int p : precision) b->Args({batch, k, p});
  }
}

double min_time() {
  const std::string v = env_or("GQ_BENCH_MIN_TIME", "2.0");
  char* end = nullptr;
  const double t = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !(t > 0)) {
    std::fprintf(stderr, "gq-bench: GQ_BENCH_MIN_TIME='%s': expected seconds > 0\n", v.c_str());
    std::exit(2);
  }
  return t;
}

BENCHMARK(BM_TrainStep)
    ->Apply(step_variants)
    ->ArgNames({"batch", "k", "bf16"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(min_time());

}  // namespace
