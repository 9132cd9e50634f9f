// Per-channel bias add and bias gradient against double references (conv-like and linear shapes,
// both reduction paths), outputs poisoned first, accumulation, determinism, and a
// finite-difference check of the gradient against the add.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <ostream>
#include <string>

#include "kernels/bias.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

struct BiasShape {
  int n, channels, inner;
  std::size_t size() const { return std::size_t(n) * channels * inner; }
};

void PrintTo(const BiasShape& s, std::ostream* os) {
  *os << "n" << s.n << " channels " << s.channels << " inner " << s.inner;
}

std::vector<double> grad_ref(const BiasShape& s, const std::vector<float>& dy) {
  std::vector<double> db(s.channels, 0.0);
  for (int i = 0; i < s.n; ++i)
    for (int ch = 0; ch < s.channels; ++ch)
      for (int k = 0; k < s.inner; ++k)
        db[ch] += dy[(std::size_t(i) * s.channels + ch) * s.inner + k];
  return db;
}

// Float sums of m terms of magnitude <= 1: error well under 1e-6 * m.
double sum_tolerance(const BiasShape& s) {
  return 1e-6 * s.n * s.inner + 1e-7;
}

class Bias : public ::testing::TestWithParam<BiasShape> {};

TEST_P(Bias, AddMatchesReference) {
  const BiasShape s = GetParam();
  const auto y0 = test::random_vector(s.size(), 1 + s.inner);
  const auto b = test::random_vector(s.channels, 2 + s.channels);
  auto y = test::to_device(y0), d_b = test::to_device(b);
  bias_add(y.data(), d_b.data(), s.n, s.channels, s.inner);
  std::vector<double> want(s.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    want[i] = double(y0[i]) + b[(i / s.inner) % s.channels];
  EXPECT_TRUE(test::all_close(y.to_host(), want, 1e-7, 1e-7));
}

TEST_P(Bias, GradMatchesReference) {
  const BiasShape s = GetParam();
  const auto dy = test::random_vector(s.size(), 3 + s.n);
  auto d_dy = test::to_device(dy);
  auto db = test::poisoned(s.channels);
  bias_grad(d_dy.data(), db.data(), s.n, s.channels, s.inner);
  EXPECT_TRUE(test::all_close(db.to_host(), grad_ref(s, dy), sum_tolerance(s), 0));
}

TEST_P(Bias, GradAccumulatesIntoExistingValues) {
  const BiasShape s = GetParam();
  const auto dy = test::random_vector(s.size(), 4);
  const auto start = test::random_vector(s.channels, 5);
  auto d_dy = test::to_device(dy), db = test::to_device(start);
  bias_grad(d_dy.data(), db.data(), s.n, s.channels, s.inner, /*accumulate=*/true);
  auto want = grad_ref(s, dy);
  for (int ch = 0; ch < s.channels; ++ch) want[ch] += start[ch];
  EXPECT_TRUE(test::all_close(db.to_host(), want, sum_tolerance(s), 0));
}

TEST_P(Bias, GradIsBitIdenticalRunToRun) {
  const BiasShape s = GetParam();
  auto d_dy = test::to_device(test::random_vector(s.size(), 6));
  auto a = test::poisoned(s.channels), b = test::poisoned(s.channels);
  bias_grad(d_dy.data(), a.data(), s.n, s.channels, s.inner);
  bias_grad(d_dy.data(), b.data(), s.n, s.channels, s.inner);
  const auto ha = a.to_host(), hb = b.to_host();
  EXPECT_EQ(std::memcmp(ha.data(), hb.data(), ha.size() * sizeof(float)), 0);
}

// L(b) = sum (y0 + bias) * g; dL/db = bias_grad(g). Central differences on the bias.
TEST_P(Bias, GradMatchesFiniteDifferencesOfAdd) {
  const BiasShape s = GetParam();
  const auto y0 = test::random_vector(s.size(), 7);
  const auto g = test::random_vector(s.size(), 8);
  auto b = test::random_vector(s.channels, 9);
  auto d_g = test::to_device(g), d_b = test::to_device(b), y = test::poisoned(s.size());
  auto db = test::poisoned(s.channels);
  bias_grad(d_g.data(), db.data(), s.n, s.channels, s.inner);
  const auto analytic = db.to_host();
  const auto loss = [&] {
    y.upload(y0);
    d_b.upload(b);
    bias_add(y.data(), d_b.data(), s.n, s.channels, s.inner);
    const auto hy = y.to_host();
    double l = 0;
    for (std::size_t i = 0; i < hy.size(); ++i) l += double(hy[i]) * g[i];
    return l;
  };
  HostRng pick(s.channels, 3);
  const float eps = 0.25f;  // y0 + b is rounded to float; a wide step keeps that rounding small
  for (int t = 0; t < 12; ++t) {
    const std::size_t j = pick.below(static_cast<std::uint32_t>(s.channels));
    const float b0 = b[j];
    b[j] = b0 + eps;
    const double lp = loss();
    b[j] = b0 - eps;
    const double lm = loss();
    b[j] = b0;
    const double fd = (lp - lm) / (2.0 * eps);
    EXPECT_NEAR(analytic[j], fd, 1e-6 * s.n * s.inner + 1e-3 * std::fabs(fd)) << "channel " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bias,
                         ::testing::Values(BiasShape{3, 5, 63},    // conv, block per channel
                                           BiasShape{2, 3, 4097},  // large planes
                                           BiasShape{7, 33, 1},    // linear, thread per channel
                                           BiasShape{1, 257, 1},   // linear, one sample
                                           BiasShape{3, 5, 31},    // small inner, thread path
                                           BiasShape{129, 10, 1},  // many samples, few channels
                                           BiasShape{1, 1, 1}),
                         [](const auto& info) {
                           const BiasShape& s = info.param;
                           return std::to_string(s.n) + "x" + std::to_string(s.channels) + "x" +
                                  std::to_string(s.inner);
                         });

TEST(BiasEdges, RejectsNonPositiveDims) {
  DeviceBuffer<float> buf(8);
  EXPECT_THROW(bias_add(buf.data(), buf.data(), 0, 2, 2), gq::Error);
  EXPECT_THROW(bias_add(buf.data(), buf.data(), 1, -2, 2), gq::Error);
  EXPECT_THROW(bias_grad(buf.data(), buf.data(), 1, 2, 0), gq::Error);
  EXPECT_THROW(bias_grad(nullptr, buf.data(), 1, 2, 2), gq::Error);
}

}  // namespace
}  // namespace gq::kernels
