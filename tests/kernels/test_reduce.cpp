// Reductions against double-precision references on awkward sizes, outputs poisoned first.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/reduce.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

class Reduce : public ::testing::TestWithParam<std::size_t> {
 protected:
  DeviceBuffer<char> scratch_{reduce_scratch_bytes()};
};

TEST_P(Reduce, SumMatchesDoubleReference) {
  const std::size_t n = GetParam();
  const auto x = test::random_vector(n, n);
  auto dx = test::to_device(x);
  auto out = test::poisoned(1);
  reduce_sum(dx.data(), n, out.data(), scratch_.data());
  double want = 0, abs_sum = 0;
  for (float v : x) want += v, abs_sum += std::fabs(v);
  // Float accumulation error grows with the sum of magnitudes.
  EXPECT_NEAR(out.to_host()[0], want, 1e-6 * abs_sum + 1e-6);
}

TEST_P(Reduce, SumOfSquaresMatchesDoubleReference) {
  const std::size_t n = GetParam();
  const auto x = test::random_vector(n, n + 1);
  auto dx = test::to_device(x);
  auto out = test::poisoned(1);
  reduce_sum_squares(dx.data(), n, out.data(), scratch_.data());
  double want = 0;
  for (float v : x) want += double(v) * v;
  EXPECT_NEAR(out.to_host()[0], want, 1e-6 * want + 1e-7);
}

TEST_P(Reduce, MaxAndArgmaxFindTheFirstMaximum) {
  const std::size_t n = GetParam();
  auto x = test::random_vector(n, n + 2);
  // Plant a tie at the maximum: the first index must win.
  const std::size_t first = n / 3, second = n - 1;
  x[first] = 5.0f;
  x[second] = 5.0f;
  auto dx = test::to_device(x);
  auto max_out = test::poisoned(1);
  auto val_out = test::poisoned(1);
  auto idx_out = test::poisoned<std::int64_t>(1);
  reduce_max(dx.data(), n, max_out.data(), scratch_.data());
  reduce_argmax(dx.data(), n, idx_out.data(), val_out.data(), scratch_.data());
  EXPECT_EQ(max_out.to_host()[0], 5.0f);
  EXPECT_EQ(val_out.to_host()[0], 5.0f);
  EXPECT_EQ(idx_out.to_host()[0], static_cast<std::int64_t>(std::min(first, second)));
}

TEST_P(Reduce, ResultIsBitIdenticalRunToRun) {
  const std::size_t n = GetParam();
  auto dx = test::to_device(test::random_vector(n, 99));
  auto a = test::poisoned(1), b = test::poisoned(1);
  reduce_sum(dx.data(), n, a.data(), scratch_.data());
  reduce_sum(dx.data(), n, b.data(), scratch_.data());
  EXPECT_EQ(std::memcmp(a.to_host().data(), b.to_host().data(), sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, Reduce, ::testing::Values(1, 31, 257, 4097, 65539, 1000003));

TEST(ReduceEdges, EmptyInputGivesIdentities) {
  DeviceBuffer<char> scratch(reduce_scratch_bytes());
  auto sum = test::poisoned(1), mx = test::poisoned(1), val = test::poisoned(1);
  auto idx = test::poisoned<std::int64_t>(1);
  reduce_sum(nullptr, 0, sum.data(), scratch.data());
  reduce_max(nullptr, 0, mx.data(), scratch.data());
  reduce_argmax(nullptr, 0, idx.data(), val.data(), scratch.data());
  EXPECT_EQ(sum.to_host()[0], 0.0f);
  EXPECT_EQ(mx.to_host()[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(idx.to_host()[0], -1);
}

TEST(ReduceEdges, NaNsAreIgnoredByMaxAndArgmax) {
  DeviceBuffer<char> scratch(reduce_scratch_bytes());
  std::vector<float> x = {std::nanf(""), -3.0f, std::nanf(""), -2.0f, -7.0f};
  auto dx = test::to_device(x);
  auto val = test::poisoned(1);
  auto idx = test::poisoned<std::int64_t>(1);
  reduce_argmax(dx.data(), x.size(), idx.data(), val.data(), scratch.data());
  EXPECT_EQ(idx.to_host()[0], 3);
  EXPECT_EQ(val.to_host()[0], -2.0f);
}

TEST(ReduceEdges, AllNegativeInfinityStillGivesARealIndex) {
  DeviceBuffer<char> scratch(reduce_scratch_bytes());
  std::vector<float> x(300, -std::numeric_limits<float>::infinity());
  auto dx = test::to_device(x);
  auto val = test::poisoned(1);
  auto idx = test::poisoned<std::int64_t>(1);
  reduce_argmax(dx.data(), x.size(), idx.data(), val.data(), scratch.data());
  EXPECT_EQ(idx.to_host()[0], 0);
}

}  // namespace
}  // namespace gq::kernels
