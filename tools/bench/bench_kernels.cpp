// Throughput of the kernel cases (reductions, elementwise maps, pooling, the loss, ...) in GB/s,
// next to a plain C++ loop over the same data on the host (the named baseline: what the
// emulator costs on the CPU; on a GPU the ratio shows the GPU's advantage). Roofline on a GPU: HBM
// bandwidth.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/cases/kernel_case.h"
#include "tools/bench/bench_util.h"

namespace {

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
// pooling, activations, dropout, row maps, gather, loss, ...) at its benchmark size, in GB/s of
// the bytes it moves: "BM_Case/activation/gelu backward 1048576".
const bool kCasesRegistered = [] {
  for (const gq::cases::KernelCase& c : gq::cases::all_kernel_cases())
    benchmark::RegisterBenchmark(("BM_Case/" + c.name + " " + gq::cases::to_string(c.bench_size)).c_str(),
                                 [&c](benchmark::State& state) {
                                   gq::cases::PreparedCase p = c.prepare(c.bench_size, 1);
                                   gq::bench::timed_loop(state, c.bench_bytes(), p.launch);
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

}  // namespace
