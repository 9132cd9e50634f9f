// Grad Queue kernels at the airbench size (p = 2M parameters, k = 8 clusters): ring_push in its
// steady state (one eviction per push), the statistics, and scarcity_combine. Each reports the
// HBM bytes a call moves (SetBytesProcessed, so the output shows bytes/s next to the roofline:
// H200 ~4.3 TB/s measured copy) and `passes_kxp`, the passes over the k x p cluster gradients.
// Byte counts follow the pass table at the top of kernels/scarcity.cu and kernels/gradient_ring.cu.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/gradient_ring.h"
#include "kernels/scarcity.h"
#include "runtime/device.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "tools/bench/bench_util.h"

namespace {

using gq::DeviceBuffer;
using namespace gq::kernels;

constexpr std::size_t kParams = 2'000'000;  // airbench94's net
constexpr int kClusters = 8;
constexpr int kBatch = 1024;

DeviceBuffer<float> pattern(std::size_t n, float base, float step) {
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = base + step * static_cast<float>(i % 977);
  return DeviceBuffer<float>(std::span<const float>(h));
}

DeviceBuffer<RingState> full_queue_state(int qlen) {
  RingState s = initial_ring_state(4, 32, qlen);
  s.count = qlen;  // steady state: every push evicts one entry
  DeviceBuffer<RingState> d(1);
  d.upload(std::span<const RingState>(&s, 1));
  return d;
}

// g read 4 + slot write 4 + evicted slot read 4 + sum, sumsq read and write 32 = 44 B/param.
void BM_RingPush(benchmark::State& state) {
  const std::size_t p = kParams;
  DeviceBuffer<float> slots(32 * p);
  slots.fill_bytes(0);
  DeviceBuffer<double> sum(p), sumsq(p);
  sum.fill_bytes(0);
  sumsq.fill_bytes(0);
  auto st = full_queue_state(16);
  auto g = pattern(p, 1e-2f, 1e-5f);
  state.counters["passes_kxp"] = 0;
  state.counters["bytes_per_param"] = 44;
  gq::bench::timed_loop(state, 44.0 * p, [&] {
    ring_push({slots.data(), sum.data(), sumsq.data(), st.data(), p, 32}, g.data());
  });
}
BENCHMARK(BM_RingPush)->UseManualTime()->Unit(benchmark::kMillisecond);

// sum, sumsq read 16 + mean, std write 8 = 24 B/param.
void BM_RingStatistics(benchmark::State& state) {
  const std::size_t p = kParams;
  DeviceBuffer<double> sum(p), sumsq(p);
  sum.fill_bytes(0);
  sumsq.fill_bytes(0);
  auto st = full_queue_state(16);
  DeviceBuffer<float> mean(p), sd(p);
  state.counters["bytes_per_param"] = 24;
  gq::bench::timed_loop(state, 24.0 * p, [&] {
    ring_statistics({.sum = sum.data(), .sumsq = sumsq.data(), .state = st.data(), .p = p},
                    mean.data(), sd.data());
  });
}
BENCHMARK(BM_RingStatistics)->UseManualTime()->Unit(benchmark::kMillisecond);

// Element granularity with renorm: 4kp + 32p bytes, one pass over k x p; cluster granularity:
// 8kp + 32p, two passes.
void BM_ScarcityCombine(benchmark::State& state) {
  const std::size_t p = kParams;
  const int k = kClusters;
  const bool cluster = state.range(0) != 0;
  auto grads = pattern(std::size_t(k) * p, 1e-2f, 1e-5f);
  auto mean = pattern(p, 1e-2f, 1e-5f), sd = pattern(p, 1e-3f, 1e-6f);
  std::vector<int> sizes_h(k, kBatch / k);
  // Tensors roughly like a small CNN: a few big weights and many small vectors.
  std::vector<int> offsets_h = {0};
  for (int t = 0; t < 23; ++t) offsets_h.push_back(offsets_h.back() + (t % 3 == 2 ? 256 : 120000));
  offsets_h.push_back(static_cast<int>(p));
  const int tensors = static_cast<int>(offsets_h.size()) - 1;
  DeviceBuffer<int> sizes{std::span<const int>(sizes_h)}, offsets{std::span<const int>(offsets_h)};
  auto st = full_queue_state(16);
  DeviceBuffer<float> gbar(p), gstar(p);
  DeviceBuffer<CombineDiagnostics> diag(1);
  DeviceBuffer<char> scratch(combine_scratch_bytes(p, k, tensors));
  ScarcityOptions o;
  o.granularity = cluster ? Granularity::cluster : Granularity::element;
  state.counters["passes_kxp"] = cluster ? 2 : 1;
  const double bytes = (cluster ? 8.0 : 4.0) * k * p + 32.0 * p;
  state.counters["bytes_per_param"] = bytes / static_cast<double>(p);
  gq::bench::timed_loop(state, bytes, [&] {
    scarcity_combine(grads.data(), {.sizes = sizes.data(), .k = k, .b = kBatch},
                     {mean.data(), sd.data(), st.data()}, {offsets.data(), tensors}, p, o,
                     {gbar.data(), gstar.data(), diag.data()}, scratch.data());
  });
}
BENCHMARK(BM_ScarcityCombine)
    ->ArgName("cluster_granularity")
    ->Arg(0)
    ->Arg(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
