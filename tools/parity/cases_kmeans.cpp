// Parity cases for k-means on host-normalised rows and on duplicates (random points and the row
// normalisation are kernel cases: kernels/cases/kmeans_cases.cpp). k-means does the same IEEE float
// operations in the same order on both devices (explicit fmaf distances, sequential member sums,
// correctly rounded division, the same Philox draws), so its outputs must agree exactly.
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/kmeans.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

std::vector<float> seeded(std::size_t n, std::uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return seeded_uniform(n, seed, 0x6a3, lo, hi);
}

// Every output of kmeans(), as floats: assignment, sizes, order, offsets, result, centroids.
std::vector<float> run_kmeans(const std::vector<float>& x, int b, int f, int k, int iters,
                              std::uint64_t seed) {
  DeviceBuffer<float> points{std::span<const float>(x)};
  DeviceBuffer<int> assignment(b), sizes(k), order(b), offsets(k + 1);
  DeviceBuffer<float> centroids(std::size_t(k) * f);
  DeviceBuffer<kernels::KMeansResult> result(1);
  DeviceBuffer<char> scratch(kernels::kmeans_scratch_bytes(b, f, k));
  kernels::kmeans({points.data(), Shape{b, f}}, {k, iters, seed, /*rng_stream=*/9},
                  {assignment.data(),
                   centroids.data(),
                   {order.data(), offsets.data(), sizes.data(), k, b},
                   result.data()},
                  scratch.data());
  std::vector<float> out;
  for (const auto* buf : {&assignment, &sizes, &order, &offsets})
    for (int v : buf->to_host()) out.push_back(static_cast<float>(v));
  const auto r = result.to_host()[0];
  out.push_back(static_cast<float>(r.iterations));
  out.push_back(static_cast<float>(r.converged));
  out.push_back(static_cast<float>(r.k_effective));
  // Empty clusters' centroid rows mean nothing but are deterministic too.
  const auto c = centroids.to_host();
  out.insert(out.end(), c.begin(), c.end());
  return out;
}

// Rows normalised on the host (in double), so that both devices cluster the same bits: each
// device's own l2_normalize_rows rounds differently, and k-means on inputs that
// differ in the last bit may legitimately choose other centres.
GQ_PARITY_CASE("kmeans/l2-normalised b=2048 f=130 k=32 iters=10", 0.0, 0.0) {
  const int b = 2048, f = 130;
  auto x = seeded(std::size_t(b) * f, 2);
  for (int i = 0; i < b; ++i) {
    double sq = 0;
    for (int j = 0; j < f; ++j) sq += double(x[std::size_t(i) * f + j]) * x[std::size_t(i) * f + j];
    const double inv = sq > 0 ? 1.0 / std::sqrt(sq) : 0.0;
    for (int j = 0; j < f; ++j) x[std::size_t(i) * f + j] = float(x[std::size_t(i) * f + j] * inv);
  }
  return run_kmeans(x, b, f, 32, 10, 6);
}

GQ_PARITY_CASE("kmeans/duplicates b=300 f=7 k=40 (k > distinct points)", 0.0, 0.0) {
  const int f = 7;
  const auto distinct = seeded(25 * f, 3);
  std::vector<float> x;
  for (int copy = 0; copy < 12; ++copy) x.insert(x.end(), distinct.begin(), distinct.end());
  return run_kmeans(x, 300, f, 40, 10, 7);
}

}  // namespace
}  // namespace gq::parity
