#include "tools/smoke/smoke_checks.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "kernels/kmeans.h"
#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/memory.h"
#include "runtime/stream.h"

namespace gq::smoke {
namespace {

// Deterministic values in [-1, 1): the same inputs on every device and every run.
std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t state = seed * 2654435761u + 1;
  for (float& x : v) {
    state = state * 1664525u + 1013904223u;
    x = static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

DeviceBuffer<float> to_device(const std::vector<float>& host) {
  return DeviceBuffer<float>(std::span<const float>(host.data(), host.size()));
}

// Throws naming the first element off by more than fp32 rounding of short sums allows (cuDNN may
// pick Winograd or FFT algorithms, which round differently from a direct sum); returns the
// largest difference.
double expect_close(const char* what, const std::vector<float>& got,
                    const std::vector<double>& want) {
  GQ_CHECK(got.size() == want.size(), "{}: {} values, expected {}", what, got.size(), want.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(got[i] - want[i]);
    GQ_CHECK(diff <= 1e-3 + 1e-3 * std::fabs(want[i]),
             "{}: element {} is {}, the host reference {} (not written, or computed wrongly)",
             what, i, got[i], want[i]);
    max_diff = std::max(max_diff, diff);
  }
  return max_diff;
}

dnn::Conv2dShape conv_shape() {
  dnn::Conv2dShape s{2, 3, 9, 8, 4, 3, 3};
  s.pad_h = s.pad_w = 1;
  s.stride_w = 2;
  return s;
}

// Calls tap(x index, w index, y index) for every multiply-add of the convolution: forward,
// backward data and backward filter are the same taps, summed into different tensors.
void for_each_tap(const dnn::Conv2dShape& s,
                  const std::function<void(std::size_t, std::size_t, std::size_t)>& tap) {
  for (int n = 0; n < s.n; ++n)
    for (int k = 0; k < s.k; ++k)
      for (int oh = 0; oh < s.out_h(); ++oh)
        for (int ow = 0; ow < s.out_w(); ++ow)
          for (int c = 0; c < s.c; ++c)
            for (int r = 0; r < s.r; ++r)
              for (int q = 0; q < s.s; ++q) {
                const int ih = oh * s.stride_h - s.pad_h + r, iw = ow * s.stride_w - s.pad_w + q;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                tap(((std::size_t(n) * s.c + c) * s.h + ih) * s.w + iw,
                    ((std::size_t(k) * s.c + c) * s.r + r) * s.s + q,
                    ((std::size_t(n) * s.k + k) * s.out_h() + oh) * s.out_w() + ow);
              }
}

struct ConvData {
  dnn::Conv2dShape shape = conv_shape();
  std::vector<float> x = values(shape.x_elems(), 1), w = values(shape.w_elems(), 2),
                     dy = values(shape.y_elems(), 3);
  std::vector<double> y, dx, dw;  // host references
  ConvData() : y(shape.y_elems()), dx(shape.x_elems()), dw(shape.w_elems()) {
    for_each_tap(shape, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
      y[yi] += double(x[xi]) * w[wi];
      dx[xi] += double(dy[yi]) * w[wi];
      dw[wi] += double(dy[yi]) * x[xi];
    });
  }
};

// Two groups of points far apart (around +3 and -3 in feature 0): any correct k-means with k = 2
// splits them by group, whatever its seeding, so a host check needs no k-means of its own.
struct TwoGroups {
  static constexpr int b = 64, f = 8, k = 2;
  std::vector<float> points = values(std::size_t(b) * f, 4);
  std::vector<double> means = std::vector<double>(std::size_t(k) * f);
  TwoGroups() {
    for (int i = 0; i < b; ++i) {
      const int group = i < b / 2 ? 0 : 1;
      points[std::size_t(i) * f] = 0.01f * points[std::size_t(i) * f] + (group ? -3.0f : 3.0f);
      for (int j = 0; j < f; ++j) means[group * f + j] += points[std::size_t(i) * f + j] / (b / 2.0);
    }
  }
};

struct KMeansBuffers {
  DeviceBuffer<float> points, centroids{std::size_t(TwoGroups::k) * TwoGroups::f};
  DeviceBuffer<int> assignment{TwoGroups::b}, order{TwoGroups::b}, offsets{TwoGroups::k + 1},
      sizes{TwoGroups::k};
  DeviceBuffer<kernels::KMeansResult> result{1};
  DeviceBuffer<char> scratch{kernels::kmeans_scratch_bytes(TwoGroups::b, TwoGroups::f, TwoGroups::k)};
  explicit KMeansBuffers(const TwoGroups& g) : points(to_device(g.points)) {}

  void run(stream_t stream) {
    kernels::KMeansOptions options;
    options.k = TwoGroups::k;
    options.seed = 7;
    options.plan = kernels::KMeansPlan::fused;  // the cooperative launch
    kernels::kmeans({points.data(), Shape{TwoGroups::b, TwoGroups::f}}, options,
                    {assignment.data(), centroids.data(),
                     {order.data(), offsets.data(), sizes.data(), TwoGroups::k, TwoGroups::b},
                     result.data()},
                    scratch.data(), stream);
  }
  void poison(stream_t stream) {
    centroids.fill_bytes(0xFF, stream);
    assignment.fill_bytes(0xFF, stream);
    sizes.fill_bytes(0xFF, stream);
    result.fill_bytes(0xFF, stream);
  }
};

void expect_two_groups(const TwoGroups& g, KMeansBuffers& out) {
  const std::vector<int> assignment = out.assignment.to_host(), sizes = out.sizes.to_host();
  const kernels::KMeansResult result = out.result.to_host()[0];
  const int first = assignment[0], second = assignment[TwoGroups::b / 2];
  GQ_CHECK(first != second && first >= 0 && first < 2 && second >= 0 && second < 2,
           "k-means: points 0 and {} are in clusters {} and {}, expected two different clusters",
           TwoGroups::b / 2, first, second);
  for (int i = 0; i < TwoGroups::b; ++i)
    GQ_CHECK(assignment[i] == (i < TwoGroups::b / 2 ? first : second),
             "k-means: point {} is in cluster {}, not with its group", i, assignment[i]);
  GQ_CHECK(sizes[0] == TwoGroups::b / 2 && sizes[1] == TwoGroups::b / 2,
           "k-means: cluster sizes {} and {}, expected {} each", sizes[0], sizes[1], TwoGroups::b / 2);
  GQ_CHECK(result.converged == 1 && result.k_effective == 2,
           "k-means: converged {} k_effective {}, expected 1 and 2", result.converged,
           result.k_effective);
  std::vector<double> want(g.means.size());
  for (int j = 0; j < TwoGroups::f; ++j) {
    want[first * TwoGroups::f + j] = g.means[j];
    want[second * TwoGroups::f + j] = g.means[TwoGroups::f + j];
  }
  expect_close("k-means centroids", out.centroids.to_host(), want);
}

}  // namespace

std::string check_gemm() {
  const int m = 33, n = 20, k = 47;  // odd sizes: no tile fits exactly
  const std::vector<float> a = values(std::size_t(m) * k, 5), b = values(std::size_t(n) * k, 6);
  DeviceBuffer<float> da = to_device(a), db = to_device(b), dc(std::size_t(m) * n);
  dc.fill_bytes(0xFF);  // beta = 0 must ignore C, NaN included
  blas::gemm(blas::Op::N, blas::Op::T, m, n, k, 1.0f, da.data(), k, db.data(), k, 0.0f, dc.data(),
             n);
  std::vector<double> want(std::size_t(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int p = 0; p < k; ++p) want[i * n + j] += double(a[i * k + p]) * b[j * k + p];
  const double diff = expect_close("gemm", dc.to_host(), want);
  return fmt::format("{}x{}x{} A x B^T, max |diff| {:.1e}", m, n, k, diff);
}

std::string check_conv_forward() {
  const ConvData d;
  DeviceBuffer<float> x = to_device(d.x), w = to_device(d.w), y(d.shape.y_elems());
  y.fill_bytes(0xFF);
  dnn::Conv2d conv(d.shape);
  conv.forward(x.data(), w.data(), y.data());
  const double diff = expect_close("conv forward", y.to_host(), d.y);
  return fmt::format("3x3 pad 1 stride 1x2, {} B workspace, max |diff| {:.1e}",
                     conv.workspace_bytes(), diff);
}

std::string check_conv_backward() {
  const ConvData d;
  DeviceBuffer<float> x = to_device(d.x), w = to_device(d.w), dy = to_device(d.dy),
                      dx(d.shape.x_elems()), dw(d.shape.w_elems());
  dx.fill_bytes(0xFF);
  dw.fill_bytes(0xFF);
  dnn::Conv2d conv(d.shape);
  conv.backward_data(dy.data(), w.data(), dx.data());
  conv.backward_filter(x.data(), dy.data(), dw.data());
  const double diff_x = expect_close("conv backward data", dx.to_host(), d.dx);
  const double diff_w = expect_close("conv backward filter", dw.to_host(), d.dw);
  return fmt::format("data and filter, max |diff| {:.1e} and {:.1e}", diff_x, diff_w);
}

std::string check_graph() {
  const ConvData d;
  const TwoGroups g;
  DeviceBuffer<float> x = to_device(d.x), w = to_device(d.w), y(d.shape.y_elems());
  dnn::Conv2d conv(d.shape);
  KMeansBuffers km(g);
  Stream stream;
  Graph graph;
  graph.capture(stream.get(), [&] {
    conv.forward(x.data(), w.data(), y.data(), stream.get());
    km.run(stream.get());
  });
  for (int replay = 0; replay < 2; ++replay) {  // the second replay reuses the instantiated graph
    y.fill_bytes(0xFF, stream.get());           // poisoned: only the replay writes them
    km.poison(stream.get());
    graph.replay(stream.get());
    stream.synchronize();
    expect_close("graph conv forward", y.to_host(), d.y);
    expect_two_groups(g, km);
  }
  return fmt::format("conv forward + fused k-means captured ({} nodes), replayed twice",
                     graph.nodes());
}

}  // namespace gq::smoke
