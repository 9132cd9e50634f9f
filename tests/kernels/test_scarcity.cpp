// Scarcity weights and the Grad Queue combine against the host double-precision reference of
// docs/GRADQUEUE.md §4 (kernels/cases/scarcity_reference.h, shared with the scarcity kernel cases,
// which hold the default options and each option changed alone at awkward sizes up to 65539):
// every option combination, warm-up, the identities of §4.4, non-finite and zero gradients.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "kernels/cases/scarcity_reference.h"
#include "kernels/scarcity.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

using cases::scarcity_weight_ref;
using Problem = cases::ScarcityProblem;
using Reference = cases::CombineReference;

Problem make_problem(std::size_t p, int k, int count, std::uint64_t seed, int empty = -1) {
  return cases::scarcity_problem(p, k, count, seed, empty);
}
Reference reference(const Problem& pr, const ScarcityOptions& o) {
  return cases::combine_reference(pr, o);
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
        const double want = scarcity_weight_ref(family, d, rho);
        EXPECT_NEAR(scarcity_weight(family, d, rho), want, 2e-6 * want)
            << name(family) << " rho=" << rho << " d=" << d;
      }
  // powtanh is 1 at one standard deviation and bounded by (1/rho, rho).
  EXPECT_FLOAT_EQ(scarcity_weight(ScarcityFamily::powtanh, 1.0f, 2.0f), 1.0f);
  EXPECT_GT(scarcity_weight(ScarcityFamily::powtanh, 0.0f, 2.0f), 0.5f);
  EXPECT_LE(scarcity_weight(ScarcityFamily::powtanh, 1e30f, 2.0f), 2.0f);
  EXPECT_TRUE(std::isnan(scarcity_weight(ScarcityFamily::clip, NAN, 2.0f)));
}

// ---- the combine against its reference (kernels/cases/scarcity_reference.h) ------------------

struct Outputs {
  std::vector<float> gbar, gstar;
  CombineDiagnostics diag;
};

Outputs run(const Problem& pr, const ScarcityOptions& o) {
  cases::CombineBuffers b(pr, o);
  b.launch();
  return {b.gbar.to_host(), b.gstar.to_host(), b.diagnostics.to_host()[0]};
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

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, ScarcityCombine, ::testing::Values(1, 257, 4097));

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
