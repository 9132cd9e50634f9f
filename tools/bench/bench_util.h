// Shared by the benchmark files: timing of device work and its bandwidth against the roofline.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/device.h"
#include "runtime/stream.h"

namespace gq::bench {

// The memory roofline in GB/s: the GPU's peak from its attributes; on the emulator (no peak to
// read) the host's measured copy bandwidth over 64 MiB, counting read + write, once per process.
inline double roofline_gbs() {
  static const double gbs = [] {
    const double peak = device_info().memory_bandwidth_gbs;
    if (peak > 0) return peak;
    const std::size_t n = std::size_t{64} << 20;
    std::vector<char> a(n, 1), b(n, 2);
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      std::memcpy(b.data(), a.data(), n);
      benchmark::ClobberMemory();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * n / s / 1e9);
    }
    return best;
  }();
  return gbs;
}

// Times f() per iteration as wall time (synchronising the device, whose work may be
// asynchronous), reports bytes/s and the fraction of the roofline (`pct_of_roofline`).
template <class F>
void timed_loop(benchmark::State& state, double bytes_per_iter, F&& f) {
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    device_synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    seconds += s;
  }
  const double bytes = bytes_per_iter * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  if (seconds > 0)
    state.counters["pct_of_roofline"] = 100.0 * bytes / seconds / 1e9 / roofline_gbs();
}

}  // namespace gq::bench
