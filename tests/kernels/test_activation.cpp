// relu and exact-erf gelu: in-place use, a finite-difference check of each backward, edge values,
// and bf16 storage against the float kernel.
// Forward and backward against double references on awkward sizes are kernel cases
// (kernels/cases/activation_cases.cpp, run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "kernels/activation.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

double act_ref(Activation a, double x) {
  if (a == Activation::relu) return x > 0 ? x : 0;
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}

// Inputs in [-5, 5]; for relu, pushed at least 0.05 away from the kink at 0.
std::vector<float> inputs(Activation a, std::size_t n, std::uint64_t seed) {
  auto x = test::random_vector(n, seed, -5.0f, 5.0f);
  if (a == Activation::relu)
    for (float& v : x)
      if (std::fabs(v) < 0.05f) v = v < 0 ? v - 0.05f : v + 0.05f;
  return x;
}

class ActivationTest : public ::testing::TestWithParam<std::tuple<Activation, std::size_t>> {};

TEST_P(ActivationTest, InPlaceMatchesOutOfPlace) {
  const auto [act, n] = GetParam();
  const auto x = inputs(act, n, n + 3);
  const auto g = test::random_vector(n, n + 4);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(n), grad = test::poisoned(n);
  activation_forward(act, d_x.data(), y.data(), n);
  activation_backward(act, d_x.data(), d_g.data(), grad.data(), n);
  auto y_inplace = test::to_device(x);
  activation_forward(act, y_inplace.data(), y_inplace.data(), n);
  activation_backward(act, d_x.data(), d_g.data(), d_g.data(), n);  // dx aliases dy
  EXPECT_EQ(y_inplace.to_host(), y.to_host());
  EXPECT_EQ(d_g.to_host(), grad.to_host());
}

// L(x) = sum act(x) * g in double; central differences on a dozen coordinates against dx.
TEST_P(ActivationTest, BackwardMatchesFiniteDifferences) {
  const auto [act, n] = GetParam();
  auto x = inputs(act, n, n + 5);
  const auto g = test::random_vector(n, n + 6);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto grad = test::poisoned(n), y = test::poisoned(n);
  activation_backward(act, d_x.data(), d_g.data(), grad.data(), n);
  const auto analytic = grad.to_host();
  const auto loss = [&](const std::vector<float>& xs) {
    d_x.upload(xs);
    activation_forward(act, d_x.data(), y.data(), n);
    double l = 0;
    const auto ys = y.to_host();
    for (std::size_t i = 0; i < n; ++i) l += double(ys[i]) * g[i];
    return l;
  };
  HostRng pick(n, 77);
  const float eps = 1e-2f;
  for (int t = 0; t < 12; ++t) {
    const std::size_t j = pick.below(static_cast<std::uint32_t>(n));
    const float x0 = x[j];
    x[j] = x0 + eps;
    const float xp = x[j];
    const double lp = loss(x);
    x[j] = x0 - eps;
    const float xm = x[j];
    const double lm = loss(x);
    x[j] = x0;
    const double fd = (lp - lm) / (double(xp) - double(xm));
    EXPECT_NEAR(analytic[j], fd, 2e-4 + 1e-3 * std::fabs(fd)) << "coordinate " << j << " x " << x0;
  }
}

// bf16 storage: each result is to_bf16 of what the float kernel computes from the same
// (bf16-valued) inputs, bit for bit; in place too. Together with the float kernel's own checks this
// is the whole of the bf16 kernel's numerics.
TEST_P(ActivationTest, Bf16StorageRoundsTheFloatResultOnce) {
  const auto [act, n] = GetParam();
  const std::vector<float> x = test::rounded_to_bf16(inputs(act, n, n + 7)),
                           g = test::rounded_to_bf16(test::random_vector(n, n + 8));
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(n), dx = test::poisoned(n);
  activation_forward(act, d_x.data(), y.data(), n);
  activation_backward(act, d_x.data(), d_g.data(), dx.data(), n);
  auto d_x16 = test::to_device_bf16(x), d_g16 = test::to_device_bf16(g);
  auto y16 = test::poisoned<bf16>(n), dx16 = test::poisoned<bf16>(n);
  activation_forward(act, d_x16.data(), y16.data(), n);
  activation_backward(act, d_x16.data(), d_g16.data(), dx16.data(), n);
  activation_forward(act, d_x16.data(), d_x16.data(), n);                 // in place: y over x
  activation_backward(act, d_x16.data(), d_g16.data(), d_g16.data(), n);  // dx over dy, x now y
  const auto want_y = y.to_host(), want_dx = dx.to_host();
  const auto got_y = y16.to_host(), got_dx = dx16.to_host(), got_inplace = d_x16.to_host();
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(bits_of(got_y[i]), bits_of(to_bf16(want_y[i]))) << "y at " << i << " x " << x[i];
    ASSERT_EQ(bits_of(got_dx[i]), bits_of(to_bf16(want_dx[i]))) << "dx at " << i << " x " << x[i];
    ASSERT_EQ(bits_of(got_inplace[i]), bits_of(got_y[i])) << "in-place y at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, ActivationTest,
                         ::testing::Combine(::testing::Values(Activation::relu, Activation::gelu),
                                            ::testing::ValuesIn(test::kAwkwardSizes)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == Activation::relu
                                                  ? "relu"
                                                  : "gelu") +
                                  "_" + std::to_string(std::get<1>(info.param));
                         });

TEST(ActivationEdges, ReluPropagatesNaNAndItsBackwardSelects) {
  const std::vector<float> x = {std::nanf(""), -1.0f, 0.0f, 2.0f};
  const std::vector<float> g = {1.0f, std::nanf(""), 3.0f, 4.0f};
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(4), dx = test::poisoned(4);
  activation_forward(Activation::relu, d_x.data(), y.data(), 4);
  activation_backward(Activation::relu, d_x.data(), d_g.data(), dx.data(), 4);
  const auto hy = y.to_host(), hdx = dx.to_host();
  EXPECT_TRUE(std::isnan(hy[0]));
  EXPECT_EQ(hy[1], 0.0f);
  EXPECT_EQ(hy[3], 2.0f);
  EXPECT_EQ(hdx[1], 0.0f);  // NaN gradient at an inactive unit is dropped
  EXPECT_EQ(hdx[2], 0.0f);  // relu'(0) = 0
  EXPECT_EQ(hdx[3], 4.0f);
}

TEST(ActivationEdges, GeluKeepsRelativeAccuracyFarLeft) {
  const std::vector<float> x = {-9.0f, -7.5f, -6.0f, 8.0f};
  auto d_x = test::to_device(x);
  auto y = test::poisoned(4);
  activation_forward(Activation::gelu, d_x.data(), y.data(), 4);
  std::vector<double> want(4);
  for (int i = 0; i < 4; ++i) want[i] = act_ref(Activation::gelu, x[i]);
  EXPECT_TRUE(test::all_close(y.to_host(), want, 0, 1e-4));
}

TEST(ActivationEdges, ZeroLengthIsANoOpAndBadEnumThrows) {
  activation_forward<float>(Activation::gelu, nullptr, nullptr, 0);
  activation_backward<bf16>(Activation::relu, nullptr, nullptr, nullptr, 0);
  auto x = test::poisoned(4);
  EXPECT_THROW(activation_forward(static_cast<Activation>(7), x.data(), x.data(), 4), gq::Error);
  EXPECT_THROW(activation_forward<float>(Activation::relu, nullptr, x.data(), 4), gq::Error);
}

}  // namespace
}  // namespace gq::kernels
