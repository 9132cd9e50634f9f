// gather_rows against a direct reference (exact: it only moves values), outputs poisoned.
#include <gtest/gtest.h>

#include <tuple>

#include "kernels/gather.h"
#include "runtime/error.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

class GatherRows : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(GatherRows, CopiesTheIndexedRowsAndLabels) {
  const auto [n, batch, dim] = GetParam();
  const auto features = test::random_vector(std::size_t(n) * dim, n + dim);
  std::vector<std::int32_t> labels(n), indices(batch);
  HostRng rng(3);
  for (int i = 0; i < n; ++i) labels[i] = static_cast<std::int32_t>(rng.below(46));
  for (int b = 0; b < batch; ++b) indices[b] = static_cast<std::int32_t>(rng.below(n));
  auto d_features = test::to_device(features);
  DeviceBuffer<std::int32_t> d_labels{std::span<const std::int32_t>(labels)};
  DeviceBuffer<std::int32_t> d_indices{std::span<const std::int32_t>(indices)};
  auto out = test::poisoned(std::size_t(batch) * dim);
  auto labels_out = test::poisoned<std::int32_t>(batch);
  gather_rows(d_features.data(), d_labels.data(), d_indices.data(), batch, dim, out.data(),
              labels_out.data());
  const auto got = out.to_host();
  const auto got_labels = labels_out.to_host();
  for (int b = 0; b < batch; ++b) {
    ASSERT_EQ(got_labels[b], labels[indices[b]]) << b;
    for (int j = 0; j < dim; ++j)
      ASSERT_EQ(got[std::size_t(b) * dim + j], features[std::size_t(indices[b]) * dim + j]);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GatherRows,
                         ::testing::Values(std::tuple{1, 1, 1}, std::tuple{10, 31, 7},
                                           std::tuple{300, 64, 2000}, std::tuple{57, 257, 33}));

TEST(GatherRowsEdges, RejectsBadArguments) {
  EXPECT_THROW(gather_rows(nullptr, nullptr, nullptr, 0, 3, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace gq::kernels
