// Throughput of the library interfaces: blas::gemm (GFLOP/s, plus the ratio to a naive triple
// loop at 256^3 as the named baseline) and dnn::Conv2d forward / backward_data / backward_filter
// on the CIFAR-10 ResNet-style shapes at batch 128 (GFLOP/s; each pass costs the forward FLOPs).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <random>
#include <span>
#include <vector>

#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace {

using gq::DeviceBuffer;
using gq::blas::Op;

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

DeviceBuffer<float> random_device(std::size_t n, unsigned seed) {
  const std::vector<float> h = random_vector(n, seed);
  return DeviceBuffer<float>(std::span<const float>(h));
}

// Wall-clock timing of the whole measured loop (the libraries are multi-threaded / the GPU is
// asynchronous, so CPU time of the calling thread would overstate throughput).
class WallTimer {
 public:
  WallTimer() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Sets the "GFLOP/s" counter from the wall time of `iterations` runs; returns seconds per run.
double set_gflops(benchmark::State& state, double flops_per_iter, double seconds) {
  const double iters = static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = flops_per_iter * iters / seconds * 1e-9;
  return seconds / iters;
}

// Naive row-major C = A * B, i-p-j order (the usual "first try" loop, vectorizable inner loop).
void naive_gemm(int m, int n, int k, const float* a, const float* b, float* c) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + static_cast<std::size_t>(i) * n;
    for (int j = 0; j < n; ++j) ci[j] = 0.0f;
    for (int p = 0; p < k; ++p) {
      const float aip = a[static_cast<std::size_t>(i) * k + p];
      const float* bp = b + static_cast<std::size_t>(p) * n;
      for (int j = 0; j < n; ++j) ci[j] += aip * bp[j];
    }
  }
}

// Seconds per naive 256^3 GEMM on the host (best of 5), measured once.
double naive_256_seconds() {
  static const double seconds = [] {
    const int n = 256;
    const std::vector<float> a = random_vector(n * n, 1), b = random_vector(n * n, 2);
    std::vector<float> c(n * n);
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      naive_gemm(n, n, n, a.data(), b.data(), c.data());
      benchmark::DoNotOptimize(c.data());
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
    }
    return best;
  }();
  return seconds;
}

void BM_GemmNaive(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::vector<float> a = random_vector(static_cast<std::size_t>(n) * n, 1),
                           b = random_vector(static_cast<std::size_t>(n) * n, 2);
  std::vector<float> c(static_cast<std::size_t>(n) * n);
  const WallTimer timer;
  for (auto _ : state) {
    naive_gemm(n, n, n, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * n * n * n, timer.seconds());
}
BENCHMARK(BM_GemmNaive)->Arg(256)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Gemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::size_t count = static_cast<std::size_t>(n) * n;
  DeviceBuffer<float> a = random_device(count, 1), b = random_device(count, 2), c(count);
  gq::blas::gemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  gq::device_synchronize();  // warm-up: handles, JIT kernels, thread pools
  const WallTimer timer;
  for (auto _ : state) {
    gq::blas::gemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    gq::device_synchronize();
  }
  const double per_iter = set_gflops(state, 2.0 * n * n * n, timer.seconds());
  if (n == 256) {
    // Named baseline: how many times faster than the naive loop on the host.
    state.counters["x_naive"] = naive_256_seconds() / per_iter;
  }
}
// One convolution and one GEMM back to back, as in a training step: on the CPU the two
// libraries' thread pools (oneDNN's OpenMP, OpenBLAS's pthreads) can contend. Arg: CPU GEMM
// backend (0 = oneDNN, 1 = OpenBLAS); no difference on the GPU.
void BM_ConvThenGemm(benchmark::State& state) {
  const auto saved = gq::blas::detail::cpu_gemm();
  gq::blas::detail::set_cpu_gemm(state.range(0) == 0 ? gq::blas::detail::CpuGemm::OneDnn
                                                     : gq::blas::detail::CpuGemm::OpenBlas);
  gq::dnn::Conv2dShape s{128, 32, 16, 16, 64, 3, 3};
  s.pad_h = s.pad_w = 1;
  gq::dnn::Conv2d conv(s);
  DeviceBuffer<float> x = random_device(s.x_elems(), 1), w = random_device(s.w_elems(), 2),
                      y = random_device(s.y_elems(), 3);
  const int n = 512;
  DeviceBuffer<float> a = random_device(n * n, 4), b = random_device(n * n, 5), c(n * n);
  auto step = [&] {
    conv.forward(x.data(), w.data(), y.data());
    gq::blas::gemm(Op::N, Op::N, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    gq::device_synchronize();
  };
  step();  // warm-up
  const WallTimer timer;
  for (auto _ : state) step();
  set_gflops(state, s.flops_forward() + 2.0 * n * n * n, timer.seconds());
  gq::blas::detail::set_cpu_gemm(saved);
}
BENCHMARK(BM_ConvThenGemm)
    ->ArgName("openblas")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK(BM_Gemm)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMicrosecond)->UseRealTime();

// CIFAR shapes at batch 128, 3x3, pad 1: (c -> k, h = w).
gq::dnn::Conv2dShape cifar_shape(const benchmark::State& state) {
  gq::dnn::Conv2dShape s{128,
                         static_cast<int>(state.range(0)),
                         static_cast<int>(state.range(2)),
                         static_cast<int>(state.range(2)),
                         static_cast<int>(state.range(1)),
                         3,
                         3};
  s.pad_h = s.pad_w = 1;
  return s;
}

enum class Pass { Forward, BackwardData, BackwardFilter };

template <Pass pass>
void BM_Conv(benchmark::State& state) {
  const gq::dnn::Conv2dShape s = cifar_shape(state);
  gq::dnn::Conv2d conv(s);
  DeviceBuffer<float> x = random_device(s.x_elems(), 1), w = random_device(s.w_elems(), 2),
                      y = random_device(s.y_elems(), 3);
  conv.forward(x.data(), w.data(), y.data());  // warm-up
  gq::device_synchronize();
  const WallTimer timer;
  for (auto _ : state) {
    if constexpr (pass == Pass::Forward) {
      conv.forward(x.data(), w.data(), y.data());
    } else if constexpr (pass == Pass::BackwardData) {
      conv.backward_data(y.data(), w.data(), x.data());
    } else {
      conv.backward_filter(x.data(), y.data(), w.data());
    }
    gq::device_synchronize();
  }
  set_gflops(state, s.flops_forward(), timer.seconds());
  state.counters["workspace_MiB"] = static_cast<double>(conv.workspace_bytes()) / (1 << 20);
}

void cifar_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "k", "hw"});
  b->Args({3, 32, 32})->Args({32, 64, 16})->Args({64, 128, 8});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_Conv<Pass::Forward>)->Name("BM_ConvForward")->Apply(cifar_args);
BENCHMARK(BM_Conv<Pass::BackwardData>)->Name("BM_ConvBackwardData")->Apply(cifar_args);
BENCHMARK(BM_Conv<Pass::BackwardFilter>)->Name("BM_ConvBackwardFilter")->Apply(cifar_args);

}  // namespace
