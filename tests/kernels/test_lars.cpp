// LARS against a scalar double reference over several steps: tensors of awkward sizes (a single
// element, a zero tensor, one longer than a block's share), adapted and plain tensors, a skipped
// step, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "kernels/lars.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

struct Reference {
  std::vector<double> p, buf, trust;
};

// One LARS step in double, as kernels/lars.h defines it.
void reference_step(Reference& r, const std::vector<float>& g, const std::vector<int>& offsets,
                    int adapted, double lr, double momentum, double wd, double eta) {
  const int tensors = static_cast<int>(offsets.size()) - 1;
  r.trust.assign(tensors, 1.0);
  for (int t = 0; t < tensors; ++t) {
    double ww = 0, gg = 0;
    for (int e = offsets[t]; e < offsets[t + 1]; ++e) {
      ww += r.p[e] * r.p[e];
      gg += double(g[e]) * g[e];
    }
    const double wn = std::sqrt(ww), gn = std::sqrt(gg);
    if (t < adapted && wn > 0 && gn > 0) r.trust[t] = eta * wn / (gn + wd * wn);
    for (int e = offsets[t]; e < offsets[t + 1]; ++e) {
      const double gp = t < adapted ? r.trust[t] * (g[e] + wd * r.p[e]) : double(g[e]);
      r.buf[e] = momentum * r.buf[e] + gp;
      r.p[e] -= lr * r.buf[e];
    }
  }
}

class Lars : public ::testing::TestWithParam<int> {};  // param: adapted tensors

TEST_P(Lars, MatchesScalarReferenceOverSeveralSteps) {
  const int adapted = GetParam();
  const std::vector<int> sizes = {1, 300, 7, 70001, 33};
  std::vector<int> offsets = {0};
  for (int s : sizes) offsets.push_back(offsets.back() + s);
  const std::size_t n = offsets.back();
  auto p0 = test::random_vector(n, 5);
  for (int e = offsets[2]; e < offsets[3]; ++e) p0[e] = 0.0f;  // a zero tensor: trust 1
  const int tensors = static_cast<int>(sizes.size());
  auto param = test::to_device(p0);
  auto buf = test::to_device(std::vector<float>(n, 0.0f));
  auto doffsets = DeviceBuffer<int>(std::span<const int>(offsets));
  auto trust = test::poisoned(tensors);
  Reference r{{p0.begin(), p0.end()}, std::vector<double>(n, 0.0), {}};
  const float lr = 0.5f, momentum = 0.9f, wd = 5e-4f, eta = 0.02f;
  for (int step = 0; step < 4; ++step) {
    const auto g = test::random_vector(n, 100 + step);
    auto grad = test::to_device(g);
    lars_step(param.data(), grad.data(), buf.data(), n, doffsets.data(), tensors, adapted, lr,
              momentum, wd, eta, trust.data());
    reference_step(r, g, offsets, adapted, lr, momentum, wd, eta);
    EXPECT_TRUE(test::all_close(trust.to_host(), r.trust, 1e-6, 1e-5)) << "step " << step;
    EXPECT_TRUE(test::all_close(buf.to_host(), r.buf, 1e-6, 1e-4)) << "step " << step;
    EXPECT_TRUE(test::all_close(param.to_host(), r.p, 1e-6, 1e-4)) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(AdaptedTensors, Lars, ::testing::Values(0, 2, 5));

TEST(LarsStep, ASkippedStepChangesNothing) {
  const std::vector<int> offsets = {0, 10, 25};
  auto p0 = test::random_vector(25, 1);
  auto param = test::to_device(p0);
  auto buf = test::to_device(std::vector<float>(25, 0.5f));
  auto grad = test::to_device(test::random_vector(25, 2));
  auto doffsets = DeviceBuffer<int>(std::span<const int>(offsets));
  auto trust = test::poisoned(2);
  auto apply = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(std::vector<int>{0}));
  lars_step(param.data(), grad.data(), buf.data(), 25, doffsets.data(), 2, 1, 0.1f, 0.9f, 1e-4f,
            0.001f, trust.data(), nullptr, apply.data());
  EXPECT_EQ(param.to_host(), p0);
  EXPECT_EQ(buf.to_host(), std::vector<float>(25, 0.5f));
}

TEST(LarsStep, BadArgumentsAreReported) {
  DeviceBuffer<float> p(4), g(4), b(4), t(1);
  DeviceBuffer<int> off(2);
  EXPECT_THROW(lars_step(p.data(), g.data(), b.data(), 4, off.data(), 1, 2, 0.1f, 0.9f, 0.0f,
                         0.001f, t.data()),
               Error);  // adapted > tensors
  EXPECT_THROW(lars_step(p.data(), g.data(), b.data(), 4, off.data(), 1, 1, 0.1f, 0.9f, 0.0f,
                         0.0f, t.data()),
               Error);  // eta = 0
  EXPECT_THROW(lars_step(p.data(), nullptr, b.data(), 4, off.data(), 1, 1, 0.1f, 0.9f, 0.0f,
                         0.001f, t.data()),
               Error);
}

}  // namespace
}  // namespace gq::kernels
