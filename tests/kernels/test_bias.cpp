// A finite-difference check of the bias gradient against the add (conv-like and linear shapes, both
// reduction paths), and bad dims refused. Against double references (outputs poisoned first,
// accumulation, the same bits twice) they are kernel cases (kernels/cases/bias_cases.cpp).
#include <gtest/gtest.h>

#include <cmath>
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

class Bias : public ::testing::TestWithParam<BiasShape> {};

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
