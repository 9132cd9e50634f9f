// Scarcity weights and the Grad Queue combine against a host double-precision reference of
// docs/GRADQUEUE.md §4, for every option combination, plus the identities of its §4.4.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kernels/scarcity.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

double weight_ref(ScarcityFamily family, double d, double rho) {
  switch (family) {
    case ScarcityFamily::powtanh:
      return std::pow(rho, std::tanh(d - 1.0));
    case ScarcityFamily::clip:
      return std::clamp(d, 1.0 / rho, rho);
    case ScarcityFamily::chebyshev:
      return std::clamp(d * d, 1.0 / rho, rho);
    case ScarcityFamily::none:
      return 1.0;
  }
  return 1.0;
}

const char* name(ScarcityFamily f) {
  switch (f) {
    case ScarcityFamily::powtanh:
      return "powtanh";
    case ScarcityFamily::clip:
      return "clip";
    case ScarcityFamily::chebyshev:
      return "chebyshev";
    case ScarcityFamily::none:
      return "none";
  }
  return "?";
}

TEST(ScarcityWeight, MatchesTheScalarReferenceForEveryFamily) {
  std::vector<float> ds = {0.0f,  1e-6f, 0.1f,  0.5f,  0.7071f,
                           0.99f, 1.0f,  1.01f, 1.5f,  2.0f,
                           3.0f,  10.0f, 1e3f,  1e30f, std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 200; ++i) ds.push_back(0.025f * static_cast<float>(i));
  for (auto family : {ScarcityFamily::powtanh, ScarcityFamily::clip, ScarcityFamily::chebyshev,
                      ScarcityFamily::none})
    for (float rho : {1.0f, 1.25f, 2.0f, 4.0f})
      for (float d : ds) {
        const double want = weight_ref(family, d, rho);
        EXPECT_NEAR(scarcity_weight(family, d, rho), want, 2e-6 * want)
            << name(family) << " rho=" << rho << " d=" << d;
      }
  // powtanh is 1 at one standard deviation and bounded by (1/rho, rho).
  EXPECT_FLOAT_EQ(scarcity_weight(ScarcityFamily::powtanh, 1.0f, 2.0f), 1.0f);
  EXPECT_GT(scarcity_weight(ScarcityFamily::powtanh, 0.0f, 2.0f), 0.5f);
  EXPECT_LE(scarcity_weight(ScarcityFamily::powtanh, 1e30f, 2.0f), 2.0f);
  EXPECT_TRUE(std::isnan(scarcity_weight(ScarcityFamily::clip, NAN, 2.0f)));
}

// ---- host reference of the combine -----------------------------------------------------------

struct Problem {
  std::size_t p;
  int k, b;
  std::vector<int> sizes;
  std::vector<float> grads;  // k x p
  std::vector<float> mean, sd;
  std::vector<int> offsets;
  int count;  // queue entries held
};

struct Reference {
  std::vector<double> gbar, gstar;
  double mean_delta, frac_gt1, cos, norm_gbar, norm_gstar, noise;
  int applied;
};

Reference reference(const Problem& pr, const ScarcityOptions& o) {
  const std::size_t p = pr.p;
  const int tensors = static_cast<int>(pr.offsets.size()) - 1;
  const bool warm = pr.count < o.qmin;
  std::vector<double> eps(p);
  double s2_all = 0, m2_all = 0;
  for (int t = 0; t < tensors; ++t) {
    double s2 = 0;
    for (int j = pr.offsets[t]; j < pr.offsets[t + 1]; ++j) s2 += double(pr.sd[j]) * pr.sd[j];
    const int n = pr.offsets[t + 1] - pr.offsets[t];
    for (int j = pr.offsets[t]; j < pr.offsets[t + 1]; ++j)
      eps[j] = 1e-3 * std::sqrt(s2 / n) + 1e-12;
    s2_all += s2;
  }
  for (float m : pr.mean) m2_all += double(m) * m;
  int active = 0;
  for (int n : pr.sizes) active += n > 0;
  std::vector<double> pi(pr.k, 0.0), scale(pr.k, 1.0);
  for (int c = 0; c < pr.k; ++c) {
    if (pr.sizes[c] <= 0) continue;
    pi[c] = o.cluster_weight == ClusterWeight::size ? double(pr.sizes[c]) / pr.b : 1.0 / active;
    if (o.sigma_scale == SigmaScale::cluster) scale[c] = std::sqrt(double(pr.b) / pr.sizes[c]);
  }
  auto g = [&](int c, std::size_t j) { return double(pr.grads[c * p + j]); };
  auto dev = [&](int c, std::size_t j) {
    return std::fabs(g(c, j) - pr.mean[j]) / (pr.sd[j] * scale[c] + eps[j]);
  };
  Reference r;
  r.gbar.assign(p, 0.0);
  r.gstar.assign(p, 0.0);
  double sum_delta = 0, gt1 = 0;
  if (o.granularity == Granularity::element) {
    for (std::size_t j = 0; j < p; ++j)
      for (int c = 0; c < pr.k; ++c) {
        if (pr.sizes[c] <= 0) continue;
        r.gbar[j] += double(pr.sizes[c]) / pr.b * g(c, j);
        const double delta = warm ? 1.0 : weight_ref(o.family, dev(c, j), o.rho);
        r.gstar[j] += pi[c] * delta * g(c, j);
        sum_delta += delta;
        gt1 += delta > 1.0;
      }
    r.mean_delta = sum_delta / (double(active) * p);
    r.frac_gt1 = gt1 / (double(active) * p);
  } else {
    std::vector<double> w(pr.k, 0.0);
    double total = 0;
    for (int c = 0; c < pr.k; ++c) {
      if (pr.sizes[c] <= 0) continue;
      double dsq = 0;
      for (std::size_t j = 0; j < p; ++j) dsq += dev(c, j) * dev(c, j);
      const double delta = warm ? 1.0 : weight_ref(o.family, std::sqrt(dsq / p), o.rho);
      w[c] = pi[c] * delta;
      total += w[c];
      sum_delta += delta;
      gt1 += delta > 1.0;
    }
    for (std::size_t j = 0; j < p; ++j)
      for (int c = 0; c < pr.k; ++c) {
        if (pr.sizes[c] <= 0) continue;
        r.gbar[j] += double(pr.sizes[c]) / pr.b * g(c, j);
        r.gstar[j] += w[c] / total * g(c, j);
      }
    r.mean_delta = sum_delta / active;
    r.frac_gt1 = gt1 / active;
  }
  double bb = 0, ss = 0, bs = 0;
  for (std::size_t j = 0; j < p; ++j) {
    bb += r.gbar[j] * r.gbar[j];
    ss += r.gstar[j] * r.gstar[j];
    bs += r.gbar[j] * r.gstar[j];
  }
  r.norm_gbar = std::sqrt(bb);
  r.norm_gstar = std::sqrt(ss);
  r.applied = std::isfinite(bb) && std::isfinite(ss) && ss > 0;
  r.cos = r.norm_gbar > 0 && r.norm_gstar > 0 ? bs / (r.norm_gbar * r.norm_gstar) : 0.0;
  r.noise = pr.count > 0 && m2_all > 0 ? s2_all / m2_all : 0.0;
  if (o.renorm && r.applied)
    for (auto& v : r.gstar) v *= r.norm_gbar / r.norm_gstar;
  return r;
}

// Cluster sizes summing to b, uneven; cluster `empty` (if >= 0) gets 0.
Problem make_problem(std::size_t p, int k, int count, std::uint64_t seed, int empty = -1) {
  HostRng rng(seed, 0x5ca);
  Problem pr;
  pr.p = p;
  pr.k = k;
  pr.count = count;
  pr.b = 0;
  for (int c = 0; c < k; ++c) {
    const int n = c == empty ? 0 : 1 + 7 * c + static_cast<int>(rng.uniform() * 40);
    pr.sizes.push_back(n);
    pr.b += n;
  }
  // Tensors of uneven sizes; the second has sigma = 0 everywhere (eps = 1e-12).
  pr.offsets = {0};
  std::size_t at = 0;
  for (std::size_t len : {p / 2 + 1, p / 16 + 1, p / 8 + 3}) {
    at = std::min(p, at + len);
    if (at > static_cast<std::size_t>(pr.offsets.back()))
      pr.offsets.push_back(static_cast<int>(at));
  }
  if (pr.offsets.back() != static_cast<int>(p)) pr.offsets.push_back(static_cast<int>(p));
  const int zero_lo = pr.offsets.size() > 2 ? pr.offsets[1] : -1,
            zero_hi = pr.offsets.size() > 2 ? pr.offsets[2] : -1;
  pr.mean.resize(p);
  pr.sd.resize(p);
  for (std::size_t j = 0; j < p; ++j) {
    const double scale = std::pow(10.0, -2.0 + 2.0 * rng.uniform());
    pr.mean[j] = static_cast<float>(scale * (rng.uniform() - 0.3));
    const bool zero = static_cast<int>(j) >= zero_lo && static_cast<int>(j) < zero_hi;
    pr.sd[j] = zero ? 0.0f : static_cast<float>(scale * (0.05 + 0.5 * rng.uniform()));
  }
  pr.grads.resize(std::size_t(k) * p);
  for (int c = 0; c < k; ++c)
    for (std::size_t j = 0; j < p; ++j) {
      const double spread = std::sqrt(double(pr.b) / std::max(1, pr.sizes[c]));
      // z-scores mostly within a few standard deviations, with some far outliers
      const double z = 3.0 * (rng.uniform() - 0.5) * (rng.uniform() < 0.05 ? 10.0 : 1.0);
      pr.grads[c * p + j] = c == empty ? std::numeric_limits<float>::quiet_NaN()  // never read
                                       : static_cast<float>(pr.mean[j] + z * pr.sd[j] * spread +
                                                            1e-4 * (rng.uniform() - 0.5));
    }
  return pr;
}

struct Outputs {
  std::vector<float> gbar, gstar;
  CombineDiagnostics diag;
};

Outputs run(const Problem& pr, const ScarcityOptions& o) {
  const std::size_t p = pr.p;
  const int tensors = static_cast<int>(pr.offsets.size()) - 1;
  auto grads = test::to_device(pr.grads), mean = test::to_device(pr.mean),
       sd = test::to_device(pr.sd);
  DeviceBuffer<int> sizes{std::span<const int>(pr.sizes)},
      offsets{std::span<const int>(pr.offsets)};
  RingState st = initial_ring_state(std::max(1, o.qmin), 64, 8);
  st.count = pr.count;
  DeviceBuffer<RingState> state{std::span<const RingState>(&st, 1)};
  auto gbar = test::poisoned(p), gstar = test::poisoned(p);
  auto diag = test::poisoned<CombineDiagnostics>(1);
  auto scratch = test::poisoned<char>(combine_scratch_bytes(p, pr.k, tensors));
  scarcity_combine(grads.data(), {.sizes = sizes.data(), .k = pr.k, .b = pr.b},
                   {mean.data(), sd.data(), state.data()}, {offsets.data(), tensors}, p, o,
                   {gbar.data(), gstar.data(), diag.data()}, scratch.data());
  return {gbar.to_host(), gstar.to_host(), diag.to_host()[0]};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

void expect_matches(const Outputs& got, const Reference& want, const std::string& what) {
  SCOPED_TRACE(what);
  const double gb_scale = max_abs(want.gbar), gs_scale = max_abs(want.gstar);
  EXPECT_TRUE(test::all_close(got.gbar, want.gbar, 1e-6 * gb_scale, 1e-5));
  EXPECT_TRUE(test::all_close(got.gstar, want.gstar, 1e-5 * gs_scale, 1e-4));
  const auto& d = got.diag;
  EXPECT_EQ(d.applied, want.applied);
  EXPECT_NEAR(d.mean_delta, want.mean_delta, 1e-4 * want.mean_delta);
  EXPECT_NEAR(d.frac_delta_gt1, want.frac_gt1, 2e-3);
  EXPECT_NEAR(d.cos_gstar_gbar, want.cos, 1e-5);
  EXPECT_NEAR(d.norm_gbar, want.norm_gbar, 1e-5 * want.norm_gbar);
  EXPECT_NEAR(d.norm_gstar, want.norm_gstar, 1e-4 * want.norm_gstar);
  EXPECT_NEAR(d.noise_scale, want.noise, 1e-5 * want.noise);
}

class ScarcityCombine : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ScarcityCombine, EveryOptionCombinationMatchesTheDoubleReference) {
  const std::size_t p = GetParam();
  // k = 1; k = 3 with an empty cluster; k = 5 uneven.
  const Problem problems[] = {make_problem(p, 1, 6, p + 1), make_problem(p, 3, 6, p + 2, 1),
                              make_problem(p, 5, 6, p + 3)};
  for (const Problem& pr : problems)
    for (auto family : {ScarcityFamily::powtanh, ScarcityFamily::clip, ScarcityFamily::chebyshev,
                        ScarcityFamily::none})
      for (auto sigma : {SigmaScale::cluster, SigmaScale::batch})
        for (auto gran : {Granularity::element, Granularity::cluster})
          for (auto cw : {ClusterWeight::size, ClusterWeight::uniform})
            for (bool renorm : {true, false}) {
              ScarcityOptions o;
              o.family = family;
              o.sigma_scale = sigma;
              o.granularity = gran;
              o.cluster_weight = cw;
              o.renorm = renorm;
              o.rho = family == ScarcityFamily::clip ? 3.0f : 2.0f;
              const std::string what =
                  std::string(name(family)) +
                  (sigma == SigmaScale::cluster ? " sigma=cluster" : " sigma=batch") +
                  (gran == Granularity::element ? " element" : " cluster") +
                  (cw == ClusterWeight::size ? " size" : " uniform") + (renorm ? " renorm" : "") +
                  " k=" + std::to_string(pr.k) + " p=" + std::to_string(p);
              expect_matches(run(pr, o), reference(pr, o), what);
              if (HasFailure()) return;
            }
}

TEST_P(ScarcityCombine, DefaultOptionsAndWarmUpAtEverySize) {
  const std::size_t p = GetParam();
  for (int count : {0, 3, 4, 20}) {
    const Problem pr = make_problem(p, 5, count, p + 10 + count, 2);
    for (auto gran : {Granularity::element, Granularity::cluster}) {
      ScarcityOptions o;
      o.granularity = gran;
      const auto got = run(pr, o);
      expect_matches(got, reference(pr, o), "count=" + std::to_string(count));
      if (count < o.qmin) {
        // Warm-up with size weights and renorm: G* is gbar.
        EXPECT_TRUE(test::all_close(got.gstar, got.gbar, 0.0, 1e-6));
        EXPECT_EQ(got.diag.mean_delta, 1.0f);
        EXPECT_EQ(got.diag.frac_delta_gt1, 0.0f);
      }
      if (count == 0) {
        EXPECT_EQ(got.diag.noise_scale, 0.0f);
      }
    }
  }
}

TEST_P(ScarcityCombine, OneClusterWithoutWeightingIsThePlainGradient) {
  const std::size_t p = GetParam();
  const Problem pr = make_problem(p, 1, 10, p + 20);
  for (auto gran : {Granularity::element, Granularity::cluster}) {
    ScarcityOptions o;
    o.family = ScarcityFamily::none;
    o.granularity = gran;
    const auto got = run(pr, o);
    EXPECT_TRUE(test::all_close(got.gstar, got.gbar, 0.0, 1e-6));
    EXPECT_TRUE(test::all_close(got.gbar, std::span<const float>(pr.grads), 0.0, 1e-6));
    EXPECT_NEAR(got.diag.cos_gstar_gbar, 1.0f, 1e-6);
    EXPECT_EQ(got.diag.applied, 1);
  }
}

TEST_P(ScarcityCombine, GbarIsTheSizeWeightedMeanAndResultsAreDeterministic) {
  const std::size_t p = GetParam();
  const Problem pr = make_problem(p, 5, 8, p + 30, 0);
  ScarcityOptions o;
  const auto a = run(pr, o), b = run(pr, o);
  std::vector<double> want(p, 0.0);
  for (int c = 0; c < pr.k; ++c)
    for (std::size_t j = 0; j < p; ++j)
      if (pr.sizes[c] > 0) want[j] += double(pr.sizes[c]) / pr.b * pr.grads[c * p + j];
  EXPECT_TRUE(test::all_close(a.gbar, want, 1e-6 * max_abs(want), 1e-5));
  EXPECT_EQ(std::memcmp(a.gbar.data(), b.gbar.data(), p * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.gstar.data(), b.gstar.data(), p * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(&a.diag, &b.diag, sizeof(CombineDiagnostics)), 0);
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, ScarcityCombine, ::testing::Values(1, 257, 4097));

TEST(ScarcityCombineLarge, DefaultAndClusterGranularityAt65539) {
  const std::size_t p = 65539;
  const Problem pr = make_problem(p, 5, 12, 77, 3);
  for (auto gran : {Granularity::element, Granularity::cluster})
    for (auto family : {ScarcityFamily::powtanh, ScarcityFamily::chebyshev}) {
      ScarcityOptions o;
      o.granularity = gran;
      o.family = family;
      expect_matches(run(pr, o), reference(pr, o), name(family));
    }
}

TEST(ScarcityCombineEdges, NonFiniteInputIsNotApplied) {
  const std::size_t p = 257;
  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    for (auto gran : {Granularity::element, Granularity::cluster}) {
      Problem pr = make_problem(p, 3, 8, 5, 1);
      pr.grads[2 * p + 100] = bad;  // an active cluster
      ScarcityOptions o;
      o.granularity = gran;
      const auto got = run(pr, o);
      EXPECT_EQ(got.diag.applied, 0) << bad;
      EXPECT_FALSE(std::isfinite(got.gbar[100]));
    }
  // The empty cluster's row is NaN in every problem and never read: applied stays 1.
  const auto ok = run(make_problem(p, 3, 8, 5, 1), ScarcityOptions{});
  EXPECT_EQ(ok.diag.applied, 1);
  for (float v : ok.gstar) ASSERT_TRUE(std::isfinite(v));
}

TEST(ScarcityCombineEdges, ZeroGradientIsNotApplied) {
  Problem pr = make_problem(31, 2, 8, 6);
  std::fill(pr.grads.begin(), pr.grads.end(), 0.0f);
  const auto got = run(pr, ScarcityOptions{});
  EXPECT_EQ(got.diag.applied, 0);
  EXPECT_EQ(got.diag.norm_gstar, 0.0f);
  for (float v : got.gstar) ASSERT_EQ(v, 0.0f);  // left as computed, not rescaled to NaN
}

TEST(ScarcityCombineEdges, RejectsBadArguments) {
  const Problem pr = make_problem(31, 2, 8, 6);
  ScarcityOptions o;
  auto grads = test::to_device(pr.grads), mean = test::to_device(pr.mean),
       sd = test::to_device(pr.sd);
  DeviceBuffer<int> sizes{std::span<const int>(pr.sizes)},
      offsets{std::span<const int>(pr.offsets)};
  DeviceBuffer<RingState> state(1);
  DeviceBuffer<float> gbar(31), gstar(31);
  DeviceBuffer<CombineDiagnostics> diag(1);
  DeviceBuffer<char> scratch(combine_scratch_bytes(31, 70, 4));
  const int tensors = static_cast<int>(pr.offsets.size()) - 1;
  auto call = [&](int k, int b, float rho) {
    ScarcityOptions oo = o;
    oo.rho = rho;
    scarcity_combine(grads.data(), {.sizes = sizes.data(), .k = k, .b = b},
                     {mean.data(), sd.data(), state.data()}, {offsets.data(), tensors}, 31, oo,
                     {gbar.data(), gstar.data(), diag.data()}, scratch.data());
  };
  EXPECT_THROW(call(0, pr.b, 2.0f), Error);
  EXPECT_THROW(call(kMaxScarcityClusters + 1, pr.b, 2.0f), Error);
  EXPECT_THROW(call(2, 0, 2.0f), Error);
  EXPECT_THROW(call(2, pr.b, 0.5f), Error);
}

}  // namespace
}  // namespace gq::kernels
