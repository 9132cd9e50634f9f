// Random fills: exact agreement with the host Philox, and sane moments.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/random.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

class RandomFill : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RandomFill, UniformMatchesHostPhiloxExactly) {
  const std::size_t n = GetParam();
  auto x = test::poisoned(n);
  fill_uniform(x.data(), n, -0.5f, 1.5f, 77, 3);
  const auto got = x.to_host();
  for (std::size_t i = 0; i < n; ++i) {
    const Philox4 r = philox_random4(77, 3, i / 4);
    ASSERT_EQ(got[i], -0.5f + 2.0f * uniform01(r.v[i % 4])) << i;
  }
}

TEST_P(RandomFill, NormalMatchesHostPhiloxExactly) {
  const std::size_t n = GetParam();
  auto x = test::poisoned(n);
  fill_normal(x.data(), n, 1.0f, 0.5f, 5, 9);
  const auto got = x.to_host();
  for (std::size_t i = 0; i < n; ++i) {
    const Philox4 r = philox_random4(5, 9, i / 4);
    float z[4];
    normal2(r.v[0], r.v[1], z[0], z[1]);
    normal2(r.v[2], r.v[3], z[2], z[3]);
    ASSERT_NEAR(got[i], 1.0f + 0.5f * z[i % 4], 1e-6f) << i;  // nvcc may fuse the multiply-add
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, RandomFill, ::testing::Values(1, 31, 257, 4097, 65539));

TEST(RandomFillMoments, NormalHasUnitVariance) {
  const std::size_t n = 100003;
  auto x = test::poisoned(n);
  fill_normal(x.data(), n, 0.0f, 1.0f, 11, 0);
  double s = 0, s2 = 0;
  for (float v : x.to_host()) s += v, s2 += double(v) * v;
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
}

}  // namespace
}  // namespace gq::kernels
