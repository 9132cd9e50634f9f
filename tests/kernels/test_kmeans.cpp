// k-means against the host reference that follows kmeans.h's definition operation for operation
// (kernels/cases/kmeans_reference.h, shared with the k-means kernel case, which holds the default
// plan to it at awkward sizes): every launch plan gives the same bits, the largest problem, blobs,
// convergence, empty clusters, the k = 1 / k = b / k > distinct-points edges, determinism, and
// l2_normalize_rows out of place and on tiny rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cases/kmeans_reference.h"
#include "kernels/kmeans.h"
#include "runtime/error.h"
#include "runtime/launch_counters.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

using cases::HostClustering;
using cases::kmeans_reference;

// ---- device run -------------------------------------------------------------------------------

HostClustering device_kmeans(const std::vector<float>& x, int b, int f, int k, int max_iters,
                             std::uint64_t seed, std::uint64_t stream,
                             KMeansPlan plan = KMeansPlan::fused, int fused_blocks = 0) {
  auto dx = test::to_device(x);
  auto assignment = test::poisoned<int>(b), sizes = test::poisoned<int>(k);
  auto order = test::poisoned<int>(b), offsets = test::poisoned<int>(k + 1);
  auto centroids = test::poisoned(std::size_t(k) * f);
  auto result = test::poisoned<KMeansResult>(1);
  DeviceBuffer<char> scratch(kmeans_scratch_bytes(b, f, k));
  scratch.fill_bytes(0xFF);
  kmeans({dx.data(), Shape{b, f}}, {k, max_iters, seed, stream, plan, fused_blocks},
         {assignment.data(),
          centroids.data(),
          {order.data(), offsets.data(), sizes.data(), k, b},
          result.data()},
         scratch.data());
  HostClustering r;
  r.assignment = assignment.to_host();
  r.sizes = sizes.to_host();
  r.order = order.to_host();
  r.offsets = offsets.to_host();
  r.centroids = centroids.to_host();
  const KMeansResult res = result.to_host()[0];
  r.iterations = res.iterations;
  r.converged = res.converged;
  r.k_effective = res.k_effective;
  return r;
}

// Centroids of non-empty clusters must agree; an empty cluster's row means nothing.
void expect_same(const HostClustering& got, const HostClustering& want, int f) {
  EXPECT_EQ(got.assignment, want.assignment);
  EXPECT_EQ(got.sizes, want.sizes);
  EXPECT_EQ(got.order, want.order);
  EXPECT_EQ(got.offsets, want.offsets);
  EXPECT_EQ(got.iterations, want.iterations);
  EXPECT_EQ(got.converged, want.converged);
  EXPECT_EQ(got.k_effective, want.k_effective);
  ASSERT_EQ(got.centroids.size(), want.centroids.size());
  std::vector<float> g, w;
  for (std::size_t c = 0; c < want.sizes.size(); ++c)
    if (want.sizes[c] > 0)
      for (int j = 0; j < f; ++j) {
        g.push_back(got.centroids[c * f + j]);
        w.push_back(want.centroids[c * f + j]);
      }
  EXPECT_TRUE(test::all_close(g, w, 1e-5, 1e-5));
}

// Structural invariants of any clustering output.
void expect_consistent(const HostClustering& r, int b, int k) {
  ASSERT_EQ(r.offsets.front(), 0);
  ASSERT_EQ(r.offsets.back(), b);
  int nonempty = 0;
  for (int c = 0; c < k; ++c) {
    EXPECT_EQ(r.offsets[c + 1] - r.offsets[c], r.sizes[c]);
    nonempty += r.sizes[c] > 0;
    for (int m = r.offsets[c]; m < r.offsets[c + 1]; ++m) {
      EXPECT_EQ(r.assignment[r.order[m]], c);
      if (m > r.offsets[c]) {
        EXPECT_LT(r.order[m - 1], r.order[m]);
      }
    }
  }
  EXPECT_EQ(nonempty, r.k_effective);
}

// ---- tests ------------------------------------------------------------------------------------

class KMeansSizes : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

// The kernel case (kernels/cases/kmeans_cases.cpp) holds the default plan to the host reference;
// here every plan gives its bits: a launch per phase, and the fused kernel on one block, on the
// automatic grid and on 3 blocks (grid syncs between OS threads on the emulator).
TEST_P(KMeansSizes, EveryPlanGivesTheSameBits) {
  const auto [b, f, k] = GetParam();
  const auto x = test::random_vector(std::size_t(b) * f, 1000 * b + 10 * f + k);
  const std::uint64_t seed = 1234 + b, stream = 77;
  const auto want = device_kmeans(x, b, f, k, 10, seed, stream);
  expect_consistent(want, b, k);
  for (const auto& [plan, blocks] :
       {std::pair{KMeansPlan::per_phase, 0}, std::pair{KMeansPlan::fused, 1},
        std::pair{KMeansPlan::fused, 3}}) {
    SCOPED_TRACE(std::string(plan == KMeansPlan::fused ? "fused" : "per_phase") + ", blocks " +
                 std::to_string(blocks));
    const auto got = device_kmeans(x, b, f, k, 10, seed, stream, plan, blocks);
    EXPECT_EQ(got.assignment, want.assignment);
    EXPECT_EQ(got.order, want.order);
    EXPECT_EQ(got.offsets, want.offsets);
    EXPECT_EQ(got.iterations, want.iterations);
    EXPECT_EQ(got.centroids, want.centroids);
  }
}

INSTANTIATE_TEST_SUITE_P(Awkward, KMeansSizes,
                         ::testing::Combine(::testing::Values(1, 31, 257, 1000),
                                            ::testing::Values(1, 3, 33, 130),
                                            ::testing::Values(1, 2, 7, 16)));

// The largest problem the Grad Queue issue asks for (b = 16384 points, f = 1024 features, k = 64):
// scratch sizing and index arithmetic at full size, against the host reference. One Lloyd
// iteration keeps the test at a few seconds; the seeding visits all 64 centres.
TEST(KMeansLimits, LargestSupportedProblemMatchesTheReference) {
  const int b = 16384, f = 1024, k = 64;
  const auto x = test::random_vector(std::size_t(b) * f, 99);
  const auto want = kmeans_reference(x, b, f, k, 1, 5, 6);
  const auto got = device_kmeans(x, b, f, k, 1, 5, 6);
  expect_same(got, want, f);
  expect_consistent(got, b, k);
}

// Well-separated Gaussian blobs come back exactly, and Lloyd converges.
TEST(KMeans, RecoversSeparatedBlobs) {
  const int b = 1000, f = 16, k = 8;
  HostRng rng(5, 6);
  std::vector<float> centres(std::size_t(k) * f);
  for (float& v : centres) v = 100.0f * (rng.uniform() - 0.5f);
  std::vector<float> x(std::size_t(b) * f);
  std::vector<int> blob(b);
  for (int i = 0; i < b; ++i) {
    blob[i] = static_cast<int>(rng.below(k));
    for (int j = 0; j < f; j += 2) {
      float z0, z1;
      normal2(rng.next_u32(), rng.next_u32(), z0, z1);
      x[std::size_t(i) * f + j] = centres[std::size_t(blob[i]) * f + j] + 0.1f * z0;
      if (j + 1 < f)
        x[std::size_t(i) * f + j + 1] = centres[std::size_t(blob[i]) * f + j + 1] + 0.1f * z1;
    }
  }
  const auto got = device_kmeans(x, b, f, k, 20, 42, 3);
  expect_same(got, kmeans_reference(x, b, f, k, 20, 42, 3), f);
  EXPECT_EQ(got.converged, 1);
  EXPECT_EQ(got.k_effective, k);
  // A bijection between blobs and clusters.
  std::vector<int> cluster_of_blob(k, -1);
  for (int i = 0; i < b; ++i) {
    int& c = cluster_of_blob[blob[i]];
    if (c < 0) c = got.assignment[i];
    EXPECT_EQ(got.assignment[i], c) << "point " << i;
  }
  std::vector<int> sorted = cluster_of_blob;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  // Centroids are the blob means.
  for (int c = 0; c < k; ++c) {
    const int bl = static_cast<int>(std::find(cluster_of_blob.begin(), cluster_of_blob.end(), c) -
                                    cluster_of_blob.begin());
    for (int j = 0; j < f; ++j)
      EXPECT_NEAR(got.centroids[std::size_t(c) * f + j], centres[std::size_t(bl) * f + j], 0.1);
  }
}

TEST(KMeans, ConvergenceFlagAndIterationCount) {
  const int b = 500, f = 8, k = 12;
  const auto x = test::random_vector(std::size_t(b) * f, 31);
  // Enough iterations: converges early, and further iterations are no-ops.
  const auto many = device_kmeans(x, b, f, k, 100, 9, 1);
  expect_same(many, kmeans_reference(x, b, f, k, 100, 9, 1), f);
  EXPECT_EQ(many.converged, 1);
  EXPECT_GT(many.iterations, 1);
  EXPECT_LT(many.iterations, 100);
  const auto more = device_kmeans(x, b, f, k, 200, 9, 1);
  EXPECT_EQ(more.iterations, many.iterations);
  EXPECT_EQ(more.assignment, many.assignment);
  // One iteration: not converged yet on random data.
  const auto one = device_kmeans(x, b, f, k, 1, 9, 1);
  expect_same(one, kmeans_reference(x, b, f, k, 1, 9, 1), f);
  EXPECT_EQ(one.iterations, 1);
  EXPECT_EQ(one.converged, 0);
  // No iterations: the initial assignment of the k-means++ seeds.
  const auto none = device_kmeans(x, b, f, k, 0, 9, 1);
  expect_same(none, kmeans_reference(x, b, f, k, 0, 9, 1), f);
  EXPECT_EQ(none.iterations, 0);
  EXPECT_EQ(none.converged, 0);
}

// Clumpy data (many duplicates, a few outliers) where a centroid loses all its points during
// Lloyd: the reference counts re-seeds; the first seed that exercises them is compared.
TEST(KMeans, EmptyClusterIsReseededWithTheFarthestPoint) {
  const int b = 24, f = 2, k = 6;
  int found = 0;
  for (std::uint64_t data_seed = 0; data_seed < 400 && found < 3; ++data_seed) {
    HostRng rng(data_seed, 11);
    std::vector<float> x(std::size_t(b) * f);
    for (int i = 0; i < b; ++i) {
      const int clump = static_cast<int>(rng.below(3));
      x[i * f] = clump == 2 ? 10.0f * rng.uniform() : 3.0f * clump;
      x[i * f + 1] = clump == 2 ? 10.0f * rng.uniform() : 0.0f;
    }
    const auto want = kmeans_reference(x, b, f, k, 10, data_seed, 2);
    if (want.reseeds == 0) continue;
    ++found;
    SCOPED_TRACE("data seed " + std::to_string(data_seed));
    for (const auto& [plan, blocks] : {std::pair{KMeansPlan::per_phase, 0},
                                       std::pair{KMeansPlan::fused, 1},
                                       std::pair{KMeansPlan::fused, 4}}) {
      const auto got = device_kmeans(x, b, f, k, 10, data_seed, 2, plan, blocks);
      expect_same(got, want, f);
      expect_consistent(got, b, k);
    }
  }
  EXPECT_GT(found, 0) << "no data set exercised a re-seed";
}

TEST(KMeans, OneClusterTakesEverything) {
  const int b = 257, f = 33;
  const auto x = test::random_vector(std::size_t(b) * f, 3);
  const auto got = device_kmeans(x, b, f, 1, 10, 1, 1);
  EXPECT_EQ(got.assignment, std::vector<int>(b, 0));
  EXPECT_EQ(got.sizes, std::vector<int>{b});
  EXPECT_EQ(got.offsets, (std::vector<int>{0, b}));
  std::vector<int> iota(b);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(got.order, iota);
  EXPECT_EQ(got.iterations, 0);
  EXPECT_EQ(got.converged, 1);
  EXPECT_EQ(got.k_effective, 1);
  std::vector<double> mean(f, 0.0);
  for (int i = 0; i < b; ++i)
    for (int j = 0; j < f; ++j) mean[j] += x[std::size_t(i) * f + j] / b;
  EXPECT_TRUE(test::all_close(got.centroids, mean, 1e-5, 1e-5));
}

TEST(KMeans, KEqualsBGivesEachPointItsOwnCluster) {
  const int b = 31, f = 3;
  const auto x = test::random_vector(std::size_t(b) * f, 4);
  const auto got = device_kmeans(x, b, f, b, 10, 8, 8);
  expect_same(got, kmeans_reference(x, b, f, b, 10, 8, 8), f);
  EXPECT_EQ(got.sizes, std::vector<int>(b, 1));
  EXPECT_EQ(got.k_effective, b);
  EXPECT_EQ(got.converged, 1);
  for (int i = 0; i < b; ++i)
    for (int j = 0; j < f; ++j)
      EXPECT_EQ(got.centroids[std::size_t(got.assignment[i]) * f + j], x[std::size_t(i) * f + j]);
}

TEST(KMeans, MoreClustersThanDistinctPointsLeavesTheRestEmpty) {
  // 3 distinct points, 10 copies each, 7 clusters. Small integer coordinates, so a cluster's mean
  // is exactly its point (an inexact mean of duplicates can make a re-seeded copy win them over,
  // and the clustering then oscillates until max_iters).
  const int f = 5, k = 7;
  auto distinct = test::random_vector(3 * f, 5, -8.0f, 8.0f);
  for (float& v : distinct) v = std::round(v);
  std::vector<float> x;
  for (int copy = 0; copy < 10; ++copy)
    for (int p = 0; p < 3; ++p)
      x.insert(x.end(), distinct.begin() + p * f, distinct.begin() + (p + 1) * f);
  const int b = 30;
  const auto got = device_kmeans(x, b, f, k, 10, 3, 3);
  expect_same(got, kmeans_reference(x, b, f, k, 10, 3, 3), f);
  expect_consistent(got, b, k);
  EXPECT_EQ(got.k_effective, 3);
  EXPECT_EQ(got.converged, 1);
  for (int i = 0; i < b; ++i) EXPECT_EQ(got.assignment[i], got.assignment[i % 3]);
}

TEST(KMeans, MoreClustersThanPoints) {
  const int b = 5, f = 3, k = 9;
  const auto x = test::random_vector(std::size_t(b) * f, 6);
  const auto got = device_kmeans(x, b, f, k, 10, 4, 4);
  expect_same(got, kmeans_reference(x, b, f, k, 10, 4, 4), f);
  expect_consistent(got, b, k);
  EXPECT_EQ(got.k_effective, b);
  for (int c = b; c < k; ++c) EXPECT_EQ(got.sizes[c], 0);
}

TEST(KMeans, AllPointsIdentical) {
  const int b = 40, f = 4, k = 4;
  std::vector<float> x(std::size_t(b) * f, 0.25f);
  const auto got = device_kmeans(x, b, f, k, 10, 1, 1);
  expect_same(got, kmeans_reference(x, b, f, k, 10, 1, 1), f);
  EXPECT_EQ(got.k_effective, 1);
  EXPECT_EQ(got.sizes[0], b);
}

TEST(KMeans, BitIdenticalRunToRun) {
  const int b = 1000, f = 33, k = 16;
  const auto x = test::random_vector(std::size_t(b) * f, 7);
  const auto a = device_kmeans(x, b, f, k, 10, 5, 5);
  const auto c = device_kmeans(x, b, f, k, 10, 5, 5);
  EXPECT_EQ(a.assignment, c.assignment);
  EXPECT_EQ(a.order, c.order);
  EXPECT_EQ(0, std::memcmp(a.centroids.data(), c.centroids.data(), a.centroids.size() * 4));
  EXPECT_EQ(a.iterations, c.iterations);
  // A different seed or stream gives a different seeding (and, here, a different result).
  const auto d = device_kmeans(x, b, f, k, 0, 6, 5);
  const auto e = device_kmeans(x, b, f, k, 0, 5, 5);
  EXPECT_NE(d.assignment, e.assignment);
}

// The seeding's Philox stream may come from device memory (a CUDA graph replays the launch with
// the capture's arguments): the same result as the host value, in both plans, and the value read
// at run time, not at launch.
TEST(KMeans, SeedingStreamFromDeviceMemory) {
  const int b = 300, f = 7, k = 5;
  const auto x = test::random_vector(std::size_t(b) * f, 12);
  auto dx = test::to_device(x);
  const std::uint64_t host_step = 41, other_step = 7;
  DeviceBuffer<std::uint64_t> step{std::span<const std::uint64_t>(&host_step, 1)};
  for (const KMeansPlan plan : {KMeansPlan::per_phase, KMeansPlan::fused}) {
    auto run = [&](DeviceScalar<std::uint64_t> stream) {
      auto assignment = test::poisoned<int>(b), sizes = test::poisoned<int>(k);
      auto order = test::poisoned<int>(b), offsets = test::poisoned<int>(k + 1);
      auto centroids = test::poisoned(std::size_t(k) * f);
      auto result = test::poisoned<KMeansResult>(1);
      DeviceBuffer<char> scratch(kmeans_scratch_bytes(b, f, k));
      kmeans({dx.data(), Shape{b, f}}, {k, 3, 9, stream, plan},
             {assignment.data(),
              centroids.data(),
              {order.data(), offsets.data(), sizes.data(), k, b},
              result.data()},
             scratch.data());
      return assignment.to_host();
    };
    const auto from_device = run(DeviceScalar<std::uint64_t>::read(step.data()).affine(1, 100));
    EXPECT_EQ(from_device, run(host_step + 100));
    EXPECT_EQ(from_device, kmeans_reference(x, b, f, k, 3, 9, host_step + 100).assignment);
    step.upload(std::span<const std::uint64_t>(&other_step, 1));
    EXPECT_EQ(run(DeviceScalar<std::uint64_t>::read(step.data()).affine(1, 100)),
              run(other_step + 100));
    step.upload(std::span<const std::uint64_t>(&host_step, 1));
  }
}

// The fused plan is one launch; the per-phase count depends on max_iters only: the seeding is one
// launch for any k (it was 2 * min(k, b) - 1), every other phase handles all clusters in one
// launch, and a Lloyd iteration is 3 launches (the re-seed and the bookkeeping run in the last
// block of the sort and of the assignment). Also k > b, and k not a power of two; the results
// still match the reference exactly.
TEST(KMeans, LaunchesDoNotDependOnK) {
  for (const auto& [b, f, max_iters] : {std::tuple{300, 5, 4}, std::tuple{20, 3, 2}}) {
    const auto x = test::random_vector(std::size_t(b) * f, 31 + b);
    for (int k : {2, 3, 7, 16, 33, 64}) {
      SCOPED_TRACE("b = " + std::to_string(b) + ", k = " + std::to_string(k));
      auto dx = test::to_device(x);
      auto assignment = test::poisoned<int>(b), sizes = test::poisoned<int>(k);
      auto order = test::poisoned<int>(b), offsets = test::poisoned<int>(k + 1);
      auto centroids = test::poisoned(std::size_t(k) * f);
      auto result = test::poisoned<KMeansResult>(1);
      DeviceBuffer<char> scratch(kmeans_scratch_bytes(b, f, k));
      const auto want = kmeans_reference(x, b, f, k, max_iters, 8, 9);
      for (const KMeansPlan plan : {KMeansPlan::per_phase, KMeansPlan::fused}) {
        const LaunchCounters before = launch_counters();
        kmeans({dx.data(), Shape{b, f}}, {k, max_iters, 8, 9, plan},
               {assignment.data(),
                centroids.data(),
                {order.data(), offsets.data(), sizes.data(), k, b},
                result.data()},
               scratch.data());
        const LaunchCounters ops = launch_counters() - before;
        EXPECT_EQ(ops.launches, plan == KMeansPlan::fused ? 1u : 5u + 3u * max_iters);
        EXPECT_EQ(ops.copies + ops.memsets, 0u);
        EXPECT_EQ(assignment.to_host(), want.assignment);
        EXPECT_EQ(order.to_host(), want.order);
        EXPECT_EQ(offsets.to_host(), want.offsets);
      }
    }
  }
}

TEST(KMeans, RejectsBadArguments) {
  DeviceBuffer<float> x(16);
  DeviceBuffer<int> ints(64);
  DeviceBuffer<float> cent(16 * 80);
  DeviceBuffer<KMeansResult> res(1);
  DeviceBuffer<char> scratch(kmeans_scratch_bytes(4, 4, 1));
  auto run = [&](int b, int f, int k, int iters) {
    kmeans({x.data(), Shape{b, f}}, {k, iters, 0, 0},
           {ints.data(), cent.data(), {ints.data(), ints.data(), ints.data(), k, b}, res.data()},
           scratch.data());
  };
  EXPECT_THROW(run(4, 4, 0, 10), Error);
  EXPECT_THROW(run(4, 4, kKMeansMaxClusters + 1, 10), Error);
  EXPECT_THROW(run(0, 4, 1, 10), Error);
  EXPECT_THROW(run(4, 0, 1, 10), Error);
  EXPECT_THROW(run(4, 4, 1, -1), Error);
  EXPECT_THROW(kmeans_fused_blocks_limit(0), Error);
  EXPECT_THROW(kmeans_fused_blocks_limit(kKMeansMaxClusters + 1), Error);
  // One block more than the device can keep resident at once: the device's own limit (the
  // emulator's cap; occupancy x SMs on a GPU), refused before launching and named.
  const unsigned limit = kmeans_fused_blocks_limit(2);
  ASSERT_GE(limit, 1u);
  const int too_many = static_cast<int>(limit) + 1;
  try {
    kmeans({x.data(), Shape{4, 4}}, {2, 1, 0, 0, KMeansPlan::fused, too_many},
           {ints.data(), cent.data(), {ints.data(), ints.data(), ints.data(), 2, 4}, res.data()},
           scratch.data());
    FAIL() << too_many << " cooperative blocks were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most " + std::to_string(limit)), std::string::npos)
        << e.what();
  }
}

// The largest grid the limit allows runs, and gives the reference's bits: most of its blocks
// have no tile, cluster or slice to work on and only meet the others at the grid syncs. Small
// points, so that even a GPU's several hundred blocks stay cheap.
TEST(KMeans, RunsOnTheLargestCooperativeGrid) {
  const int b = 70, f = 5, k = 3;
  const unsigned limit = kmeans_fused_blocks_limit(k);
  EXPECT_LE(kmeans_fused_blocks_limit(kKMeansMaxClusters), kmeans_fused_blocks_limit(1))
      << "more clusters take more shared memory, never fewer";
  const auto x = test::random_vector(std::size_t(b) * f, 4242);
  const auto want = kmeans_reference(x, b, f, k, 4, 31, 5);
  const auto got = device_kmeans(x, b, f, k, 4, 31, 5, KMeansPlan::fused, static_cast<int>(limit));
  expect_consistent(got, b, k);
  expect_same(got, want, f);
}

// ---- l2_normalize_rows --------------------------------------------------------------------------

class L2Normalize : public ::testing::TestWithParam<std::tuple<int, int>> {};

// Out of place: the in-place bits into a poisoned output, the input untouched, one launch (the
// reference comparison is a kernel case: kernels/cases/kmeans_cases.cpp).
TEST_P(L2Normalize, OutOfPlaceGivesTheInPlaceBitsInOneLaunch) {
  const auto [rows, cols] = GetParam();
  auto x = test::random_vector(std::size_t(rows) * cols, rows * 7 + cols);
  for (int j = 0; j < cols; ++j) x[j] = 0.0f;  // row 0 is zero
  auto dx = test::to_device(x);
  l2_normalize_rows(dx.data(), rows, cols);
  const auto src = test::to_device(x);
  auto out = test::poisoned(x.size());
  const LaunchCounters before = launch_counters();
  l2_normalize_rows(src.data(), out.data(), rows, cols);
  EXPECT_EQ((launch_counters() - before).total(), 1u);
  const auto got = out.to_host(), in_place = dx.to_host(), kept = src.to_host();
  EXPECT_EQ(std::memcmp(got.data(), in_place.data(), got.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(kept.data(), x.data(), x.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Awkward, L2Normalize,
                         ::testing::Combine(::testing::Values(1, 31, 257, 1000),
                                            ::testing::Values(1, 3, 130, 1024)));

TEST(L2NormalizeEdges, TinyRowsAreNotBlownUp) {
  std::vector<float> x = {1e-30f, 0.0f, 3.0f, 4.0f};
  auto dx = test::to_device(x);
  l2_normalize_rows(dx.data(), 2, 2);
  const auto h = dx.to_host();
  // ||(1e-30, 0)||^2 underflows in float: the row is divided by 1e-12.
  EXPECT_NEAR(h[0], 1e-18f, 1e-24f);
  EXPECT_EQ(h[1], 0.0f);
  EXPECT_FLOAT_EQ(h[2], 0.6f);
  EXPECT_FLOAT_EQ(h[3], 0.8f);
}

}  // namespace
}  // namespace gq::kernels
