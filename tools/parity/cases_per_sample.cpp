// Parity cases for per-cluster weight gradients (kernels/per_cluster_grad.h; the per-sample
// gradients and norms are kernel cases: kernels/cases/per_sample_cases.cpp).
// The segmented per-cluster kernel accumulates every output with fmaf over the same reduction
// order on both devices (only the tile shape differs, and zero-padded steps add exact zeros), and
// its bias means are ordered sums: zero tolerance. Cases that go through blas (cuBLAS vs oneDNN)
// (and cuDNN vs oneDNN for library_conv) sum in library-specific orders: a small tolerance.
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

#include "kernels/per_cluster_grad.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

using kernels::PerClusterPath;

std::vector<float> seeded(std::size_t n, std::uint64_t seed) {
  return seeded_uniform(n, seed, 0x95a);
}

// A fixed clustering of b samples into k clusters (cluster of sample i: (i * 7 + i / 3) % k, with
// cluster k-1 left empty when k > 2).
struct Clusters {
  DeviceBuffer<int> order, offsets;
  int k, b;
  kernels::Clustering view() { return {order.data(), offsets.data(), nullptr, k, b}; }
};
Clusters fixed_clusters(int b, int k) {
  std::vector<int> order, offsets = {0};
  const int used = k > 2 ? k - 1 : k;
  for (int c = 0; c < k; ++c) {
    for (int i = 0; i < b; ++i)
      if (c < used && (i * 7 + i / 3) % used == c) order.push_back(i);
    offsets.push_back(static_cast<int>(order.size()));
  }
  return {DeviceBuffer<int>(std::span<const int>(order)),
          DeviceBuffer<int>(std::span<const int>(offsets)), k, b};
}

std::vector<float> linear_per_cluster(PerClusterPath path) {
  const int b = 37, in = 70, out = 41, k = 4;
  auto x = upload(seeded(std::size_t(b) * in, 1)), dy = upload(seeded(std::size_t(b) * out, 2));
  Clusters cl = fixed_clusters(b, k);
  DeviceBuffer<float> gw(std::size_t(k) * out * in), gb(std::size_t(k) * out);
  kernels::LinearPerClusterGrad(b, in, out, k, path)
      .compute(x.data(), dy.data(), cl.view(),
               MatrixView::dense(gw.data(), k, std::size_t(out) * in),
               MatrixView::dense(gb.data(), k, out));
  std::vector<float> r;
  append(r, gw);
  append(r, gb);
  return r;
}

dnn::Conv2dShape conv_shape() {
  dnn::Conv2dShape s{6, 5, 11, 9, 7, 3, 3};
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  return s;
}

std::vector<float> conv_per_cluster(PerClusterPath path) {
  const dnn::Conv2dShape s = conv_shape();
  const int k = 3;
  auto x = upload(seeded(s.x_elems(), 3)), dy = upload(seeded(s.y_elems(), 4));
  Clusters cl = fixed_clusters(s.n, k);
  DeviceBuffer<float> gw(k * s.w_elems()), gb(std::size_t(k) * s.k);
  kernels::Conv2dPerClusterGrad(s, k, path)
      .compute(x.data(), dy.data(), cl.view(), MatrixView::dense(gw.data(), k, s.w_elems()),
               MatrixView::dense(gb.data(), k, s.k));
  std::vector<float> r;
  append(r, gw);
  append(r, gb);
  return r;
}

// The GPU's tiles split each cluster's sum into pieces added at the end
// (kernels/per_cluster_grad.cu);
// the emulator's own tiles sum in one piece: equal to rounding unless both take the GPU's shapes.
GQ_PARITY_CASE("per_sample/linear per-cluster segmented b=37 k=4 (one empty)", 1e-6, 1e-5) {
  return linear_per_cluster(PerClusterPath::segmented);
}

GQ_PARITY_CASE("per_sample/linear per-cluster library b=37 k=4 (one empty)", 1e-5, 1e-5) {
  return linear_per_cluster(PerClusterPath::library);
}

GQ_PARITY_CASE("per_sample/conv per-cluster segmented 3x3 s2 p1 k=3 (one empty)", 1e-6, 1e-5) {
  return conv_per_cluster(PerClusterPath::segmented);
}

GQ_PARITY_CASE("per_sample/conv per-cluster library 3x3 s2 p1 k=3 (one empty)", 1e-5, 1e-5) {
  return conv_per_cluster(PerClusterPath::library);
}

GQ_PARITY_CASE("per_sample/conv per-cluster library_conv 3x3 s2 p1 k=3 (one empty)", 1e-5, 1e-5) {
  return conv_per_cluster(PerClusterPath::library_conv);
}

}  // namespace
}  // namespace gq::parity
