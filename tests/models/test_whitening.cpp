// The whitening stem: per-image patch Gram matrices against a double reference (awkward shapes,
// poisoned output); the covariance independent of chunking; symmetric_eigen against a separate
// double-precision Jacobi solver (largest-pivot order, written here) and against A v = lambda v;
// the filters: W C W^T = diag(lambda / (lambda + eps)), descending, and the concat with -W; the
// layer: frozen weight, forward against a direct convolution, bias gradient, no weight gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "kernels/patch_covariance.h"
#include "models/sequential.h"
#include "models/whitening.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

std::vector<double> gram_reference(const std::vector<float>& x, int i, int c, int h, int w, int p) {
  const int d = c * p * p;
  std::vector<double> g(std::size_t(d) * d, 0.0);
  const float* img = x.data() + std::size_t(i) * c * h * w;
  std::vector<double> patch(d);
  for (int y = 0; y + p <= h; ++y)
    for (int xo = 0; xo + p <= w; ++xo) {
      for (int ch = 0; ch < c; ++ch)
        for (int dy = 0; dy < p; ++dy)
          for (int dx = 0; dx < p; ++dx)
            patch[(ch * p + dy) * p + dx] = img[(std::size_t(ch) * h + y + dy) * w + xo + dx];
      for (int a = 0; a < d; ++a)
        for (int b = 0; b < d; ++b) g[std::size_t(a) * d + b] += patch[a] * patch[b];
    }
  return g;
}

class PatchGram : public ::testing::TestWithParam<std::tuple<int, int, int, int, int>> {};

TEST_P(PatchGram, MatchesTheDoubleReference) {
  const auto [n, c, h, w, p] = GetParam();
  const int d = c * p * p;
  const auto hx = test::random_vector(std::size_t(n) * c * h * w, 13 + h, -2.0f, 2.0f);
  const auto x = test::to_device(hx);
  auto gram = test::poisoned(std::size_t(n) * d * d);
  kernels::patch_gram(x.data(), n, c, h, w, p, gram.data());
  const auto got = gram.to_host();
  for (int i = 0; i < n; ++i) {
    const auto want = gram_reference(hx, i, c, h, w, p);
    const std::span<const float> g(got.data() + std::size_t(i) * d * d, std::size_t(d) * d);
    ASSERT_TRUE(test::all_close(g, want, 1e-4, 1e-5)) << "image " << i;
    for (int a = 0; a < d; ++a)
      for (int b = 0; b < d; ++b) ASSERT_EQ(g[a * d + b], g[b * d + a]);  // exactly symmetric
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PatchGram,
                         ::testing::Values(std::make_tuple(3, 3, 32, 32, 2),
                                           std::make_tuple(5, 3, 7, 5, 2),
                                           std::make_tuple(1, 1, 2, 2, 2),
                                           std::make_tuple(2, 2, 6, 9, 3),
                                           std::make_tuple(31, 1, 4, 3, 1),
                                           std::make_tuple(2, 4, 5, 5, 4)));

TEST(PatchCovarianceTest, SameForAnyChunkingAndDividedByThePatchCount) {
  const int n = 11, c = 3, h = 9, w = 8, p = 2, d = 12;
  const auto hx = test::random_vector(std::size_t(n) * c * h * w, 21);
  const auto x = test::to_device(hx);
  PatchCovariance whole(n, c, h, w, p), chunks(4, c, h, w, p);
  whole.add(x.data(), n);
  for (int first = 0; first < n; first += 4)
    chunks.add(x.data() + std::size_t(first) * c * h * w, std::min(4, n - first));
  EXPECT_EQ(whole.covariance(), chunks.covariance());
  std::vector<double> want(std::size_t(d) * d, 0.0);
  for (int i = 0; i < n; ++i) {
    const auto g = gram_reference(hx, i, c, h, w, p);
    for (std::size_t e = 0; e < want.size(); ++e) want[e] += g[e];
  }
  const double patches = double(n) * (h - 1) * (w - 1);
  const auto cov = whole.covariance();
  for (std::size_t e = 0; e < want.size(); ++e) EXPECT_NEAR(cov[e], want[e] / patches, 1e-6);
  EXPECT_THROW(PatchCovariance(4, c, h, w, p).covariance(), gq::Error);
  EXPECT_THROW(chunks.add(x.data(), 5), gq::Error);
}

// ---- the eigendecomposition against an independent solver -----------------------------------

// Classical Jacobi: rotate away the largest off-diagonal element until none is left.
struct Reference {
  std::vector<double> values, vectors;  // vectors: column k = eigenvector of values[k]
};
Reference jacobi_largest_pivot(std::vector<double> a, int d) {
  if (d == 1) return {{a[0]}, {1.0}};  // no off-diagonal element to pivot on
  std::vector<double> v(std::size_t(d) * d, 0.0);
  for (int i = 0; i < d; ++i) v[i * d + i] = 1.0;
  for (int iter = 0; iter < 100 * d * d; ++iter) {
    int p = 0, q = 1;
    for (int i = 0; i < d; ++i)
      for (int j = i + 1; j < d; ++j)
        if (std::fabs(a[i * d + j]) > std::fabs(a[p * d + q])) p = i, q = j;
    if (std::fabs(a[p * d + q]) < 1e-15) break;
    const double phi = 0.5 * std::atan2(2 * a[p * d + q], a[q * d + q] - a[p * d + p]);
    const double c = std::cos(phi), s = std::sin(phi);
    for (int k = 0; k < d; ++k) {
      const double akp = a[k * d + p], akq = a[k * d + q];
      a[k * d + p] = c * akp - s * akq;
      a[k * d + q] = s * akp + c * akq;
      const double vkp = v[k * d + p], vkq = v[k * d + q];
      v[k * d + p] = c * vkp - s * vkq;
      v[k * d + q] = s * vkp + c * vkq;
    }
    for (int k = 0; k < d; ++k) {
      const double apk = a[p * d + k], aqk = a[q * d + k];
      a[p * d + k] = c * apk - s * aqk;
      a[q * d + k] = s * apk + c * aqk;
    }
  }
  Reference r{std::vector<double>(d), v};
  for (int i = 0; i < d; ++i) r.values[i] = a[i * d + i];
  return r;
}

// A symmetric positive semi-definite matrix with spread-out eigenvalues: B^T B / m + small ridge.
std::vector<double> random_spd(int d, std::uint64_t seed) {
  const int m = 3 * d;
  const auto b = test::random_vector(std::size_t(m) * d, seed);
  std::vector<double> a(std::size_t(d) * d, 0.0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      for (int k = 0; k < m; ++k) a[i * d + j] += double(b[k * d + i]) * b[k * d + j] * (1 + k % 5);
      a[i * d + j] /= m;
    }
  return a;
}

TEST(SymmetricEigen, AgreesWithAnIndependentJacobiSolver) {
  for (const int d : {1, 2, 5, 12, 27}) {
    const auto a = random_spd(d, 40 + d);
    const SymmetricEigen e = symmetric_eigen(a, d);
    Reference r = jacobi_largest_pivot(a, d);
    std::vector<int> order(d);
    for (int i = 0; i < d; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int i, int j) { return r.values[i] > r.values[j]; });
    for (int k = 0; k < d; ++k) {
      ASSERT_NEAR(e.values[k], r.values[order[k]], 1e-12 * (1 + std::fabs(r.values[order[k]])));
      if (k > 0) {
        EXPECT_GE(e.values[k - 1], e.values[k]);
      }
      // The same vector up to sign; and A v = lambda v.
      double dot = 0, residual = 0;
      for (int i = 0; i < d; ++i) dot += e.vectors[k * d + i] * r.vectors[i * d + order[k]];
      EXPECT_NEAR(std::fabs(dot), 1.0, 1e-9) << "d " << d << " vector " << k;
      for (int i = 0; i < d; ++i) {
        double av = 0;
        for (int j = 0; j < d; ++j) av += a[i * d + j] * e.vectors[k * d + j];
        residual = std::max(residual, std::fabs(av - e.values[k] * e.vectors[k * d + i]));
      }
      EXPECT_LT(residual, 1e-12) << "d " << d << " vector " << k;
      const auto biggest = std::max_element(
          e.vectors.begin() + k * d, e.vectors.begin() + (k + 1) * d,
          [](double x, double y) { return std::fabs(x) < std::fabs(y); });
      EXPECT_GT(*biggest, 0.0);  // the sign convention
    }
  }
}

// ---- the filters ------------------------------------------------------------------------------

std::vector<double> image_covariance(int n, std::uint64_t seed) {
  // Correlated "images": neighbouring pixels and channels share a smooth component.
  const int c = 3, h = 10, w = 9;
  auto hx = test::random_vector(std::size_t(n) * c * h * w, seed);
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < c; ++ch)
          hx[((std::size_t(i) * c + ch) * h + y) * w + x] += 0.8f * std::sin(0.7f * (x + y + i));
  const auto x = test::to_device(hx);
  PatchCovariance cov(n, c, h, w, 2);
  cov.add(x.data(), n);
  return cov.covariance();
}

TEST(WhiteningFilters, WhitenTheCovarianceInDescendingOrderWithTheirNegatives) {
  const int d = 12;
  const double eps = 5e-4;
  const auto cov = image_covariance(7, 3);
  const auto filters = whitening_filters(cov, 3, 2, eps);
  ASSERT_EQ(filters.size(), std::size_t(24 * 12));
  const Reference r = jacobi_largest_pivot(cov, d);
  std::vector<double> lambda = r.values;
  std::sort(lambda.rbegin(), lambda.rend());
  // W C W^T in double from the float filters: diag(lambda / (lambda + eps)), zero elsewhere.
  for (int k = 0; k < d; ++k)
    for (int l = 0; l < d; ++l) {
      double m = 0;
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j)
          m += double(filters[k * d + i]) * cov[i * d + j] * double(filters[l * d + j]);
      const double want = k == l ? lambda[k] / (lambda[k] + eps) : 0.0;
      EXPECT_NEAR(m, want, 2e-5) << k << ", " << l;
    }
  // Row k has norm 1 / sqrt(lambda_k + eps): the rows are in descending eigenvalue order.
  for (int k = 0; k < d; ++k) {
    double norm2 = 0;
    for (int i = 0; i < d; ++i) norm2 += double(filters[k * d + i]) * filters[k * d + i];
    EXPECT_NEAR(norm2 * (lambda[k] + eps), 1.0, 1e-5) << "row " << k;
  }
  for (int k = 0; k < d; ++k)
    for (int i = 0; i < d; ++i) EXPECT_EQ(filters[(k + d) * d + i], -filters[k * d + i]);
  EXPECT_THROW(whitening_filters(cov, 3, 2, 0.0), gq::Error);
}

// ---- the layer --------------------------------------------------------------------------------

TEST(WhiteningLayer, FrozenFiltersTrainableBiasForwardAndBackward) {
  const int n = 3, c = 3, h = 7, w = 6, out = 24, oh = 6, ow = 5;
  Sequential m;
  m.add("whiten", std::make_unique<Whitening>(2));
  m.add("gelu_is_elsewhere", std::make_unique<Whitening>(1));  // a layer after it: dx is needed
  m.setup(Shape{c, h, w}, n);
  m.initialize(5);
  auto& stem = static_cast<Whitening&>(m.layer(0));
  ParamRegistry& reg = m.params();
  EXPECT_TRUE(reg.info(stem.weight_id()).frozen);
  EXPECT_FALSE(reg.info(stem.bias_id()).frozen);
  EXPECT_EQ(m.output_shape(0), (Shape{out, oh, ow}));
  const auto filters = whitening_filters(image_covariance(5, 8), c, 2);
  stem.set_filters(filters);
  static_cast<Whitening&>(m.layer(1)).set_filters(test::random_vector(48 * 24, 33));
  std::vector<float> bias(out);
  copy_to_host(bias.data(), reg.value(stem.bias_id()), out * 4);
  for (const float b : bias) EXPECT_LE(std::fabs(b), 1.0f / std::sqrt(12.0f));

  const auto hx = test::random_vector(std::size_t(n) * c * h * w, 31);
  const auto x = test::to_device(hx);
  m.forward(Context{}, x.data());
  std::vector<float> y(std::size_t(n) * out * oh * ow);
  copy_to_host(y.data(), m.activation(0), y.size() * 4);
  std::vector<double> want(y.size());
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < out; ++k)
      for (int yy = 0; yy < oh; ++yy)
        for (int xx = 0; xx < ow; ++xx) {
          double s = bias[k];
          for (int ch = 0; ch < c; ++ch)
            for (int dy = 0; dy < 2; ++dy)
              for (int dx = 0; dx < 2; ++dx)
                s += double(filters[((k * c + ch) * 2 + dy) * 2 + dx]) *
                     hx[((std::size_t(i) * c + ch) * h + yy + dy) * w + xx + dx];
          want[((std::size_t(i) * out + k) * oh + yy) * ow + xx] = s;
        }
  EXPECT_TRUE(test::all_close(y, want, 1e-4, 1e-4));

  // Backward: the bias gets sum(dy) over (n, h, w); the frozen weight's gradient stays 0.
  const std::size_t out_count = std::size_t(n) * 48 * oh * ow;  // the second layer's output
  const auto g = test::random_vector(out_count, 32);
  const auto dout = test::to_device(g);
  m.backward(Context{}, dout.data());
  std::vector<float> grads(reg.size());
  copy_to_host(grads.data(), reg.grads(), grads.size() * 4);
  const ParamInfo& wi = reg.info(stem.weight_id());
  for (std::size_t i = 0; i < wi.numel(); ++i) ASSERT_EQ(grads[wi.offset + i], 0.0f);
  // The second (1x1) layer's dx is the first one's dy: recompute it on the host.
  std::vector<float> w2(reg.info(m.param_ids(1).first).numel());
  copy_to_host(w2.data(), reg.value(m.param_ids(1).first), w2.size() * 4);
  for (int k = 0; k < out; ++k) {
    double want_db = 0;
    for (int i = 0; i < n; ++i)
      for (int pix = 0; pix < oh * ow; ++pix)
        for (int k2 = 0; k2 < 48; ++k2)
          want_db += double(w2[k2 * out + k]) * g[(std::size_t(i) * 48 + k2) * oh * ow + pix];
    EXPECT_NEAR(grads[reg.info(stem.bias_id()).offset + k], want_db, 1e-3 + 1e-4 * std::fabs(want_db));
  }
  EXPECT_THROW(stem.set_filters(std::vector<float>(5)), gq::Error);
}

}  // namespace
}  // namespace gq::models
