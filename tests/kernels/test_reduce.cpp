// Reductions at their edges: empty input, NaNs, all -infinity. Against double-precision references
// on awkward sizes, outputs poisoned first, they are kernel cases (kernels/cases/reduce_cases.cpp,
// run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/reduce.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

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
