// On-device k-means (kernels/kmeans.h) at Grad Queue's sizes: time per kmeans() call (seeding,
// Lloyd iterations and the final update, all launched back to back with no host round-trip) and
// the nominal assignment FLOPs, b*k*f*2*max_iters, as a rate. `iterations` is how many Lloyd
// iterations the call actually ran (later ones are device-side no-ops after convergence).
// Both plans: one cooperative launch with grid syncs (fused) against 5 + 3 * max_iters launches;
// on a GPU the second is launch-bound, the first bound by its grid syncs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/kmeans.h"
#include "runtime/device.h"
#include "runtime/memory.h"
#include "runtime/rng.h"

namespace {

using gq::DeviceBuffer;

// L2-normalised random features, as the trainer clusters them.
DeviceBuffer<float> features(int b, int f) {
  gq::HostRng rng(17, 1);
  std::vector<float> h(std::size_t(b) * f);
  for (float& v : h) v = rng.uniform() - 0.5f;
  DeviceBuffer<float> x{std::span<const float>(h)};
  gq::kernels::l2_normalize_rows(x.data(), b, f);
  return x;
}

void BM_KMeans(benchmark::State& state) {
  const int b = static_cast<int>(state.range(0)), f = static_cast<int>(state.range(1));
  const int k = static_cast<int>(state.range(2)), iters = static_cast<int>(state.range(3));
  const auto plan =
      state.range(4) ? gq::kernels::KMeansPlan::fused : gq::kernels::KMeansPlan::per_phase;
  auto x = features(b, f);
  DeviceBuffer<int> assignment(b), sizes(k), order(b), offsets(k + 1);
  DeviceBuffer<float> centroids(std::size_t(k) * f);
  DeviceBuffer<gq::kernels::KMeansResult> result(1);
  DeviceBuffer<char> scratch(gq::kernels::kmeans_scratch_bytes(b, f, k));
  auto run = [&] {
    gq::kernels::kmeans({x.data(), gq::Shape{b, f}}, {k, iters, 1, 2, plan},
                        {assignment.data(),
                         centroids.data(),
                         {order.data(), offsets.data(), sizes.data(), k, b},
                         result.data()},
                        scratch.data());
  };
  run();  // warm-up
  gq::device_synchronize();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    gq::device_synchronize();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double flops = 2.0 * b * k * f * iters;
  state.counters["FLOPs"] =
      benchmark::Counter(flops * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["iterations"] = result.to_host()[0].iterations;
}
BENCHMARK(BM_KMeans)
    ->ArgNames({"b", "f", "k", "iters", "fused"})  // fused: one cooperative launch, else per phase
    ->ArgsProduct({{512}, {128}, {4, 32}, {10}, {1, 0}})
    ->ArgsProduct({{4096}, {256}, {32}, {10}, {1, 0}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
