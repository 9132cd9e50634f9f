// The optimizer kernels: what their kernel cases (kernels/cases/optim_cases.cpp: SGD and AdamW
// steps, clipping above the limit and the non-finite detector against double references on
// awkward sizes) cannot say: argument checks, clipping below the limit leaves the gradient's bits,
// a non-finite gradient poisons it, NaN and infinities found anywhere, the device skip flag.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

const std::vector<std::size_t> kSizes = {1, 257, 65539};

// ---- SGD --------------------------------------------------------------------------------------

TEST(SgdChecks, RejectsBadArguments) {
  DeviceBuffer<float> f(4);
  EXPECT_THROW(sgd_step(f.data(), f.data(), nullptr, 4, 0.1f, 0.9f, false, 0.0f), Error);
  EXPECT_THROW(sgd_step(f.data(), f.data(), f.data(), 4, 0.1f, 0.0f, true, 0.0f), Error);
  EXPECT_THROW(sgd_step(f.data(), f.data(), f.data(), 4, 0.1f, -0.5f, false, 0.0f), Error);
}

// ---- AdamW ------------------------------------------------------------------------------------

TEST(AdamWChecks, RejectsBadArguments) {
  DeviceBuffer<float> f(4);
  float* p = f.data();
  EXPECT_THROW(adamw_step(p, p, p, p, 4, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0), Error);
  EXPECT_THROW(adamw_step(p, p, p, p, 4, 1e-3f, 1.0f, 0.999f, 1e-8f, 0.0f, 1), Error);
  EXPECT_THROW(adamw_step(p, p, p, p, 4, 1e-3f, 0.9f, 0.999f, 0.0f, 0.0f, 1), Error);
}

// ---- clip_grad_norm ---------------------------------------------------------------------------

class Clip : public ::testing::TestWithParam<std::size_t> {
 protected:
  DeviceBuffer<char> scratch_{reduce_scratch_bytes()};
};

double l2(const std::vector<float>& g) {
  double s = 0;
  for (float v : g) s += double(v) * v;
  return std::sqrt(s);
}

TEST_P(Clip, LeavesGradientUntouchedWhenBelowTheLimit) {
  const std::size_t n = GetParam();
  const auto g_h = test::random_vector(n, n + 4);
  const double norm = l2(g_h);
  auto grad = test::to_device(g_h);
  auto norm_out = test::poisoned(1);
  clip_grad_norm(grad.data(), n, static_cast<float>(2 * norm), norm_out.data(), scratch_.data());
  EXPECT_NEAR(norm_out.to_host()[0], norm, 1e-5 * norm);
  const auto got = grad.to_host();
  EXPECT_EQ(std::memcmp(got.data(), g_h.data(), n * sizeof(float)), 0);
}

TEST_P(Clip, NonFiniteGradientGivesANonFiniteNormAndPoisonsTheGradient) {
  const std::size_t n = GetParam();
  auto g_h = test::random_vector(n, n + 5);
  g_h[n - 1] = std::numeric_limits<float>::quiet_NaN();
  auto grad = test::to_device(g_h);
  auto norm_out = test::poisoned(1);
  clip_grad_norm(grad.data(), n, 1.0f, norm_out.data(), scratch_.data());
  EXPECT_TRUE(std::isnan(norm_out.to_host()[0]));
  for (float v : grad.to_host()) ASSERT_TRUE(std::isnan(v));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, Clip, ::testing::ValuesIn(kSizes));

TEST(ClipEdges, EmptyGradientHasZeroNorm) {
  DeviceBuffer<char> scratch(reduce_scratch_bytes());
  auto norm_out = test::poisoned(1);
  clip_grad_norm(nullptr, 0, 1.0f, norm_out.data(), scratch.data());
  EXPECT_EQ(norm_out.to_host()[0], 0.0f);
  EXPECT_THROW(clip_grad_norm(nullptr, 0, 0.0f, norm_out.data(), scratch.data()), Error);
}

// ---- any_nonfinite ----------------------------------------------------------------------------

class AnyNonfinite : public ::testing::TestWithParam<std::size_t> {
 protected:
  std::int32_t run(const std::vector<float>& x) {
    auto dx = test::to_device(x);
    auto flag = test::poisoned<std::int32_t>(1);
    any_nonfinite(dx.data(), x.size(), flag.data(), scratch_.data());
    return flag.to_host()[0];
  }
  DeviceBuffer<char> scratch_{reduce_scratch_bytes()};
};

TEST_P(AnyNonfinite, FindsNaNAndInfAnywhere) {
  const std::size_t n = GetParam();
  auto x = test::random_vector(n, n + 6, -1e30f, 1e30f);
  x[0] = std::numeric_limits<float>::max();
  x[n / 2] = -std::numeric_limits<float>::max();
  EXPECT_EQ(run(x), 0);
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), inf, -inf}) {
    for (std::size_t at : {n - 1, std::size_t{0}, n / 3}) {
      auto y = x;
      y[at] = bad;
      EXPECT_EQ(run(y), 1) << "value " << bad << " at " << at;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, AnyNonfinite,
                         ::testing::Values(1, 31, 257, 4097, 65539, 1000003));

TEST(AnyNonfiniteEdges, EmptyInputIsClean) {
  DeviceBuffer<char> scratch(reduce_scratch_bytes());
  auto flag = test::poisoned<std::int32_t>(1);
  any_nonfinite(nullptr, 0, flag.data(), scratch.data());
  EXPECT_EQ(flag.to_host()[0], 0);
}

}  // namespace
}  // namespace gq::kernels

namespace gq::kernels {
namespace {

// A zero apply flag (decided on the device) leaves every buffer untouched; a one flag is the same
// as no flag.
TEST(OptimizerApplyFlag, ZeroSkipsTheStepOneApplies) {
  const std::size_t n = 257;
  const auto p0 = test::random_vector(n, 1), g = test::random_vector(n, 2);
  for (bool adam : {false, true}) {
    for (int flag : {0, 1}) {
      auto p = test::to_device(p0), grad = test::to_device(g), ref = test::to_device(p0);
      DeviceBuffer<float> m(n), v(n), m_ref(n), v_ref(n);
      for (auto* b : {&m, &v, &m_ref, &v_ref}) b->fill_bytes(0);
      DeviceBuffer<std::int32_t> apply(std::vector<std::int32_t>{flag});
      if (adam) {
        adamw_step(p.data(), grad.data(), m.data(), v.data(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f,
                   1, nullptr, apply.data());
        adamw_step(ref.data(), grad.data(), m_ref.data(), v_ref.data(), n, 1e-2f, 0.9f, 0.999f,
                   1e-8f, 0.1f, 1);
      } else {
        sgd_step(p.data(), grad.data(), m.data(), n, 0.1f, 0.9f, true, 0.01f, nullptr,
                 apply.data());
        sgd_step(ref.data(), grad.data(), m_ref.data(), n, 0.1f, 0.9f, true, 0.01f);
      }
      if (flag == 0) {
        EXPECT_EQ(p.to_host(), p0) << (adam ? "adamw" : "sgd");
        for (float x : m.to_host()) ASSERT_EQ(x, 0.0f);
      } else {
        EXPECT_EQ(p.to_host(), ref.to_host()) << (adam ? "adamw" : "sgd");
        EXPECT_EQ(m.to_host(), m_ref.to_host());
      }
    }
  }
}

}  // namespace
}  // namespace gq::kernels
