// The gradient ring against a host double-precision model: long random sequences of pushes,
// length-rule updates and fixed lengths, with the running-sum statistics checked against the
// two-pass kernel and a host two-pass of the contents to 1e-5 relative (docs/GRADQUEUE.md §3.1);
// the length rule, a shrink, a one-slot ring, the skip flag. One push with eviction, the
// statistics and the recomputed sums at awkward sizes are kernel cases
// (kernels/cases/gradient_ring_cases.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include "kernels/gradient_ring.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

// The ring as docs/GRADQUEUE.md §3 defines it, in double on the host.
struct HostRing {
  int qmin, qmax, qlen, head = 0, count = 0;
  bool have_ema = false;
  double ema = 0, prev = 0;
  std::vector<std::vector<float>> slots;

  HostRing(int qmin_, int qmax_, int qlen_)
      : qmin(qmin_), qmax(qmax_), qlen(std::clamp(qlen_, qmin_, qmax_)), slots(qmax_) {}

  void push(const std::vector<float>& g) {
    count -= std::max(0, count - (qlen - 1));
    slots[head] = g;
    head = (head + 1) % qmax;
    ++count;
  }
  void update(float loss, float beta, float tol) {
    if (!std::isfinite(loss)) return;
    if (!have_ema) {
      have_ema = true;
      ema = prev = loss;
      return;
    }
    prev = ema;
    ema = static_cast<double>(beta) * ema + (1.0 - static_cast<double>(beta)) * loss;
    if (ema < prev * (1.0 - static_cast<double>(tol)))
      qlen = std::min(qlen + 1, qmax);
    else if (ema > prev * (1.0 + static_cast<double>(tol)))
      qlen = std::max(qlen / 2, qmin);
  }
  void set(int l) { qlen = std::clamp(l, qmin, qmax); }
  const std::vector<float>& held(int i) const { return slots[(head - count + i + qmax) % qmax]; }
  // Two-pass mean and population std over the held entries.
  void stats(std::size_t p, std::vector<double>& mean, std::vector<double>& sd) const {
    mean.assign(p, 0.0);
    sd.assign(p, 0.0);
    if (count == 0) return;
    for (int i = 0; i < count; ++i)
      for (std::size_t j = 0; j < p; ++j) mean[j] += held(i)[j];
    for (auto& m : mean) m /= count;
    for (int i = 0; i < count; ++i)
      for (std::size_t j = 0; j < p; ++j) {
        const double d = held(i)[j] - mean[j];
        sd[j] += d * d;
      }
    for (auto& s : sd) s = std::sqrt(s / count);
  }
};

// A device ring of capacity qmax for p parameters.
struct DeviceRing {
  std::size_t p;
  DeviceBuffer<float> slots;
  DeviceBuffer<double> sum, sumsq;
  DeviceBuffer<RingState> state{1};
  int qmax;
  DeviceRing(std::size_t p_, int qmin, int qmax_, int qlen)
      : p(p_), slots(std::size_t(qmax_) * p_), sum(p_), sumsq(p_), qmax(qmax_) {
    std::vector<double> zeros(p, 0.0);
    sum.upload(zeros);
    sumsq.upload(zeros);
    const RingState s = initial_ring_state(qmin, qmax_, qlen);
    state.upload(std::span<const RingState>(&s, 1));
  }
  GradientRing ring() { return {slots.data(), sum.data(), sumsq.data(), state.data(), p, qmax}; }
  RingState host_state() const { return state.to_host()[0]; }
  void push(const std::vector<float>& g) {
    auto dg = test::to_device(g);
    ring_push(ring(), dg.data());
  }
  void update(float loss, float beta = 0.9f, float tol = 1e-3f) {
    DeviceBuffer<float> dl(1);
    dl.upload(std::span<const float>(&loss, 1));
    ring_update_length(state.data(), dl.data(), beta, tol);
  }
};

// |got - want| <= rtol * (|want| + floor_j): the std of a one-entry ring is 0 in the two-pass
// result and the square root of a rounding residue from the running sums.
::testing::AssertionResult close_scaled(std::span<const float> got, std::span<const double> want,
                                        std::span<const double> floor, double rtol) {
  int bad = 0;
  std::string msg;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = rtol * (std::fabs(want[i]) + floor[i]);
    if (!(std::fabs(got[i] - want[i]) <= tol) && ++bad <= 5)
      msg += "\n  [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " +
             std::to_string(want[i]);
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " differ" << msg;
  return ::testing::AssertionSuccess();
}

void expect_state(const RingState& d, const HostRing& h) {
  EXPECT_EQ(d.head, h.head);
  EXPECT_EQ(d.count, h.count);
  EXPECT_EQ(d.qlen, h.qlen);
  EXPECT_EQ(d.have_ema, h.have_ema ? 1 : 0);
  if (h.have_ema) {
    EXPECT_NEAR(d.loss_ema, h.ema, 1e-12 * std::fabs(h.ema));
    EXPECT_NEAR(d.prev_ema, h.prev, 1e-12 * std::fabs(h.prev));
  }
}

// Checks ring_statistics == ring_statistics_two_pass == the host two-pass, 1e-5 relative.
void check_statistics(DeviceRing& q, const HostRing& h, std::span<const double> scale) {
  const std::size_t p = q.p;
  std::vector<double> want_mean, want_sd;
  h.stats(p, want_mean, want_sd);
  auto m1 = test::poisoned(p), s1 = test::poisoned(p), m2 = test::poisoned(p),
       s2 = test::poisoned(p);
  ring_statistics(q.ring(), m1.data(), s1.data());
  ring_statistics_two_pass(q.ring(), m2.data(), s2.data());
  // Noise is 1e-3 of each parameter's scale: the std floor for the comparison.
  std::vector<double> floor(scale.begin(), scale.end());
  for (auto& f : floor) f *= 1e-3;
  const auto hm1 = m1.to_host(), hs1 = s1.to_host(), hm2 = m2.to_host(), hs2 = s2.to_host();
  EXPECT_TRUE(close_scaled(hm1, want_mean, floor, 1e-5)) << "running-sum mean";
  EXPECT_TRUE(close_scaled(hs1, want_sd, floor, 1e-5)) << "running-sum std";
  EXPECT_TRUE(close_scaled(hm2, want_mean, floor, 1e-5)) << "two-pass mean";
  EXPECT_TRUE(close_scaled(hs2, want_sd, floor, 1e-5)) << "two-pass std";
}

TEST(GradientRingState, InitialStateClampsAndValidates) {
  const RingState s = initial_ring_state(4, 32, 100);
  EXPECT_EQ(s.qlen, 32);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.head, 0);
  EXPECT_EQ(s.have_ema, 0);
  EXPECT_EQ(initial_ring_state(4, 32, 1).qlen, 4);
  EXPECT_THROW(initial_ring_state(0, 4, 2), Error);
  EXPECT_THROW(initial_ring_state(5, 4, 4), Error);
}

TEST(GradientRingState, EmptyRingStatisticsAreZero) {
  DeviceRing q(257, 2, 8, 4);
  auto m = test::poisoned(257), s = test::poisoned(257);
  ring_statistics(q.ring(), m.data(), s.data());
  for (float v : m.to_host()) ASSERT_EQ(v, 0.0f);
  for (float v : s.to_host()) ASSERT_EQ(v, 0.0f);
  m.fill_bytes(0xFF);
  s.fill_bytes(0xFF);
  ring_statistics_two_pass(q.ring(), m.data(), s.data());
  for (float v : m.to_host()) ASSERT_EQ(v, 0.0f);
  for (float v : s.to_host()) ASSERT_EQ(v, 0.0f);
}

TEST(GradientRingLength, GrowsOnSteadyDescentUpToQmax) {
  DeviceRing q(1, 4, 7, 4);
  float loss = 2.0f;
  q.update(loss);  // L_0: no change
  EXPECT_EQ(q.host_state().qlen, 4);
  EXPECT_EQ(q.host_state().have_ema, 1);
  for (int i = 1; i <= 6; ++i) {
    loss *= 0.9f;
    q.update(loss);
    EXPECT_EQ(q.host_state().qlen, std::min(4 + i, 7)) << "step " << i;
  }
}

TEST(GradientRingLength, HalvesOnAJumpClampedAtQmin) {
  DeviceRing q(1, 3, 32, 32);
  q.update(1.0f);
  q.update(5.0f);  // EMA 1.4 > 1.0 * (1 + tol)
  EXPECT_EQ(q.host_state().qlen, 16);
  q.update(50.0f);
  EXPECT_EQ(q.host_state().qlen, 8);
  q.update(500.0f);
  EXPECT_EQ(q.host_state().qlen, 4);
  q.update(5000.0f);
  EXPECT_EQ(q.host_state().qlen, 3);  // max(4/2, qmin = 3)
  q.update(50000.0f);
  EXPECT_EQ(q.host_state().qlen, 3);
}

TEST(GradientRingLength, FlatLossWithinToleranceKeepsTheLength) {
  DeviceRing q(1, 2, 16, 6);
  q.update(1.0f);
  for (int i = 0; i < 5; ++i) q.update(1.0f + 1e-3f * (i % 2 ? 1.0f : -1.0f));
  EXPECT_EQ(q.host_state().qlen, 6);
}

TEST(GradientRingLength, NonFiniteLossLeavesTheStateUnchanged) {
  DeviceRing q(3, 2, 16, 6);
  q.push({1.0f, 2.0f, 3.0f});
  q.update(1.0f);
  q.update(0.5f);
  const RingState before = q.host_state();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()})
    q.update(bad);
  const RingState after = q.host_state();
  EXPECT_EQ(std::memcmp(&before, &after, sizeof(RingState)), 0);
  // A NaN first loss does not start the EMA either.
  DeviceRing fresh(1, 2, 16, 6);
  fresh.update(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(fresh.host_state().have_ema, 0);
}

TEST(GradientRingLength, SetLengthClampsOnTheDevice) {
  DeviceRing q(1, 4, 10, 4);
  ring_set_length(q.state.data(), 7);
  EXPECT_EQ(q.host_state().qlen, 7);
  ring_set_length(q.state.data(), 100);
  EXPECT_EQ(q.host_state().qlen, 10);
  ring_set_length(q.state.data(), 1);
  EXPECT_EQ(q.host_state().qlen, 4);
  EXPECT_THROW(ring_set_length(q.state.data(), 0), Error);
}

TEST(GradientRingPush, ShrinkEvictsOnTheNextPush) {
  const std::size_t p = 257;
  DeviceRing q(p, 2, 8, 8);
  HostRing h(2, 8, 8);
  std::vector<double> scale(p, 1.0);
  for (int i = 0; i < 8; ++i) {
    const auto g = test::random_vector(p, 100 + i);
    q.push(g);
    h.push(g);
  }
  EXPECT_EQ(q.host_state().count, 8);
  ring_set_length(q.state.data(), 3);
  h.set(3);
  EXPECT_EQ(q.host_state().count, 8);  // shrinking evicts nothing yet
  check_statistics(q, h, scale);
  const auto g = test::random_vector(p, 200);
  q.push(g);
  h.push(g);
  expect_state(q.host_state(), h);
  EXPECT_EQ(h.count, 3);
  check_statistics(q, h, scale);
}

TEST(GradientRingPush, CapacityOneKeepsTheLatest) {
  const std::size_t p = 31;
  DeviceRing q(p, 1, 1, 1);
  HostRing h(1, 1, 1);
  std::vector<double> scale(p, 1.0);
  for (int i = 0; i < 5; ++i) {
    const auto g = test::random_vector(p, 300 + i);
    q.push(g);
    h.push(g);
    expect_state(q.host_state(), h);
    check_statistics(q, h, scale);
  }
}

// Gradients with per-parameter scales over four decades, mean 1e-2 and noise 1e-3 of the scale,
// and a slowly drifting mean: float32 running sums would drift here.
class GradientRingSequence : public ::testing::TestWithParam<std::tuple<std::size_t, int>> {};

TEST_P(GradientRingSequence, RunningSumsMatchTwoPassOverLongRandomSequences) {
  const auto [p, pushes] = GetParam();
  const int qmin = 3, qmax = 24;
  DeviceRing q(p, qmin, qmax, qmin);
  HostRing h(qmin, qmax, qmin);
  HostRng rng(p * 7 + pushes, 0x9a);
  std::vector<double> scale(p), base(p);
  for (std::size_t j = 0; j < p; ++j) {
    scale[j] = std::pow(10.0, -3.0 + 4.0 * rng.uniform());
    base[j] = (rng.uniform() < 0.5 ? -1.0 : 1.0) * 1e-2 * scale[j];
  }
  float loss = 3.0f;
  std::vector<float> g(p);
  for (int step = 0; step < pushes; ++step) {
    const double drift = 1.0 + 0.5 * std::sin(step * 0.01);
    for (std::size_t j = 0; j < p; ++j)
      g[j] = static_cast<float>(base[j] * drift +
                                1e-3 * scale[j] * 2.0 * (rng.uniform() - 0.5) * std::sqrt(3.0));
    q.push(g);
    h.push(g);
    const double r = rng.uniform();
    if (r < 0.6) {  // loss mostly descending, sometimes jumping, sometimes NaN
      const double u = rng.uniform();
      if (u < 0.03)
        loss = std::numeric_limits<float>::quiet_NaN();
      else if (u < 0.12)
        loss = 3.0f * static_cast<float>(1.0 + rng.uniform());
      else if (!std::isfinite(loss))
        loss = 2.0f;
      else
        loss *= static_cast<float>(0.97 + 0.02 * rng.uniform());
      q.update(loss);
      h.update(loss, 0.9f, 1e-3f);
      if (!std::isfinite(loss)) loss = 2.0f;
    } else if (r < 0.63) {
      const int l = 1 + static_cast<int>(rng.uniform() * 30);
      ring_set_length(q.state.data(), l);
      h.set(l);
    }
    if (step % 7 == 0 || step == pushes - 1) {
      expect_state(q.host_state(), h);
      check_statistics(q, h, scale);
      if (::testing::Test::HasFailure()) FAIL() << "at step " << step;
    }
  }
  // Re-anchoring reproduces the host sums of the held entries.
  DeviceBuffer<double> sum(p), sumsq(p);
  GradientRing fresh = q.ring();  // the ring's slots and state, other sums
  fresh.sum = sum.data();
  fresh.sumsq = sumsq.data();
  ring_recompute_sums(fresh);
  const auto hs = sum.to_host(), hs2 = sumsq.to_host();
  for (std::size_t j = 0; j < p; j += std::max<std::size_t>(1, p / 97)) {
    double a = 0, a2 = 0;
    for (int i = 0; i < h.count; ++i) a += h.held(i)[j], a2 += double(h.held(i)[j]) * h.held(i)[j];
    ASSERT_NEAR(hs[j], a, 1e-12 * std::fabs(a) + 1e-300) << j;
    ASSERT_NEAR(hs2[j], a2, 1e-12 * a2 + 1e-300) << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, GradientRingSequence,
                         ::testing::Values(std::make_tuple(std::size_t{1}, 2000),
                                           std::make_tuple(std::size_t{257}, 2000),
                                           std::make_tuple(std::size_t{4097}, 600),
                                           std::make_tuple(std::size_t{65539}, 60)));

}  // namespace
}  // namespace gq::kernels

namespace gq::kernels {
namespace {

// A skipped step (apply flag 0) leaves the ring exactly as it was; a 1 flag pushes.
TEST(GradientRingPush, ApplyFlagZeroLeavesTheRingUnchanged) {
  const std::size_t p = 257;
  const int qmax = 4;
  DeviceBuffer<float> slots(qmax * p);
  slots.fill_bytes(0);
  DeviceBuffer<double> sum(p), sumsq(p);
  sum.fill_bytes(0);
  sumsq.fill_bytes(0);
  const RingState init = initial_ring_state(2, qmax, 3);
  DeviceBuffer<RingState> state(std::span<const RingState>(&init, 1));
  const auto g = test::to_device(test::random_vector(p, 5));
  for (std::int32_t flag : {0, 1}) {
    DeviceBuffer<std::int32_t> apply(std::vector<std::int32_t>{flag});
    ring_push({slots.data(), sum.data(), sumsq.data(), state.data(), p, qmax}, g.data(), nullptr,
              apply.data());
    RingState st{};
    copy_to_host(&st, state.data(), sizeof st);
    EXPECT_EQ(st.count, flag) << "flag " << flag;
    const auto s = sum.to_host();
    const auto host_g = g.to_host();
    for (std::size_t j = 0; j < p; ++j) ASSERT_EQ(s[j], flag ? double(host_g[j]) : 0.0) << j;
  }
}

}  // namespace
}  // namespace gq::kernels
