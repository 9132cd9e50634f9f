// BatchNorm2d and GroupNorm against double-precision references on awkward shapes, outputs
// poisoned first; backward passes also checked by central differences of L = sum(y * g).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/norm.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

using Vec = std::vector<double>;

Vec to_double(const std::vector<float>& v) {
  return Vec(v.begin(), v.end());
}

// Reference normalisation over arbitrary segments: stats are computed per segment s for every
// element e with segment_of(e) == s; the affine parameters are per channel.
struct NormRef {
  Vec y, mean, var;  // var is biased
};

// Element index of (sample i, channel ch, spatial j).
std::size_t at(int c, int hw, int i, int ch, int j) {
  return (std::size_t(i) * c + ch) * hw + j;
}

// groups == 0: BatchNorm (segment = channel); otherwise GroupNorm (segment = sample*groups+group).
NormRef norm_ref(int n, int c, int hw, int groups, const Vec& x, const Vec& gamma, const Vec& beta,
                 double eps) {
  const int segments = groups == 0 ? c : n * groups;
  const auto segment = [&](int i, int ch) {
    return groups == 0 ? ch : i * groups + ch / (c / groups);
  };
  Vec sum(segments, 0.0), count(segments, 0.0), sq(segments, 0.0);
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int j = 0; j < hw; ++j) {
        sum[segment(i, ch)] += x[at(c, hw, i, ch, j)];
        count[segment(i, ch)] += 1;
      }
  NormRef r;
  r.mean.resize(segments);
  r.var.resize(segments);
  for (int s = 0; s < segments; ++s) r.mean[s] = sum[s] / count[s];
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int j = 0; j < hw; ++j) {
        const double d = x[at(c, hw, i, ch, j)] - r.mean[segment(i, ch)];
        sq[segment(i, ch)] += d * d;
      }
  for (int s = 0; s < segments; ++s) r.var[s] = sq[s] / count[s];
  r.y.resize(x.size());
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int j = 0; j < hw; ++j) {
        const int s = segment(i, ch);
        const std::size_t e = at(c, hw, i, ch, j);
        r.y[e] = gamma[ch] * (x[e] - r.mean[s]) / std::sqrt(r.var[s] + eps) + beta[ch];
      }
  return r;
}

double weighted_sum(const Vec& y, const Vec& g) {
  double s = 0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * g[i];
  return s;
}

// Analytic gradients of L = sum(y * dy) in double.
struct GradRef {
  Vec dx, dgamma, dbeta;
};

GradRef norm_grad_ref(int n, int c, int hw, int groups, const Vec& x, const Vec& dy,
                      const Vec& gamma, double eps) {
  const NormRef f = norm_ref(n, c, hw, groups, x, gamma, Vec(c, 0.0), eps);
  const int segments = groups == 0 ? c : n * groups;
  const auto segment = [&](int i, int ch) {
    return groups == 0 ? ch : i * groups + ch / (c / groups);
  };
  GradRef g{Vec(x.size()), Vec(c, 0.0), Vec(c, 0.0)};
  Vec sum_d(segments, 0.0), sum_dx(segments, 0.0), count(segments, 0.0);
  const auto xhat = [&](int i, int ch, int j) {
    const int s = segment(i, ch);
    return (x[at(c, hw, i, ch, j)] - f.mean[s]) / std::sqrt(f.var[s] + eps);
  };
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int j = 0; j < hw; ++j) {
        const double d = dy[at(c, hw, i, ch, j)], xh = xhat(i, ch, j);
        g.dbeta[ch] += d;
        g.dgamma[ch] += d * xh;
        const int s = segment(i, ch);
        sum_d[s] += d * gamma[ch];
        sum_dx[s] += d * gamma[ch] * xh;
        count[s] += 1;
      }
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c; ++ch)
      for (int j = 0; j < hw; ++j) {
        const int s = segment(i, ch);
        const double invstd = 1.0 / std::sqrt(f.var[s] + eps);
        const double d = dy[at(c, hw, i, ch, j)] * gamma[ch];
        g.dx[at(c, hw, i, ch, j)] =
            invstd * (d - sum_d[s] / count[s] - xhat(i, ch, j) * sum_dx[s] / count[s]);
      }
  return g;
}

// Central differences of L = sum(norm(x; gamma, beta) * dy) with respect to a dozen coordinates
// each of x, gamma and beta, compared with the kernel's gradients.
void expect_finite_differences(int n, int c, int hw, int groups, const Vec& x, const Vec& gamma,
                               const Vec& beta, const Vec& dy, double eps,
                               const std::vector<float>& dx, const std::vector<float>& dgamma,
                               const std::vector<float>& dbeta) {
  const double h = 1e-4;
  const auto loss = [&](const Vec& xx, const Vec& gg, const Vec& bb) {
    return weighted_sum(norm_ref(n, c, hw, groups, xx, gg, bb, eps).y, dy);
  };
  const auto check = [&](Vec base, std::size_t k, float got, int which, const char* name) {
    Vec plus = base, minus = base;
    plus[k] += h;
    minus[k] -= h;
    double lp, lm;
    if (which == 0)
      lp = loss(plus, gamma, beta), lm = loss(minus, gamma, beta);
    else if (which == 1)
      lp = loss(x, plus, beta), lm = loss(x, minus, beta);
    else
      lp = loss(x, gamma, plus), lm = loss(x, gamma, minus);
    const double want = (lp - lm) / (2 * h);
    EXPECT_NEAR(got, want, 2e-4 + 1e-3 * std::fabs(want)) << name << "[" << k << "]";
  };
  for (int t = 0; t < 12; ++t) {
    const std::size_t k = (std::size_t(t) * 7919 + 3) % x.size();
    check(x, k, dx[k], 0, "dx");
  }
  for (int t = 0; t < std::min(c, 12); ++t) {
    check(gamma, t, dgamma[t], 1, "dgamma");
    check(beta, t, dbeta[t], 2, "dbeta");
  }
}

struct NormShape {
  int n, c, hw, groups;
};

void PrintTo(const NormShape& s, std::ostream* os) {
  *os << "n" << s.n << "_c" << s.c << "_hw" << s.hw << "_g" << s.groups;
}

struct Inputs {
  std::vector<float> x, gamma, beta, dy;
  explicit Inputs(const NormShape& s, std::uint64_t seed) {
    const std::size_t total = std::size_t(s.n) * s.c * s.hw;
    x = test::random_vector(total, seed, -1.5f, 2.5f);
    // Give channels distinct offsets and scales, so per-channel statistics matter.
    for (std::size_t e = 0; e < total; ++e) {
      const int ch = int(e / s.hw % s.c);
      x[e] = x[e] * (0.5f + 0.3f * ch) + 0.7f * ch;
    }
    gamma = test::random_vector(s.c, seed + 1, 0.5f, 1.5f);
    beta = test::random_vector(s.c, seed + 2, -0.5f, 0.5f);
    dy = test::random_vector(total, seed + 3);
  }
};

constexpr float kEps = 1e-5f;

// ---- BatchNorm2d ----------------------------------------------------------------------------

class BatchNorm : public ::testing::TestWithParam<NormShape> {};

TEST_P(BatchNorm, TrainForwardMatchesReferenceAndUpdatesRunningStats) {
  const NormShape s = GetParam();
  const Inputs in(s, 11);
  const std::size_t total = in.x.size();
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta);
  auto y = test::poisoned(total), mean = test::poisoned(s.c), invstd = test::poisoned(s.c);
  const auto rm0 = test::random_vector(s.c, 5), rv0 = test::random_vector(s.c, 6, 0.5f, 2.0f);
  auto rm = test::to_device(rm0), rv = test::to_device(rv0);
  const float momentum = 0.1f;
  batchnorm2d_forward_train(s.n, s.c, s.hw, x.data(), gamma.data(), beta.data(), y.data(),
                            mean.data(), invstd.data(), rm.data(), rv.data(), momentum, kEps);

  const NormRef r =
      norm_ref(s.n, s.c, s.hw, 0, to_double(in.x), to_double(in.gamma), to_double(in.beta), kEps);
  EXPECT_TRUE(test::all_close(y.to_host(), r.y, 2e-5, 2e-5));
  Vec want_invstd(s.c), want_rm(s.c), want_rv(s.c);
  const double count = double(s.n) * s.hw;
  for (int ch = 0; ch < s.c; ++ch) {
    want_invstd[ch] = 1.0 / std::sqrt(r.var[ch] + kEps);
    want_rm[ch] = (1 - momentum) * rm0[ch] + momentum * r.mean[ch];
    want_rv[ch] = (1 - momentum) * rv0[ch] + momentum * r.var[ch] * count / (count - 1);
  }
  EXPECT_TRUE(test::all_close(mean.to_host(), r.mean, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(invstd.to_host(), want_invstd, 0, 2e-5));
  EXPECT_TRUE(test::all_close(rm.to_host(), want_rm, 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(rv.to_host(), want_rv, 1e-6, 1e-5));
}

TEST_P(BatchNorm, EvalForwardUsesRunningStats) {
  const NormShape s = GetParam();
  const Inputs in(s, 12);
  const std::size_t total = in.x.size();
  const auto rm_h = test::random_vector(s.c, 7), rv_h = test::random_vector(s.c, 8, 0.2f, 3.0f);
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta), rm = test::to_device(rm_h), rv = test::to_device(rv_h);
  auto y = test::poisoned(total);
  batchnorm2d_forward_eval(s.n, s.c, s.hw, x.data(), gamma.data(), beta.data(), rm.data(),
                           rv.data(), kEps, y.data());
  Vec want(total);
  for (std::size_t e = 0; e < total; ++e) {
    const int ch = int(e / s.hw % s.c);
    want[e] = double(in.gamma[ch]) * (in.x[e] - double(rm_h[ch])) / std::sqrt(rv_h[ch] + 1e-5) +
              in.beta[ch];
  }
  EXPECT_TRUE(test::all_close(y.to_host(), want, 1e-5, 1e-5));
}

TEST_P(BatchNorm, BackwardMatchesReferenceAndFiniteDifferences) {
  const NormShape s = GetParam();
  const Inputs in(s, 13);
  const std::size_t total = in.x.size();
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta), dy = test::to_device(in.dy);
  auto y = test::poisoned(total), mean = test::poisoned(s.c), invstd = test::poisoned(s.c);
  auto rm = test::to_device(std::vector<float>(s.c, 0.0f));
  auto rv = test::to_device(std::vector<float>(s.c, 1.0f));
  batchnorm2d_forward_train(s.n, s.c, s.hw, x.data(), gamma.data(), beta.data(), y.data(),
                            mean.data(), invstd.data(), rm.data(), rv.data(), 0.1f, kEps);
  auto dx = test::poisoned(total), dgamma = test::poisoned(s.c), dbeta = test::poisoned(s.c);
  batchnorm2d_backward(s.n, s.c, s.hw, x.data(), dy.data(), gamma.data(), mean.data(),
                       invstd.data(), dx.data(), dgamma.data(), dbeta.data());

  const GradRef g = norm_grad_ref(s.n, s.c, s.hw, 0, to_double(in.x), to_double(in.dy),
                                  to_double(in.gamma), kEps);
  const double count = double(s.n) * s.hw;
  EXPECT_TRUE(test::all_close(dx.to_host(), g.dx, 2e-5, 1e-4));
  EXPECT_TRUE(test::all_close(dgamma.to_host(), g.dgamma, 1e-6 * count, 1e-5));
  EXPECT_TRUE(test::all_close(dbeta.to_host(), g.dbeta, 1e-6 * count, 1e-5));
  expect_finite_differences(s.n, s.c, s.hw, 0, to_double(in.x), to_double(in.gamma),
                            to_double(in.beta), to_double(in.dy), kEps, dx.to_host(),
                            dgamma.to_host(), dbeta.to_host());

  // accumulate adds to what is there.
  batchnorm2d_backward(s.n, s.c, s.hw, x.data(), dy.data(), gamma.data(), mean.data(),
                       invstd.data(), dx.data(), dgamma.data(), dbeta.data(), true);
  Vec twice_gamma(s.c), twice_beta(s.c);
  for (int ch = 0; ch < s.c; ++ch)
    twice_gamma[ch] = 2 * g.dgamma[ch], twice_beta[ch] = 2 * g.dbeta[ch];
  EXPECT_TRUE(test::all_close(dgamma.to_host(), twice_gamma, 2e-6 * count, 1e-5));
  EXPECT_TRUE(test::all_close(dbeta.to_host(), twice_beta, 2e-6 * count, 1e-5));
  EXPECT_TRUE(test::all_close(dx.to_host(), g.dx, 2e-5, 1e-4));  // dx is always overwritten
}

INSTANTIATE_TEST_SUITE_P(AwkwardShapes, BatchNorm,
                         ::testing::Values(NormShape{3, 5, 63, 0}, NormShape{2, 3, 4097, 0},
                                           NormShape{257, 2, 1, 0}, NormShape{1, 4, 2, 0}));

TEST(BatchNormDeterminism, TrainForwardAndBackwardAreBitIdenticalRunToRun) {
  const NormShape s{4, 3, 1000, 0};
  const Inputs in(s, 14);
  const std::size_t total = in.x.size();
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta), dy = test::to_device(in.dy);
  std::vector<float> outs[2];
  for (auto& out : outs) {
    auto y = test::poisoned(total), mean = test::poisoned(s.c), invstd = test::poisoned(s.c);
    auto rm = test::to_device(std::vector<float>(s.c, 0.0f));
    auto rv = test::to_device(std::vector<float>(s.c, 1.0f));
    auto dx = test::poisoned(total), dg = test::poisoned(s.c), db = test::poisoned(s.c);
    batchnorm2d_forward_train(s.n, s.c, s.hw, x.data(), gamma.data(), beta.data(), y.data(),
                              mean.data(), invstd.data(), rm.data(), rv.data(), 0.1f, kEps);
    batchnorm2d_backward(s.n, s.c, s.hw, x.data(), dy.data(), gamma.data(), mean.data(),
                         invstd.data(), dx.data(), dg.data(), db.data());
    for (const auto* b : {&y, &dx, &dg, &db, &rv}) {
      const auto h = b->to_host();
      out.insert(out.end(), h.begin(), h.end());
    }
  }
  ASSERT_EQ(outs[0].size(), outs[1].size());
  EXPECT_EQ(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * sizeof(float)), 0);
}

TEST(BatchNormChecks, RejectsBadArguments) {
  DeviceBuffer<float> buf(64);
  float* p = buf.data();
  EXPECT_THROW(batchnorm2d_forward_train(2, 2, 2, p, p, p, p, p, p, p, p, 0.1f, 0.0f), Error);
  EXPECT_THROW(batchnorm2d_forward_train(1, 2, 1, p, p, p, p, p, p, p, p, 0.1f, 1e-5f), Error);
  EXPECT_THROW(batchnorm2d_forward_train(2, 2, 2, p, p, p, p, p, p, p, p, 1.5f, 1e-5f), Error);
  EXPECT_THROW(batchnorm2d_forward_eval(0, 2, 2, p, p, p, p, p, 1e-5f, p), Error);
  EXPECT_THROW(batchnorm2d_backward(2, 0, 2, p, p, p, p, p, p, p, p), Error);
}

// ---- GroupNorm ------------------------------------------------------------------------------

class GroupNorm : public ::testing::TestWithParam<NormShape> {};

TEST_P(GroupNorm, ForwardMatchesReference) {
  const NormShape s = GetParam();
  const Inputs in(s, 21);
  const std::size_t total = in.x.size();
  const int segments = s.n * s.groups;
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta);
  auto y = test::poisoned(total), mean = test::poisoned(segments),
       invstd = test::poisoned(segments);
  groupnorm_forward(s.n, s.c, s.hw, s.groups, x.data(), gamma.data(), beta.data(), kEps, y.data(),
                    mean.data(), invstd.data());
  const NormRef r = norm_ref(s.n, s.c, s.hw, s.groups, to_double(in.x), to_double(in.gamma),
                             to_double(in.beta), kEps);
  Vec want_invstd(segments);
  for (int k = 0; k < segments; ++k) want_invstd[k] = 1.0 / std::sqrt(r.var[k] + kEps);
  EXPECT_TRUE(test::all_close(y.to_host(), r.y, 2e-5, 2e-5));
  EXPECT_TRUE(test::all_close(mean.to_host(), r.mean, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(invstd.to_host(), want_invstd, 0, 2e-5));
}

TEST_P(GroupNorm, BackwardMatchesReferenceAndFiniteDifferences) {
  const NormShape s = GetParam();
  const Inputs in(s, 22);
  const std::size_t total = in.x.size();
  const int segments = s.n * s.groups;
  auto x = test::to_device(in.x), gamma = test::to_device(in.gamma),
       beta = test::to_device(in.beta), dy = test::to_device(in.dy);
  auto y = test::poisoned(total), mean = test::poisoned(segments),
       invstd = test::poisoned(segments);
  groupnorm_forward(s.n, s.c, s.hw, s.groups, x.data(), gamma.data(), beta.data(), kEps, y.data(),
                    mean.data(), invstd.data());
  auto dx = test::poisoned(total), dgamma = test::poisoned(s.c), dbeta = test::poisoned(s.c);
  groupnorm_backward(s.n, s.c, s.hw, s.groups, x.data(), dy.data(), gamma.data(), mean.data(),
                     invstd.data(), dx.data(), dgamma.data(), dbeta.data());
  const GradRef g = norm_grad_ref(s.n, s.c, s.hw, s.groups, to_double(in.x), to_double(in.dy),
                                  to_double(in.gamma), kEps);
  const double count = double(s.n) * s.hw;
  EXPECT_TRUE(test::all_close(dx.to_host(), g.dx, 2e-5, 1e-4));
  EXPECT_TRUE(test::all_close(dgamma.to_host(), g.dgamma, 1e-6 * count, 1e-5));
  EXPECT_TRUE(test::all_close(dbeta.to_host(), g.dbeta, 1e-6 * count, 1e-5));
  expect_finite_differences(s.n, s.c, s.hw, s.groups, to_double(in.x), to_double(in.gamma),
                            to_double(in.beta), to_double(in.dy), kEps, dx.to_host(),
                            dgamma.to_host(), dbeta.to_host());

  groupnorm_backward(s.n, s.c, s.hw, s.groups, x.data(), dy.data(), gamma.data(), mean.data(),
                     invstd.data(), dx.data(), dgamma.data(), dbeta.data(), true);
  Vec twice_gamma(s.c), twice_beta(s.c);
  for (int ch = 0; ch < s.c; ++ch)
    twice_gamma[ch] = 2 * g.dgamma[ch], twice_beta[ch] = 2 * g.dbeta[ch];
  EXPECT_TRUE(test::all_close(dgamma.to_host(), twice_gamma, 2e-6 * count, 1e-5));
  EXPECT_TRUE(test::all_close(dbeta.to_host(), twice_beta, 2e-6 * count, 1e-5));
}

// groups 3, 1 (LayerNorm over c,h,w), 6 (InstanceNorm); a segment longer than the block.
INSTANTIATE_TEST_SUITE_P(AwkwardShapes, GroupNorm,
                         ::testing::Values(NormShape{3, 6, 63, 3}, NormShape{3, 6, 63, 1},
                                           NormShape{3, 6, 63, 6}, NormShape{2, 4, 1000, 2},
                                           NormShape{1, 5, 1, 5}, NormShape{31, 3, 7, 1}));

TEST(GroupNormChecks, RejectsBadArguments) {
  DeviceBuffer<float> buf(64);
  float* p = buf.data();
  EXPECT_THROW(groupnorm_forward(2, 6, 2, 4, p, p, p, 1e-5f, p, p, p), Error);
  EXPECT_THROW(groupnorm_forward(2, 6, 2, 0, p, p, p, 1e-5f, p, p, p), Error);
  EXPECT_THROW(groupnorm_forward(2, 6, 2, 3, p, p, p, -1.0f, p, p, p), Error);
  EXPECT_THROW(groupnorm_backward(2, 6, 2, 5, p, p, p, p, p, p, p, p), Error);
}

}  // namespace
}  // namespace gq::kernels
