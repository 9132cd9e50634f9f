// Throughput of the kernel cases (reductions, elementwise maps, pooling, ...) and the loss, in
// GB/s, next to a plain C++ loop over the same data on the host (the named baseline: what the
// emulator costs on the CPU; on a GPU the ratio shows the GPU's advantage). Roofline on a GPU: HBM
// bandwidth.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "kernels/cases/kernel_case.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "runtime/device.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "tools/bench/bench_util.h"

namespace {

using gq::DeviceBuffer;

DeviceBuffer<float> ramp(std::size_t n) {
  std::vector<float> h(n);
  for (std::size_t i = 0; i < n; ++i) h[i] = static_cast<float>(i % 1000) * 1e-3f;
  return DeviceBuffer<float>(std::span<const float>(h));
}

void BM_ReduceSumPlainLoop(benchmark::State& state) {
  const std::size_t n = state.range(0);
  std::vector<float> x(n, 0.5f);
  for (auto _ : state) {
    float s = std::accumulate(x.begin(), x.end(), 0.0f);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(4 * n * state.iterations()));
}
BENCHMARK(BM_ReduceSumPlainLoop)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// Every kernel case (kernels/cases/kernel_case.h: reductions, elementwise maps, transpose, bias,
// pooling, activations) at its
// benchmark size, in GB/s of the bytes it moves: "BM_Case/activation/gelu backward 1048576".
const bool kCasesRegistered = [] {
  for (const gq::cases::KernelCase& c : gq::cases::all_kernel_cases())
    benchmark::RegisterBenchmark(("BM_Case/" + c.name + " " + gq::cases::to_string(c.bench_size)).c_str(),
                                 [&c](benchmark::State& state) {
                                   gq::cases::PreparedCase p = c.prepare(c.bench_size, 1);
                                   gq::bench::timed_loop(
                                       state, c.bytes_per_element * gq::cases::numel(c.bench_size), p.launch);
                                 })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  return true;
}();

void BM_AxpyPlainLoop(benchmark::State& state) {
  const std::size_t n = state.range(0);
  std::vector<float> x(n, 0.5f), y(n, 0.25f);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) y[i] += 0.5f * x[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(12 * n * state.iterations()));
}
BENCHMARK(BM_AxpyPlainLoop)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// Softmax cross-entropy (loss and dlogits) over a CIFAR-10 batch of 128 x 10 logits, and the sum
// of its 128 losses: the training step's loss range. Tiny work, so this is launch and warp-shuffle
// cost on the emulator.
void BM_LossRange(benchmark::State& state) {
  const int n = 128, classes = 10;
  auto logits = ramp(std::size_t(n) * classes);
  std::vector<std::int32_t> h(n);
  for (int i = 0; i < n; ++i) h[i] = i % classes;
  DeviceBuffer<std::int32_t> labels{std::span<const std::int32_t>(h)};
  DeviceBuffer<float> losses(n), dlogits(std::size_t(n) * classes), sum(1);
  DeviceBuffer<char> scratch(gq::kernels::reduce_scratch_bytes());
  gq::bench::timed_loop(state, 12.0 * n * classes, [&] {
    gq::kernels::softmax_xent(logits.data(), labels.data(), n, classes, 0.0f, losses.data(),
                              dlogits.data(), 1.0f / n);
    gq::kernels::reduce_sum(losses.data(), n, sum.data(), scratch.data());
  });
}
BENCHMARK(BM_LossRange)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
