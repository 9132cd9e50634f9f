// Inverted dropout: the kept fraction, forward/backward agreement, determinism in (seed, offset),
// p = 0 as the identity, and a finite-difference check of the backward, on awkward sizes with
// outputs poisoned first. Against the documented Philox mask and the 1/(1-p) scale it is a kernel
// case (kernels/cases/dropout_cases.cpp, run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "kernels/dropout.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

constexpr std::uint64_t kSeed = 0x5eed, kOffset = 17;

// Inputs bounded away from 0, so a kept element is never mistaken for a dropped one.
std::vector<float> nonzero_inputs(std::size_t n, std::uint64_t seed) {
  auto x = test::random_vector(n, seed, 0.5f, 2.0f);
  for (std::size_t i = 0; i < n; i += 2) x[i] = -x[i];
  return x;
}

class Dropout : public ::testing::TestWithParam<std::tuple<std::size_t, float>> {};

TEST_P(Dropout, KeptFractionIsAboutOneMinusP) {
  const auto [n, p] = GetParam();
  auto d_x = test::to_device(nonzero_inputs(n, n + 1));
  auto y = test::poisoned(n);
  dropout_forward(d_x.data(), y.data(), n, p, kSeed + n, 3);
  std::size_t kept = 0;
  for (float v : y.to_host()) kept += v != 0.0f;
  const double fraction = double(kept) / n;
  // Five binomial standard deviations, plus one element of slack for tiny n.
  const double sigma = std::sqrt(double(p) * (1 - p) / n);
  EXPECT_NEAR(fraction, 1.0 - p, 5 * sigma + 1.0 / n);
}

TEST_P(Dropout, BackwardUsesTheForwardMask) {
  const auto [n, p] = GetParam();
  const auto x = nonzero_inputs(n, n + 2);
  const auto g = nonzero_inputs(n, n + 3);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(n), dx = test::poisoned(n);
  dropout_forward(d_x.data(), y.data(), n, p, kSeed, kOffset);
  dropout_backward(d_g.data(), dx.data(), n, p, kSeed, kOffset);
  const auto hy = y.to_host(), hdx = dx.to_host();
  const float scale = 1.0f / (1.0f - p);
  for (std::size_t i = 0; i < n; ++i) {
    if (hy[i] == 0.0f)
      ASSERT_EQ(hdx[i], 0.0f) << i;
    else
      ASSERT_EQ(hdx[i], g[i] * scale) << i;
  }
}

TEST_P(Dropout, SameSeedAndOffsetGiveIdenticalOutputInPlaceToo) {
  const auto [n, p] = GetParam();
  const auto x = nonzero_inputs(n, n + 4);
  auto d_x = test::to_device(x);
  auto a = test::poisoned(n), b = test::to_device(x);
  dropout_forward(d_x.data(), a.data(), n, p, kSeed, kOffset);
  dropout_forward(b.data(), b.data(), n, p, kSeed, kOffset);  // y aliases x
  EXPECT_EQ(a.to_host(), b.to_host());
}

TEST_P(Dropout, DifferentOffsetOrSeedGivesADifferentMask) {
  const auto [n, p] = GetParam();
  if (p == 0.0f || n < 31) GTEST_SKIP() << "masks of a few elements may coincide";
  auto d_x = test::to_device(nonzero_inputs(n, n + 5));
  auto a = test::poisoned(n), b = test::poisoned(n), c = test::poisoned(n);
  dropout_forward(d_x.data(), a.data(), n, p, kSeed, kOffset);
  dropout_forward(d_x.data(), b.data(), n, p, kSeed, kOffset + 1);
  dropout_forward(d_x.data(), c.data(), n, p, kSeed + 1, kOffset);
  EXPECT_NE(a.to_host(), b.to_host());
  EXPECT_NE(a.to_host(), c.to_host());
}

// Dropout is linear in x for a fixed mask: central differences recover g * scale or 0.
TEST_P(Dropout, BackwardMatchesFiniteDifferences) {
  const auto [n, p] = GetParam();
  auto x = nonzero_inputs(n, n + 6);
  const auto g = test::random_vector(n, n + 7);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(n), dx = test::poisoned(n);
  dropout_backward(d_g.data(), dx.data(), n, p, kSeed, kOffset);
  const auto analytic = dx.to_host();
  const auto loss = [&] {
    d_x.upload(x);
    dropout_forward(d_x.data(), y.data(), n, p, kSeed, kOffset);
    const auto hy = y.to_host();
    double l = 0;
    for (std::size_t i = 0; i < n; ++i) l += double(hy[i]) * g[i];
    return l;
  };
  HostRng pick(n, 13);
  const float eps = 0.125f;
  for (int t = 0; t < 12; ++t) {
    const std::size_t j = pick.below(static_cast<std::uint32_t>(n));
    const float x0 = x[j];
    x[j] = x0 + eps;
    const float xp = x[j];
    const double lp = loss();
    x[j] = x0 - eps;
    const float xm = x[j];
    const double lm = loss();
    x[j] = x0;
    const double fd = (lp - lm) / (double(xp) - double(xm));
    EXPECT_NEAR(analytic[j], fd, 1e-4 + 1e-5 * std::fabs(fd)) << "coordinate " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(SizesAndRates, Dropout,
                         ::testing::Combine(::testing::ValuesIn(test::kAwkwardSizes),
                                            ::testing::Values(0.0f, 0.1f, 0.5f, 0.9f)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "_p" +
                                  std::to_string(int(std::get<1>(info.param) * 100));
                         });

TEST(DropoutEdges, ZeroRateIsTheIdentity) {
  const std::size_t n = 4097;
  const auto x = test::random_vector(n, 1);
  auto d_x = test::to_device(x);
  auto y = test::poisoned(n), dx = test::poisoned(n);
  dropout_forward(d_x.data(), y.data(), n, 0.0f, 9, 9);
  dropout_backward(d_x.data(), dx.data(), n, 0.0f, 9, 9);
  EXPECT_EQ(y.to_host(), x);
  EXPECT_EQ(dx.to_host(), x);
}

TEST(DropoutEdges, RejectsRatesOutsideZeroToOne) {
  DeviceBuffer<float> buf(4);
  EXPECT_THROW(dropout_forward(buf.data(), buf.data(), 4, 1.0f, 0, 0), gq::Error);
  EXPECT_THROW(dropout_forward(buf.data(), buf.data(), 4, -0.1f, 0, 0), gq::Error);
  EXPECT_THROW(dropout_backward(buf.data(), buf.data(), 4, std::nanf(""), 0, 0), gq::Error);
  EXPECT_THROW(dropout_forward(nullptr, buf.data(), 4, 0.5f, 0, 0), gq::Error);
  dropout_forward(nullptr, nullptr, 0, 0.5f, 0, 0);  // empty: nothing to do
}

}  // namespace
}  // namespace gq::kernels
