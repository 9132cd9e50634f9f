// cuemu's costs: raw fiber switch, barrier and shuffle per thread, fiber start/finish, empty
// launch, and a grid-stride saxpy against a plain C++ loop. Run with one worker unless stated, so
// per-thread numbers are per CPU.
#include <benchmark/benchmark.h>
#include <boost/context/detail/fcontext.hpp>

#include <chrono>
#include <vector>

#include "runtime/portable.cuh"

namespace {

namespace bctx = boost::context::detail;

// Seconds per item, printed as ns: `items` per iteration.
benchmark::Counter per_item(double items) {
  return benchmark::Counter(
      items, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void one_worker() {
  cuemu::set_workers(1);
  cuemu::set_order(cuemu::Order::forward);
}

// --- raw fcontext switch -----------------------------------------------------------------------
void pingpong(bctx::transfer_t t) {
  for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

void BM_RawSwitch(benchmark::State& state) {
  std::vector<char> stack(64 * 1024);
  bctx::fcontext_t c = bctx::make_fcontext(stack.data() + stack.size(), stack.size(), pingpong);
  for (auto _ : state) c = bctx::jump_fcontext(c, nullptr).fctx;  // there and back: 2 switches
  state.counters["ns_per_switch"] = per_item(2);
}
BENCHMARK(BM_RawSwitch);

// --- barriers and shuffles ---------------------------------------------------------------------
constexpr int kReps = 64;

__global__ void k_barriers(int* sink) {
  int acc = threadIdx.x;
  for (int i = 0; i < kReps; ++i) {
    __syncthreads();
    acc += i;
  }
  if (acc == -1) *sink = acc;
}

void BM_Barrier(benchmark::State& state) {
  one_worker();
  const auto threads = static_cast<unsigned>(state.range(0));
  int sink = 0;
  for (auto _ : state) cuemu::launch(k_barriers, dim3(1), dim3(threads), 0, &sink);
  state.counters["ns_per_thread_barrier"] = per_item(double(threads) * kReps);
}
BENCHMARK(BM_Barrier)->Arg(32)->Arg(256)->Arg(1024);

__global__ void k_shuffles(float* out) {
  float v = threadIdx.x;
  for (int i = 0; i < kReps; ++i) v += __shfl_xor_sync(0xffffffffu, v, i & 31);
  if (v == -1.0f) *out = v;
}

void BM_Shuffle(benchmark::State& state) {
  one_worker();
  const auto threads = static_cast<unsigned>(state.range(0));
  float sink = 0;
  for (auto _ : state) cuemu::launch(k_shuffles, dim3(1), dim3(threads), 0, &sink);
  state.counters["ns_per_lane_shuffle"] = per_item(double(threads) * kReps);
}
BENCHMARK(BM_Shuffle)->Arg(32)->Arg(256);

// --- fiber start/finish, empty launch ------------------------------------------------------------
__global__ void k_empty() {}

void BM_FiberStartFinish(benchmark::State& state) {
  one_worker();
  const unsigned blocks = 1024, threads = 256;
  for (auto _ : state) cuemu::launch(k_empty, dim3(blocks), dim3(threads), 0);
  state.counters["ns_per_thread"] = per_item(double(blocks) * threads);
}
BENCHMARK(BM_FiberStartFinish)->Unit(benchmark::kMillisecond);

void BM_EmptyLaunch(benchmark::State& state) {
  cuemu::set_workers(static_cast<int>(state.range(0)));
  for (auto _ : state) cuemu::launch(k_empty, dim3(1), dim3(1), 0);
  state.counters["per_launch"] = per_item(1);
}
BENCHMARK(BM_EmptyLaunch)->Arg(1)->Arg(2)->ArgName("workers");

// --- elementwise kernel vs plain loop ------------------------------------------------------------
__global__ void k_saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] = a * x[i] + y[i];
}

constexpr int kN = 1 << 20;

__attribute__((noinline)) void saxpy_loop(int n, float a, const float* x, float* y) {
  for (int i = 0; i < n; ++i) y[i] = a * x[i] + y[i];
}

double plain_loop_seconds(const float* x, float* y) {
  const int reps = 50;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    saxpy_loop(kN, 1.0001f, x, y);
    benchmark::ClobberMemory();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

void BM_SaxpyPlainLoop(benchmark::State& state) {
  std::vector<float> x(kN, 1.0f), y(kN, 2.0f);
  for (auto _ : state) {
    saxpy_loop(kN, 1.0001f, x.data(), y.data());
    benchmark::ClobberMemory();
  }
  state.counters["ns_per_element"] = per_item(kN);
}
BENCHMARK(BM_SaxpyPlainLoop)->Unit(benchmark::kMicrosecond);

// Grid of 4 blocks per worker x 256 threads, as gq::grid_stride_blocks sizes it.
void BM_SaxpyEmulated(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  cuemu::set_workers(workers);
  std::vector<float> x(kN, 1.0f), y(kN, 2.0f);
  const unsigned blocks = 4u * static_cast<unsigned>(workers);
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t n = 0;
  for (auto _ : state) {
    cuemu::launch(k_saxpy, dim3(blocks), dim3(256), 0, kN, 1.0001f, x.data(), y.data());
    ++n;
  }
  const double emu =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(n);
  state.counters["ns_per_element"] = per_item(kN);
  state.counters["ratio_vs_plain_loop"] = emu / plain_loop_seconds(x.data(), y.data());
}
BENCHMARK(BM_SaxpyEmulated)->Arg(1)->Arg(2)->ArgName("workers")->Unit(benchmark::kMicrosecond);

}  // namespace
