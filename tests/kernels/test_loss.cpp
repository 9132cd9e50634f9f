// Softmax cross-entropy and top-1 correctness: what their kernel cases (kernels/cases/
// loss_cases.cpp: the reference on awkward shapes, outputs poisoned) cannot say: dlogits by central
// differences of the summed loss, dlogits written over the logits, the warp tree's bits on both
// launch shapes, large logits, a single class, bad labels and arguments, ties and NaNs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "kernels/loss.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

std::vector<std::int32_t> random_labels(int n, int classes, std::uint64_t seed) {
  HostRng rng(seed, 0x1abe1);
  std::vector<std::int32_t> labels(n);
  for (auto& l : labels) l = std::min(classes - 1, static_cast<int>(rng.uniform() * classes));
  return labels;
}

DeviceBuffer<std::int32_t> to_device(const std::vector<std::int32_t>& v) {
  return DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(v));
}

// Loss of one row in double: -sum_j t_j log_softmax_j.
double row_loss(const double* l, int classes, int label, double s) {
  double m = -INFINITY;
  for (int j = 0; j < classes; ++j) m = std::max(m, l[j]);
  double sum = 0;
  for (int j = 0; j < classes; ++j) sum += std::exp(l[j] - m);
  const double lse = m + std::log(sum);
  double loss = 0;
  for (int j = 0; j < classes; ++j) {
    const double t = (j == label ? 1 - s : 0) + s / classes;
    loss -= t * (l[j] - lse);
  }
  return loss;
}

struct XentRef {
  std::vector<double> losses, dlogits;
};

XentRef xent_ref(const std::vector<float>& logits, const std::vector<std::int32_t>& labels, int n,
                 int classes, double s, double grad_scale) {
  XentRef r{std::vector<double>(n), std::vector<double>(logits.size())};
  std::vector<double> row(classes);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < classes; ++j) row[j] = logits[std::size_t(i) * classes + j];
    r.losses[i] = row_loss(row.data(), classes, labels[i], s);
    double m = -INFINITY, sum = 0;
    for (double v : row) m = std::max(m, v);
    for (double v : row) sum += std::exp(v - m);
    for (int j = 0; j < classes; ++j) {
      const double t = (j == labels[i] ? 1 - s : 0) + s / classes;
      r.dlogits[std::size_t(i) * classes + j] = grad_scale * (std::exp(row[j] - m) / sum - t);
    }
  }
  return r;
}

// (n, classes, label smoothing)
class SoftmaxXent : public ::testing::TestWithParam<std::tuple<int, int, float>> {};

TEST_P(SoftmaxXent, GradientMatchesFiniteDifferencesOfTheScaledLossSum) {
  const auto [n, classes, s] = GetParam();
  const auto logits_h = test::random_vector(std::size_t(n) * classes, n * 7 + classes, -3, 3);
  const auto labels_h = random_labels(n, classes, n * 3 + classes);
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto losses = test::poisoned(n), dlogits = test::poisoned(logits_h.size());
  const float grad_scale = 1.0f / n;
  softmax_xent(logits.data(), labels.data(), n, classes, s, losses.data(), dlogits.data(),
               grad_scale);
  const auto got = dlogits.to_host();
  // L = grad_scale * sum_i loss_i; only row i depends on logit (i, j).
  const double h = 1e-5;
  for (int t = 0; t < 12; ++t) {
    const std::size_t k = (std::size_t(t) * 7919 + 5) % logits_h.size();
    const int i = int(k / classes);
    std::vector<double> row(logits_h.begin() + std::size_t(i) * classes,
                            logits_h.begin() + std::size_t(i + 1) * classes);
    const int j = int(k % classes);
    row[j] += h;
    const double lp = row_loss(row.data(), classes, labels_h[i], s);
    row[j] -= 2 * h;
    const double lm = row_loss(row.data(), classes, labels_h[i], s);
    const double want = grad_scale * (lp - lm) / (2 * h);
    EXPECT_NEAR(got[k], want, 1e-6 + 1e-4 * std::fabs(want)) << "dlogits[" << k << "]";
  }
}

TEST_P(SoftmaxXent, GradientMayOverwriteTheLogits) {
  const auto [n, classes, s] = GetParam();
  const auto logits_h = test::random_vector(std::size_t(n) * classes, n + 3 * classes, -4, 4);
  const auto labels_h = random_labels(n, classes, n + 5);
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto losses = test::poisoned(n);
  softmax_xent(logits.data(), labels.data(), n, classes, s, losses.data(), logits.data(), 0.5f);
  const XentRef r = xent_ref(logits_h, labels_h, n, classes, s, 0.5);
  EXPECT_TRUE(test::all_close(losses.to_host(), r.losses, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(logits.to_host(), r.dlogits, 1e-7, 1e-5));
}

// Every label value once, so whichever lane owns the label's logit, a lane that writes its
// gradient early would corrupt the loss.
TEST(SoftmaxXentEdges, InPlaceGradientWithEveryLabel) {
  const int classes = 46, n = classes;
  const auto logits_h = test::random_vector(std::size_t(n) * classes, 91, -4, 4);
  std::vector<std::int32_t> labels_h(n);
  for (int i = 0; i < n; ++i) labels_h[i] = i;
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto losses = test::poisoned(n);
  softmax_xent(logits.data(), labels.data(), n, classes, 0.1f, losses.data(), logits.data(), 1.0f);
  const XentRef r = xent_ref(logits_h, labels_h, n, classes, 0.1, 1.0);
  EXPECT_TRUE(test::all_close(losses.to_host(), r.losses, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(logits.to_host(), r.dlogits, 1e-7, 1e-5));
}

// The kernels' arithmetic in float on the host: lane l of a warp takes classes l, l + 32, ... and
// the lanes combine in the warp's butterfly, as lane 0 sees it. Both launch shapes (the GPU's warp
// per row, which the GQ_EMU_GPU_DECISIONS build runs, and the emulator's thread per row) must give
// these bits exactly: a training run's bits do not depend on which of the two ran its loss.
template <class Op>
float warp_tree(std::vector<float> lanes, Op op) {
  for (int half = 16; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) lanes[l] = op(lanes[l], lanes[l + half]);
  return lanes[0];
}

TEST_P(SoftmaxXent, BitsAreTheWarpTreeOnBothLaunchShapes) {
  const auto [n, classes, s] = GetParam();
  const auto logits_h = test::random_vector(std::size_t(n) * classes, n * 7 + classes, -6, 6);
  const auto labels_h = random_labels(n, classes, n + 3 * classes);
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto losses = test::poisoned(n), dlogits = test::poisoned(logits_h.size());
  const float grad_scale = 1.0f / 3.0f;
  softmax_xent(logits.data(), labels.data(), n, classes, s, losses.data(), dlogits.data(),
               grad_scale);
  std::vector<float> want_loss(n), want_d(logits_h.size());
  const float off = s / static_cast<float>(classes), on = 1.0f - s + off;
  auto add = [](float a, float b) { return a + b; };
  for (int i = 0; i < n; ++i) {
    const float* l = logits_h.data() + std::size_t(i) * classes;
    std::vector<float> mx(32, -INFINITY), se(32, 0.0f), sz(32, 0.0f);
    for (int j = 0; j < classes; ++j) mx[j % 32] = std::fmax(mx[j % 32], l[j]);
    const float m = warp_tree(mx, [](float a, float b) { return std::fmax(a, b); });
    for (int j = 0; j < classes; ++j) {
      se[j % 32] += std::exp(l[j] - m);
      sz[j % 32] += l[j] - m;
    }
    const float sum_exp = warp_tree(se, add), sum_z = warp_tree(sz, add);
    const float log_sum = std::log(sum_exp);
    float loss = (1.0f - s) * (log_sum - (l[labels_h[i]] - m));
    if (s > 0.0f) loss = std::fma(off, static_cast<float>(classes) * log_sum - sum_z, loss);
    want_loss[i] = loss;
    const float inv_sum = 1.0f / sum_exp;
    for (int j = 0; j < classes; ++j)
      want_d[std::size_t(i) * classes + j] =
          grad_scale * (std::exp(l[j] - m) * inv_sum - (j == labels_h[i] ? on : off));
  }
  EXPECT_TRUE(test::all_close(losses.to_host(), want_loss, 0, 0));
  EXPECT_TRUE(test::all_close(dlogits.to_host(), want_d, 0, 0));
}

INSTANTIATE_TEST_SUITE_P(AwkwardShapes, SoftmaxXent,
                         ::testing::Combine(::testing::Values(1, 31, 257),
                                            ::testing::Values(10, 46, 90),
                                            ::testing::Values(0.0f, 0.1f)));

TEST(SoftmaxXentEdges, LargeLogitsStayFinite) {
  const int n = 31, classes = 46;
  auto logits_h = test::random_vector(std::size_t(n) * classes, 77);
  for (float& v : logits_h) v = v < 0 ? -80.0f + v : 80.0f + v;  // +-80 plus noise
  const auto labels_h = random_labels(n, classes, 78);
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  for (float s : {0.0f, 0.1f}) {
    auto losses = test::poisoned(n), dlogits = test::poisoned(logits_h.size());
    softmax_xent(logits.data(), labels.data(), n, classes, s, losses.data(), dlogits.data(),
                 1.0f / n);
    const XentRef r = xent_ref(logits_h, labels_h, n, classes, s, 1.0 / n);
    const auto got = losses.to_host();
    for (float v : got) EXPECT_TRUE(std::isfinite(v));
    EXPECT_TRUE(test::all_close(got, r.losses, 1e-4, 1e-5));
    EXPECT_TRUE(test::all_close(dlogits.to_host(), r.dlogits, 1e-7, 1e-5));
  }
}

TEST(SoftmaxXentEdges, SingleClassHasZeroLoss) {
  const int n = 5;
  auto logits = test::to_device(test::random_vector(n, 3));
  auto labels = to_device(std::vector<std::int32_t>(n, 0));
  auto losses = test::poisoned(n), dlogits = test::poisoned(n);
  softmax_xent(logits.data(), labels.data(), n, 1, 0.1f, losses.data(), dlogits.data(), 1.0f);
  for (float v : losses.to_host()) EXPECT_NEAR(v, 0.0f, 1e-7);
  for (float v : dlogits.to_host()) EXPECT_NEAR(v, 0.0f, 1e-7);
}

TEST(SoftmaxXentEdges, BadLabelGivesANaNRowAndLeavesOthersAlone) {
  const int n = 5, classes = 10;
  const auto logits_h = test::random_vector(std::size_t(n) * classes, 4);
  std::vector<std::int32_t> labels_h = {3, -1, 9, classes, 0};
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto losses = test::poisoned(n), dlogits = test::poisoned(logits_h.size());
  softmax_xent(logits.data(), labels.data(), n, classes, 0.0f, losses.data(), dlogits.data(), 1.0f);
  const auto got = losses.to_host();
  const auto grad = dlogits.to_host();
  auto good = labels_h;
  good[1] = good[3] = 0;
  const XentRef r = xent_ref(logits_h, good, n, classes, 0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const bool bad = i == 1 || i == 3;
    EXPECT_EQ(std::isnan(got[i]), bad) << "row " << i;
    if (!bad) {
      EXPECT_NEAR(got[i], r.losses[i], 1e-5);
    }
    for (int j = 0; j < classes; ++j) {
      const float g = grad[std::size_t(i) * classes + j];
      if (bad) {
        EXPECT_TRUE(std::isnan(g));
      } else {
        EXPECT_NEAR(g, r.dlogits[std::size_t(i) * classes + j], 1e-6);
      }
    }
  }
}

TEST(SoftmaxXentEdges, RejectsBadArguments) {
  DeviceBuffer<float> f(4);
  DeviceBuffer<std::int32_t> l(4);
  EXPECT_THROW(softmax_xent(f.data(), l.data(), 2, 0, 0.0f, f.data(), nullptr, 1.0f), Error);
  EXPECT_THROW(softmax_xent(f.data(), l.data(), -1, 2, 0.0f, f.data(), nullptr, 1.0f), Error);
  EXPECT_THROW(softmax_xent(f.data(), l.data(), 2, 2, 1.5f, f.data(), nullptr, 1.0f), Error);
  EXPECT_THROW(correct_predictions(f.data(), l.data(), 2, 0, l.data()), Error);
  // n == 0 writes nothing and does not throw.
  softmax_xent(nullptr, nullptr, 0, 3, 0.0f, nullptr, nullptr, 1.0f);
  correct_predictions(nullptr, nullptr, 0, 3, nullptr);
}

// ---- correct_predictions ----------------------------------------------------------------------

TEST(CorrectEdges, TiesGoToTheFirstIndexAndNaNsAreIgnored) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits_h = {1, 3, 3, 0, nan, 2, nan, 1, 5, 5, 5, 5};
  const std::vector<std::int32_t> labels_h = {2, 1, 0};
  auto logits = test::to_device(logits_h);
  auto labels = to_device(labels_h);
  auto correct = test::poisoned<std::int32_t>(3);
  correct_predictions(logits.data(), labels.data(), 3, 4, correct.data());
  EXPECT_EQ(correct.to_host(), (std::vector<std::int32_t>{0, 1, 1}));
}

}  // namespace
}  // namespace gq::kernels
