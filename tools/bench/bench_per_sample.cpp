// Per-cluster weight gradients against the ordinary weight gradient, on the paper-cnn shapes at
// batch 512 with k = 4 clusters: conv 3->32 3x3 pad 1 on 32x32, conv 32->64 on 16x16, conv
// 64->128 on 8x8, and the linear head 128->10. The per-cluster paths: segmented (hand-written kernel), library
// (gather + im2col + blas::gemm), library_conv (gather + dnn backward_filter in pieces). Counters:
// GFLOP/s (the weight gradient's FLOPs) and x_ordinary, the time of one per-cluster pass over the
// time of the layer's ordinary weight gradient (dnn::Conv2d::backward_filter / blas::gemm) on the
// same batch (best of 3, measured once); for the segmented path, blocks = the blocks its kernel
// launches (build with GQ_EMU_GPU_DECISIONS=ON for the GPU's tiles and split). Also the
// materialised per-sample gradients and norms, for scale.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <span>
#include <vector>

#include "kernels/im2col.h"
#include "kernels/per_cluster_grad.h"
#include "kernels/per_sample.h"
#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace {

using gq::DeviceBuffer;
using gq::MatrixView;
using gq::kernels::PerClusterPath;

constexpr int kBatch = 512, kClusters = 4;

DeviceBuffer<float> random_device(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return DeviceBuffer<float>(std::span<const float>(v));
}

struct Clusters {
  DeviceBuffer<int> order, offsets;
  gq::kernels::Clustering view(int k) {
    return {order.data(), offsets.data(), nullptr, k, static_cast<int>(order.size())};
  }
};

// Random assignment of b samples to k clusters, grouped by cluster.
Clusters random_clusters(int b, int k) {
  std::mt19937 gen(7);
  std::vector<int> cluster(b);
  for (int& c : cluster) c = static_cast<int>(gen() % static_cast<unsigned>(k));
  std::vector<int> order(b), offsets(k + 1, 0);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int c) { return cluster[a] < cluster[c]; });
  for (int c : cluster) ++offsets[c + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  return {DeviceBuffer<int>(std::span<const int>(order)),
          DeviceBuffer<int>(std::span<const int>(offsets))};
}

template <class F>
double best_seconds(F&& f, int reps = 3) {
  f();
  gq::device_synchronize();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    gq::device_synchronize();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

gq::dnn::Conv2dShape conv_shape(const benchmark::State& state) {
  const int c = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1)),
            hw = static_cast<int>(state.range(2));
  return gq::dnn::Conv2dShape{kBatch, c, hw, hw, k, 3, 3, 1, 1, 1, 1};
}

// Seconds of the ordinary weight gradient (backward_filter) for a shape, measured once.
double conv_ordinary_seconds(const gq::dnn::Conv2dShape& s, const float* x, const float* dy,
                             float* dw) {
  static std::map<std::pair<int, int>, double> cache;
  const auto key = std::make_pair(s.c, s.h);
  if (!cache.count(key)) {
    gq::dnn::Conv2d conv(s);
    cache[key] = best_seconds([&] { conv.backward_filter(x, dy, dw); });
  }
  return cache[key];
}

void run_timed(benchmark::State& state, double flops, double ordinary, auto&& step) {
  step();
  gq::device_synchronize();
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    gq::device_synchronize();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    total += dt;
  }
  const double per = total / static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = flops / per * 1e-9;
  state.counters["x_ordinary"] = per / ordinary;
}

// Args: c, k, hw, path (0 segmented, 1 library, 2 library_conv; -1 = the ordinary gradient).
void BM_ConvPerCluster(benchmark::State& state) {
  const gq::dnn::Conv2dShape s = conv_shape(state);
  auto x = random_device(s.x_elems(), 1), dy = random_device(s.y_elems(), 2);
  DeviceBuffer<float> dw(s.w_elems()), gw(kClusters * s.w_elems()), gb(kClusters * s.k);
  Clusters cl = random_clusters(kBatch, kClusters);
  const double ordinary = conv_ordinary_seconds(s, x.data(), dy.data(), dw.data());
  const int mode = static_cast<int>(state.range(3));
  if (mode < 0) {
    gq::dnn::Conv2d conv(s);
    run_timed(state, s.flops_forward(), ordinary,
              [&] { conv.backward_filter(x.data(), dy.data(), dw.data()); });
    return;
  }
  const PerClusterPath path = mode == 0   ? PerClusterPath::segmented
                              : mode == 1 ? PerClusterPath::library
                                          : PerClusterPath::library_conv;
  gq::kernels::Conv2dPerClusterGrad grads(s, kClusters, path);
  run_timed(state, s.flops_forward(), ordinary, [&] {
    grads.compute(x.data(), dy.data(), cl.view(kClusters),
                  MatrixView::dense(gw.data(), kClusters, s.w_elems()),
                  MatrixView::dense(gb.data(), kClusters, s.k));
  });
  if (path == PerClusterPath::segmented)
    state.counters["blocks"] = static_cast<double>(gq::kernels::segmented_blocks_conv2d(s, kClusters));
}
BENCHMARK(BM_ConvPerCluster)
    ->ArgNames({"c", "k", "hw", "path"})
    ->Args({3, 32, 32, -1})
    ->Args({3, 32, 32, 2})
    ->Args({3, 32, 32, 1})
    ->Args({3, 32, 32, 0})
    ->Args({32, 64, 16, -1})
    ->Args({32, 64, 16, 2})
    ->Args({32, 64, 16, 1})
    ->Args({32, 64, 16, 0})
    ->Args({64, 128, 8, -1})
    ->Args({64, 128, 8, 2})
    ->Args({64, 128, 8, 1})
    ->Args({64, 128, 8, 0})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Materialised per-sample gradients and the per-sample norms (chosen method) for the same shapes.
void BM_ConvPerSample(benchmark::State& state) {
  const gq::dnn::Conv2dShape s = conv_shape(state);
  auto x = random_device(s.x_elems(), 1), dy = random_device(s.y_elems(), 2);
  DeviceBuffer<float> dw(s.w_elems()), sq(kBatch);
  DeviceBuffer<char> scratch(gq::kernels::conv2d_per_sample_scratch_bytes(s));
  const double ordinary = conv_ordinary_seconds(s, x.data(), dy.data(), dw.data());
  if (state.range(3) == 0) {
    DeviceBuffer<float> gw(kBatch * s.w_elems());
    run_timed(state, s.flops_forward(), ordinary, [&] {
      gq::kernels::conv2d_per_sample_grads(s, x.data(), dy.data(), gw.data(), nullptr,
                                           scratch.data());
    });
  } else {
    const auto method =
        state.range(3) == 1 ? gq::kernels::NormMethod::instantiate : gq::kernels::NormMethod::ghost;
    run_timed(state, s.flops_forward(), ordinary, [&] {
      gq::kernels::conv2d_per_sample_sq_norms(s, method, x.data(), dy.data(), false, sq.data(),
                                              scratch.data());
    });
  }
}
BENCHMARK(BM_ConvPerSample)
    ->ArgNames({"c", "k", "hw", "what"})  // what: 0 grads, 1 norms by instantiation, 2 ghost norms
    ->Args({32, 64, 16, 0})
    ->Args({32, 64, 16, 1})
    ->Args({32, 64, 16, 2})
    ->Args({64, 128, 8, 0})
    ->Args({64, 128, 8, 1})
    ->Args({64, 128, 8, 2})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Linear head 128 -> 10 at batch 512. Arg: path (-1 ordinary gemm, 0 segmented, 1 library).
void BM_LinearPerCluster(benchmark::State& state) {
  const int in = 128, out = 10;
  auto x = random_device(std::size_t(kBatch) * in, 1),
       dy = random_device(std::size_t(kBatch) * out, 2);
  DeviceBuffer<float> dw(std::size_t(out) * in), gw(std::size_t(kClusters) * out * in),
      gb(std::size_t(kClusters) * out);
  Clusters cl = random_clusters(kBatch, kClusters);
  auto ordinary_step = [&] {
    gq::blas::gemm(gq::blas::Op::T, gq::blas::Op::N, out, in, kBatch, 1.0f, dy.data(), out,
                   x.data(), in, 0.0f, dw.data(), in);
  };
  const double ordinary = best_seconds(ordinary_step, 20);
  const double flops = 2.0 * kBatch * in * out;
  const int mode = static_cast<int>(state.range(0));
  if (mode < 0) {
    run_timed(state, flops, ordinary, ordinary_step);
    return;
  }
  const PerClusterPath path = mode == 0 ? PerClusterPath::segmented : PerClusterPath::library;
  gq::kernels::LinearPerClusterGrad grads(kBatch, in, out, kClusters, path);
  run_timed(state, flops, ordinary, [&] {
    grads.compute(x.data(), dy.data(), cl.view(kClusters),
                  MatrixView::dense(gw.data(), kClusters, std::size_t(out) * in),
                  MatrixView::dense(gb.data(), kClusters, out));
  });
  if (path == PerClusterPath::segmented)
    state.counters["blocks"] =
        static_cast<double>(gq::kernels::segmented_blocks_linear(kBatch, in, out, kClusters));
}
BENCHMARK(BM_LinearPerCluster)
    ->ArgName("path")
    ->Arg(-1)
    ->Arg(1)
    ->Arg(0)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

namespace {
// The library path's pieces for one chunk of 128 samples (one cluster at b = 512, k = 4): im2col
// rows (hand-written), then the gemm.
void BM_LibraryPieces(benchmark::State& state) {
  gq::dnn::Conv2dShape s = conv_shape(state);
  const int count = 128;
  const int L = s.out_h() * s.out_w(), p = s.c * 9;
  auto x = random_device(s.x_elems(), 1);
  DeviceBuffer<float> col(std::size_t(count) * L * p),
      dyt = random_device(std::size_t(count) * L * s.k, 2), gw(s.w_elems());
  Clusters cl = random_clusters(kBatch, kClusters);
  const int what = static_cast<int>(state.range(3));
  for (auto _ : state) {
    if (what == 0)
      gq::kernels::im2col(s, x.data(), cl.order.data(), 0, count, col.data(), L,
                          std::size_t(count) * L);
    else
      gq::blas::gemm(gq::blas::Op::N, gq::blas::Op::T, s.k, p, count * L, 1.0f, dyt.data(),
                     count * L, col.data(), count * L, 0.0f, gw.data(), p);
    gq::device_synchronize();
  }
}
// The core of library_conv: dnn::Conv2d::backward_filter (accumulating) over b / chunk
// consecutive chunks of one plan's batch size, against the ordinary one-call gradient. Arg 3:
// chunk samples.
void BM_ChunkedBackwardFilter(benchmark::State& state) {
  gq::dnn::Conv2dShape s = conv_shape(state);
  const int chunk = static_cast<int>(state.range(3));
  auto x = random_device(s.x_elems(), 1), dy = random_device(s.y_elems(), 2);
  DeviceBuffer<float> dw(s.w_elems());
  const double ordinary = conv_ordinary_seconds(s, x.data(), dy.data(), dw.data());
  s.n = chunk;
  gq::dnn::Conv2d conv(s);
  const std::size_t x_chunk = s.x_elems(), y_chunk = s.y_elems();
  s.n = kBatch;
  run_timed(state, s.flops_forward(), ordinary, [&] {
    for (int i = 0; i < kBatch / chunk; ++i)
      conv.backward_filter(x.data() + i * x_chunk, dy.data() + i * y_chunk, dw.data(), i > 0);
  });
}
BENCHMARK(BM_ChunkedBackwardFilter)
    ->ArgNames({"c", "k", "hw", "chunk"})
    ->Args({32, 64, 16, 32})
    ->Args({64, 128, 8, 32})
    ->Iterations(3)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_LibraryPieces)
    ->ArgNames({"c", "k", "hw", "gemm"})
    ->Args({32, 64, 16, 0})
    ->Args({32, 64, 16, 1})
    ->Args({64, 128, 8, 0})
    ->Args({64, 128, 8, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
}  // namespace
