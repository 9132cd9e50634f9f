// Elementwise kernels against scalar references on awkward sizes, outputs poisoned first.
#include <gtest/gtest.h>

#include "kernels/elementwise.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

class Elementwise : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Elementwise, Fill) {
  const std::size_t n = GetParam();
  auto x = test::poisoned(n);
  fill(x.data(), n, 2.5f);
  for (float v : x.to_host()) ASSERT_EQ(v, 2.5f);
}

TEST_P(Elementwise, ScaleInPlace) {
  const std::size_t n = GetParam();
  const auto h = test::random_vector(n, 1);
  auto x = test::to_device(h);
  scale(x.data(), n, -0.75f);
  std::vector<double> want(n);
  for (std::size_t i = 0; i < n; ++i) want[i] = -0.75 * h[i];
  EXPECT_TRUE(test::all_close(x.to_host(), want, 0, 1e-7));
}

TEST_P(Elementwise, Axpy) {
  const std::size_t n = GetParam();
  const auto hx = test::random_vector(n, 2), hy = test::random_vector(n, 3);
  auto x = test::to_device(hx), y = test::to_device(hy);
  axpy(n, 0.3f, x.data(), y.data());
  std::vector<double> want(n);
  for (std::size_t i = 0; i < n; ++i) want[i] = 0.3 * hx[i] + hy[i];
  EXPECT_TRUE(test::all_close(y.to_host(), want, 1e-7, 1e-6));
}

TEST_P(Elementwise, AddScaledAndMultiply) {
  const std::size_t n = GetParam();
  const auto ha = test::random_vector(n, 4), hb = test::random_vector(n, 5);
  auto a = test::to_device(ha), b = test::to_device(hb);
  auto out = test::poisoned(n), prod = test::poisoned(n);
  add_scaled(n, 2.0f, a.data(), -0.5f, b.data(), out.data());
  multiply(n, a.data(), b.data(), prod.data());
  std::vector<double> want(n), want_prod(n);
  for (std::size_t i = 0; i < n; ++i) {
    want[i] = 2.0 * ha[i] - 0.5 * hb[i];
    want_prod[i] = double(ha[i]) * hb[i];
  }
  EXPECT_TRUE(test::all_close(out.to_host(), want, 1e-7, 1e-6));
  EXPECT_TRUE(test::all_close(prod.to_host(), want_prod, 1e-7, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, Elementwise, ::testing::Values(1, 31, 257, 4097, 65539));

TEST(ElementwiseEdges, ZeroLengthTouchesNothing) {
  auto x = test::poisoned(4);
  fill(x.data(), 0, 1.0f);
  for (float v : x.to_host()) EXPECT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace gq::kernels
