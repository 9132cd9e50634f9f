// BatchNorm2d and GroupNorm: what their kernel cases (kernels/cases/norm_cases.cpp: the double
// references on awkward shapes, outputs poisoned, accumulation) cannot say: the backward passes
// against central differences of L = sum(y * g), a fixed shape's bits run to run, bad arguments,
// and bf16 storage against the float kernels, bit for bit.
#include <gtest/gtest.h>

#include <bit>
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

TEST_P(BatchNorm, BackwardMatchesFiniteDifferences) {
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
  expect_finite_differences(s.n, s.c, s.hw, 0, to_double(in.x), to_double(in.gamma),
                            to_double(in.beta), to_double(in.dy), kEps, dx.to_host(),
                            dgamma.to_host(), dbeta.to_host());
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

// bf16 storage: to_bf16 of the float kernels' outputs on the same (bf16-valued) x and dy, bit for
// bit, and the same float statistics and dgamma, dbeta. `pass(T{}, x, dy)` runs the kernels on x
// and dy stored as T and returns the stored outputs and the float ones.
template <class T>
using PassOutputs = std::pair<std::vector<DeviceBuffer<T>>, std::vector<DeviceBuffer<float>>>;

template <class Pass>
void expect_bf16_storage_gives_float_bits(const NormShape& s, std::uint64_t seed, Pass pass) {
  const Inputs in(s, seed);
  const std::vector<float> x = test::rounded_to_bf16(in.x), dy = test::rounded_to_bf16(in.dy);
  const auto bits = [&](auto zero) {
    using T = decltype(zero);
    std::vector<T> x_t, dy_t;
    for (float v : x) x_t.push_back(stored_as<T>(v));
    for (float v : dy) dy_t.push_back(stored_as<T>(v));
    const DeviceBuffer<T> d_x{std::span<const T>(x_t)}, d_dy{std::span<const T>(dy_t)};
    const PassOutputs<T> out = pass(zero, in, d_x.data(), d_dy.data());
    std::vector<std::uint32_t> all;
    for (const DeviceBuffer<T>& b : out.first)  // as bf16 bits (float rounded)
      for (T v : b.to_host()) all.push_back(bits_of(to_bf16(to_float(v))));
    for (const DeviceBuffer<float>& b : out.second)
      for (float v : b.to_host()) all.push_back(std::bit_cast<std::uint32_t>(v));
    return all;
  };
  const auto want = bits(0.0f), got = bits(to_bf16(0.0f));
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "output value " << i;
}

// Training and eval forward, backward; the running statistics too.
TEST_P(BatchNorm, Bf16StorageGivesTheFloatKernelsBitsRounded) {
  const NormShape s = GetParam();
  expect_bf16_storage_gives_float_bits(s, 15, [&](auto zero, const Inputs& in, auto x, auto dy) {
    using T = decltype(zero);
    const std::size_t total = in.x.size();
    auto gamma = test::to_device(in.gamma), beta = test::to_device(in.beta);
    PassOutputs<T> o;
    for (int i = 0; i < 3; ++i) o.first.push_back(test::poisoned<T>(total));  // y, y_eval, dx
    for (int i = 0; i < 4; ++i) o.second.push_back(test::poisoned(s.c));  // mean, invstd, dg, db
    o.second.push_back(test::to_device(std::vector<float>(s.c, 0.25f)));  // running mean
    o.second.push_back(test::to_device(std::vector<float>(s.c, 1.5f)));   // running var
    T *y = o.first[0].data(), *y_eval = o.first[1].data(), *dx = o.first[2].data();
    float *mean = o.second[0].data(), *invstd = o.second[1].data(), *rm = o.second[4].data(),
          *rv = o.second[5].data();
    batchnorm2d_forward_eval(s.n, s.c, s.hw, x, gamma.data(), beta.data(), rm, rv, kEps, y_eval);
    batchnorm2d_forward_train(s.n, s.c, s.hw, x, gamma.data(), beta.data(), y, mean, invstd, rm, rv,
                              0.1f, kEps);
    batchnorm2d_backward(s.n, s.c, s.hw, x, dy, gamma.data(), mean, invstd, dx, o.second[2].data(),
                         o.second[3].data());
    return o;
  });
}

TEST(BatchNormChecks, RejectsBadArguments) {
  DeviceBuffer<float> buf(64);
  float* p = buf.data();
  EXPECT_THROW(batchnorm2d_forward_train(2, 2, 2, p, p, p, p, p, p, p, p, 0.1f, 0.0f), Error);
  EXPECT_THROW(batchnorm2d_forward_train(1, 2, 1, p, p, p, p, p, p, p, p, 0.1f, 1e-5f), Error);
  EXPECT_THROW(batchnorm2d_forward_train(2, 2, 2, p, p, p, p, p, p, p, p, 1.5f, 1e-5f), Error);
  EXPECT_THROW(batchnorm2d_forward_eval(0, 2, 2, p, p, p, p, p, 1e-5f, p), Error);
  EXPECT_THROW(batchnorm2d_backward<float>(2, 0, 2, p, p, p, p, p, p, p, p), Error);
}

// ---- GroupNorm ------------------------------------------------------------------------------

class GroupNorm : public ::testing::TestWithParam<NormShape> {};

TEST_P(GroupNorm, BackwardMatchesFiniteDifferences) {
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
  expect_finite_differences(s.n, s.c, s.hw, s.groups, to_double(in.x), to_double(in.gamma),
                            to_double(in.beta), to_double(in.dy), kEps, dx.to_host(),
                            dgamma.to_host(), dbeta.to_host());
}

// bf16 storage, as for BatchNorm.
TEST_P(GroupNorm, Bf16StorageGivesTheFloatKernelsBitsRounded) {
  const NormShape s = GetParam();
  expect_bf16_storage_gives_float_bits(s, 16, [&](auto zero, const Inputs& in, auto x, auto dy) {
    using T = decltype(zero);
    const std::size_t segments = std::size_t(s.n) * s.groups;
    auto gamma = test::to_device(in.gamma), beta = test::to_device(in.beta);
    PassOutputs<T> o;
    for (int i = 0; i < 2; ++i) o.first.push_back(test::poisoned<T>(in.x.size()));  // y, dx
    for (int i = 0; i < 2; ++i) o.second.push_back(test::poisoned(segments));       // mean, invstd
    for (int i = 0; i < 2; ++i) o.second.push_back(test::poisoned(s.c));            // dgamma, dbeta
    float *mean = o.second[0].data(), *invstd = o.second[1].data();
    groupnorm_forward(s.n, s.c, s.hw, s.groups, x, gamma.data(), beta.data(), kEps,
                      o.first[0].data(), mean, invstd);
    groupnorm_backward(s.n, s.c, s.hw, s.groups, x, dy, gamma.data(), mean, invstd,
                       o.first[1].data(), o.second[2].data(), o.second[3].data());
    return o;
  });
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
