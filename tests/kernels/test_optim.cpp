// Optimizer updates against scalar double references over several steps, gradient clipping and
// the non-finite detector, on awkward sizes with outputs poisoned first.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

constexpr int kSteps = 5;
const std::vector<std::size_t> kSizes = {1, 257, 65539};

// ---- SGD --------------------------------------------------------------------------------------

struct SgdCase {
  std::size_t n;
  float momentum;
  bool nesterov;
  float weight_decay;
};

std::vector<SgdCase> sgd_cases() {
  std::vector<SgdCase> cases;
  for (std::size_t n : kSizes)
    for (SgdCase c : {SgdCase{0, 0.0f, false, 0.0f}, SgdCase{0, 0.0f, false, 1e-2f},
                      SgdCase{0, 0.9f, false, 0.0f}, SgdCase{0, 0.9f, false, 5e-4f},
                      SgdCase{0, 0.9f, true, 5e-4f}}) {
      c.n = n;
      cases.push_back(c);
    }
  return cases;
}

class Sgd : public ::testing::TestWithParam<SgdCase> {};

TEST_P(Sgd, MatchesScalarReferenceOverSeveralSteps) {
  const SgdCase c = GetParam();
  const std::size_t n = c.n;
  const auto p0 = test::random_vector(n, n + 1);
  auto param = test::to_device(p0);
  auto buf = test::to_device(std::vector<float>(n, 0.0f));
  std::vector<double> p(p0.begin(), p0.end()), b(n, 0.0);
  const float lr = 0.05f;
  for (int step = 0; step < kSteps; ++step) {
    const auto g_h = test::random_vector(n, 1000 * step + n);
    auto grad = test::to_device(g_h);
    sgd_step(param.data(), grad.data(), c.momentum > 0 ? buf.data() : nullptr, n, lr, c.momentum,
             c.nesterov, c.weight_decay);
    for (std::size_t i = 0; i < n; ++i) {
      double g = g_h[i] + double(c.weight_decay) * p[i];
      if (c.momentum > 0) {
        b[i] = c.momentum * b[i] + g;
        g = c.nesterov ? g + c.momentum * b[i] : b[i];
      }
      p[i] -= double(lr) * g;
    }
  }
  EXPECT_TRUE(test::all_close(param.to_host(), p, 1e-6, 1e-5));
  if (c.momentum > 0) {
    EXPECT_TRUE(test::all_close(buf.to_host(), b, 1e-6, 1e-5));
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, Sgd, ::testing::ValuesIn(sgd_cases()), [](const auto& info) {
  const SgdCase& c = info.param;
  return "n" + std::to_string(c.n) + (c.momentum > 0 ? "_momentum" : "_plain") +
         (c.nesterov ? "_nesterov" : "") + (c.weight_decay > 0 ? "_wd" : "");
});

TEST(SgdChecks, RejectsBadArguments) {
  DeviceBuffer<float> f(4);
  EXPECT_THROW(sgd_step(f.data(), f.data(), nullptr, 4, 0.1f, 0.9f, false, 0.0f), Error);
  EXPECT_THROW(sgd_step(f.data(), f.data(), f.data(), 4, 0.1f, 0.0f, true, 0.0f), Error);
  EXPECT_THROW(sgd_step(f.data(), f.data(), f.data(), 4, 0.1f, -0.5f, false, 0.0f), Error);
}

// ---- AdamW ------------------------------------------------------------------------------------

class AdamW : public ::testing::TestWithParam<std::size_t> {};

TEST_P(AdamW, MatchesScalarReferenceWithBiasCorrection) {
  const std::size_t n = GetParam();
  const auto p0 = test::random_vector(n, n + 2);
  auto param = test::to_device(p0);
  auto m = test::to_device(std::vector<float>(n, 0.0f));
  auto v = test::to_device(std::vector<float>(n, 0.0f));
  std::vector<double> p(p0.begin(), p0.end()), mr(n, 0.0), vr(n, 0.0);
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
  for (int step = 1; step <= kSteps; ++step) {
    const auto g_h = test::random_vector(n, 2000 * step + n);
    auto grad = test::to_device(g_h);
    adamw_step(param.data(), grad.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, step);
    for (std::size_t i = 0; i < n; ++i) {
      const double g = g_h[i];
      p[i] *= 1.0 - double(lr) * wd;
      mr[i] = b1 * mr[i] + (1.0 - b1) * g;
      vr[i] = b2 * vr[i] + (1.0 - b2) * g * g;
      const double mhat = mr[i] / (1.0 - std::pow(double(b1), step));
      const double vhat = vr[i] / (1.0 - std::pow(double(b2), step));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  // Each step moves a parameter by about lr = 1e-2, so 1e-6 is 1e-4 of a step.
  EXPECT_TRUE(test::all_close(param.to_host(), p, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(m.to_host(), mr, 1e-7, 1e-5));
  EXPECT_TRUE(test::all_close(v.to_host(), vr, 1e-9, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, AdamW, ::testing::ValuesIn(kSizes));

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

TEST_P(Clip, ScalesWhenAboveTheLimit) {
  const std::size_t n = GetParam();
  const auto g_h = test::random_vector(n, n + 3);
  const double norm = l2(g_h);
  const float max_norm = static_cast<float>(0.4 * norm);
  auto grad = test::to_device(g_h);
  auto norm_out = test::poisoned(1);
  clip_grad_norm(grad.data(), n, max_norm, norm_out.data(), scratch_.data());
  EXPECT_NEAR(norm_out.to_host()[0], norm, 1e-5 * norm);
  const double coef = max_norm / (norm + 1e-6);
  std::vector<double> want(n);
  for (std::size_t i = 0; i < n; ++i) want[i] = g_h[i] * coef;
  const auto got = grad.to_host();
  EXPECT_TRUE(test::all_close(got, want, 1e-7, 1e-5));
  EXPECT_NEAR(l2(got), max_norm, 1e-5 * max_norm);
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
