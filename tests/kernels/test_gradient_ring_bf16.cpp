// The ring with bf16 slots (--gq-ring-precision bf16) against a host model that rounds each pushed
// gradient with runtime/bf16.h's rule and keeps the sums in double with the device's order of
// operations (evictions oldest first, then the push), so slots, sums and state are compared bit for
// bit. The rule under test: what a push adds to the sums is exactly what its eviction subtracts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <tuple>
#include <vector>

#include "kernels/gradient_ring.h"
#include "runtime/bf16.h"
#include "runtime/memory.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// The ring in double on the host, slots as bf16 bits.
struct HostBf16Ring {
  std::size_t p;
  int qmin, qmax, qlen, head = 0, count = 0;
  std::vector<std::uint16_t> slots;
  std::vector<double> sum, sumsq;

  HostBf16Ring(std::size_t p_, int qmin_, int qmax_, int qlen_)
      : p(p_), qmin(qmin_), qmax(qmax_), qlen(std::clamp(qlen_, qmin_, qmax_)),
        slots(std::size_t(qmax_) * p_, 0), sum(p_, 0.0), sumsq(p_, 0.0) {}

  double held(int i, std::size_t j) const {
    const int slot = (head - count + i + qmax) % qmax;
    return to_float(bf16_from_bits(slots[std::size_t(slot) * p + j]));
  }
  void push(const std::vector<float>& g) {
    const int evict = std::max(0, count - (qlen - 1));
    for (std::size_t j = 0; j < p; ++j) {
      double acc = sum[j], acc2 = sumsq[j];
      for (int i = 0; i < evict; ++i) {
        const double old = held(i, j);
        acc -= old;
        acc2 -= old * old;
      }
      const bf16 v = to_bf16(g[j]);
      slots[std::size_t(head) * p + j] = bits_of(v);
      const double dv = to_float(v);
      sum[j] = acc + dv;
      sumsq[j] = acc2 + dv * dv;
    }
    count = count - evict + 1;
    head = (head + 1) % qmax;
  }
  void set(int l) { qlen = std::clamp(l, qmin, qmax); }
};

// A device ring of bf16 (or, for comparisons, float) slots.
struct DeviceRingOf {
  std::size_t p;
  int qmax;
  Precision type;
  DeviceBuffer<char> slots;
  DeviceBuffer<double> sum, sumsq;
  DeviceBuffer<RingState> state{1};

  DeviceRingOf(Precision type_, std::size_t p_, int qmin, int qmax_, int qlen)
      : p(p_), qmax(qmax_), type(type_), slots(std::size_t(qmax_) * p_ * value_bytes(type_)),
        sum(p_), sumsq(p_) {
    slots.fill_bytes(0);
    sum.fill_bytes(0);
    sumsq.fill_bytes(0);
    const RingState s = initial_ring_state(qmin, qmax_, qlen);
    state.upload(std::span<const RingState>(&s, 1));
  }
  GradientRing ring() {
    return {slots.data(), sum.data(), sumsq.data(), state.data(), p, qmax, type};
  }
  void push(const std::vector<float>& g, std::int32_t apply = 1) {
    const auto dg = test::to_device(g);
    DeviceBuffer<std::int32_t> flag(std::vector<std::int32_t>{apply});
    ring_push(ring(), dg.data(), nullptr, flag.data());
  }
  std::vector<std::uint16_t> slot_bits() const {
    const std::vector<char> bytes = slots.to_host();
    std::vector<std::uint16_t> bits(bytes.size() / 2);
    std::memcpy(bits.data(), bytes.data(), bytes.size());
    return bits;
  }
  RingState host_state() const { return state.to_host()[0]; }
};

// Bit-for-bit equality of doubles (NaN included).
::testing::AssertionResult same_bits(const std::vector<double>& got,
                                     const std::vector<double>& want, const char* what) {
  for (std::size_t j = 0; j < got.size(); ++j)
    if (std::memcmp(&got[j], &want[j], sizeof(double)) != 0)
      return ::testing::AssertionFailure()
             << what << "[" << j << "] = " << got[j] << ", host " << want[j];
  return ::testing::AssertionSuccess();
}

void expect_matches(const DeviceRingOf& d, const HostBf16Ring& h) {
  const RingState s = d.host_state();
  EXPECT_EQ(s.head, h.head);
  EXPECT_EQ(s.count, h.count);
  EXPECT_EQ(s.qlen, h.qlen);
  EXPECT_EQ(d.slot_bits(), h.slots);
  EXPECT_TRUE(same_bits(d.sum.to_host(), h.sum, "sum"));
  EXPECT_TRUE(same_bits(d.sumsq.to_host(), h.sumsq, "sumsq"));
}

// Values spread over nine decades, so that bf16 rounding and the double sums both matter.
std::vector<float> wide_values(std::size_t p, HostRng& rng) {
  std::vector<float> g(p);
  for (auto& v : g)
    v = static_cast<float>((rng.uniform() - 0.5) * std::pow(10.0, -6.0 + 9.0 * rng.uniform()));
  return g;
}

// +-2^e with e in [-8, 3], a 7-bit mantissa: sums of up to 2^10 such values and of their squares
// are exact in double, so the running sums carry no rounding at all.
std::vector<float> bounded_values(std::size_t p, HostRng& rng) {
  std::vector<float> g(p);
  for (auto& v : g) {
    const float m = 1.0f + static_cast<float>(rng.below(128)) / 128.0f;
    v = (rng.uniform() < 0.5 ? -1.0f : 1.0f) * std::ldexp(m, static_cast<int>(rng.below(12)) - 8);
  }
  return g;
}

class Bf16RingSequence : public ::testing::TestWithParam<std::tuple<std::size_t, int, int>> {};

// Pushes, skipped pushes (apply 0), growing and shrinking lengths (a shrink evicts several entries
// at the next push), compared with the host after every push.
TEST_P(Bf16RingSequence, MatchesTheHostBitForBit) {
  const auto [p, qmax, pushes] = GetParam();
  const int qmin = 1;
  DeviceRingOf d(Precision::bf16, p, qmin, qmax, qmax);
  HostBf16Ring h(p, qmin, qmax, qmax);
  HostRng rng(p * 31 + qmax, 0xb1);
  for (int step = 0; step < pushes; ++step) {
    const auto g = wide_values(p, rng);
    const bool skip = rng.uniform() < 0.15;
    d.push(g, skip ? 0 : 1);
    if (!skip) h.push(g);
    if (rng.uniform() < 0.3) {
      const int l = 1 + static_cast<int>(rng.below(static_cast<std::uint32_t>(qmax) + 2));
      ring_set_length(d.state.data(), l);
      h.set(l);
    }
    expect_matches(d, h);
    if (::testing::Test::HasFailure()) FAIL() << "at step " << step;
  }
  // The statistics read the widened slots: two-pass against the host's held values (to float
  // rounding: a compiler may contract the squared deviations' sum differently).
  auto mean = test::poisoned(p), sd = test::poisoned(p);
  ring_statistics_two_pass(d.ring(), mean.data(), sd.data());
  const auto hm = mean.to_host(), hs = sd.to_host();
  for (std::size_t j = 0; j < p; ++j) {
    double m = 0, v = 0;
    for (int i = 0; i < h.count; ++i) m += h.held(i, j);
    m /= h.count;
    for (int i = 0; i < h.count; ++i) v += (h.held(i, j) - m) * (h.held(i, j) - m);
    const double sd_want = std::sqrt(v / h.count);
    ASSERT_NEAR(hm[j], m, 1e-6 * std::fabs(m) + 1e-30) << j;
    ASSERT_NEAR(hs[j], sd_want, 1e-6 * sd_want + 1e-6 * std::fabs(m) + 1e-30) << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, Bf16RingSequence,
                         ::testing::Values(std::make_tuple(std::size_t{1}, 1, 12),
                                           std::make_tuple(std::size_t{31}, 5, 40),
                                           std::make_tuple(std::size_t{257}, 7, 40),
                                           std::make_tuple(std::size_t{4097}, 3, 12)));

// Round to nearest even, as runtime/bf16.h states: ties go to the even mantissa, and the sums take
// the rounded value.
TEST(Bf16Ring, PushRoundsToNearestEvenAndSumsTheRoundedValue) {
  const std::vector<float> g = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f,
                                -(1.0f + 0x1p-8f), 3.0e-39f};
  const std::vector<std::uint16_t> want = {0x3F80, 0x3F82, 0x3F81, 0xBF80, 0x0021};
  DeviceRingOf d(Precision::bf16, g.size(), 1, 2, 2);
  d.push(g);
  const auto bits = d.slot_bits();
  const auto sum = d.sum.to_host(), sumsq = d.sumsq.to_host();
  for (std::size_t j = 0; j < g.size(); ++j) {
    EXPECT_EQ(bits[j], want[j]) << j;
    const double v = to_float(bf16_from_bits(want[j]));
    EXPECT_EQ(sum[j], v) << j;
    EXPECT_EQ(sumsq[j], v * v) << j;
  }
}

// Evicting everything pushed leaves sums of exactly 0: a single entry of any value cancels
// (0 + a - a), and entries whose sums are exact in double cancel in any number.
TEST(Bf16Ring, SumsReturnToExactlyZeroAfterEvictingEverything) {
  const std::size_t p = 257;
  const int qmax = 8;
  HostRng rng(7, 0xb2);
  for (const int held : {1, 3, 8}) {
    DeviceRingOf d(Precision::bf16, p, 1, qmax, qmax);
    for (int round = 0; round < 3; ++round) {  // the ring wraps
      ring_set_length(d.state.data(), held + 1);
      for (int i = 0; i < held; ++i)
        d.push(held == 1 ? wide_values(p, rng) : bounded_values(p, rng));
      ring_set_length(d.state.data(), 1);
      d.push(std::vector<float>(p, 0.0f));  // evicts all `held`, adds 0
      ASSERT_EQ(d.host_state().count, 1);
      for (const double s : d.sum.to_host()) ASSERT_EQ(s, 0.0) << "held " << held;
      for (const double s : d.sumsq.to_host()) ASSERT_EQ(s, 0.0) << "held " << held;
    }
  }
}

// With exact sums the running sums equal a recomputation from the slots, bit for bit.
TEST(Bf16Ring, RecomputedSumsEqualTheRunningSums) {
  const std::size_t p = 4097;
  DeviceRingOf d(Precision::bf16, p, 2, 6, 5);
  HostRng rng(11, 0xb3);
  for (int i = 0; i < 13; ++i) {
    d.push(bounded_values(p, rng));
    if (i == 7) ring_set_length(d.state.data(), 2);
  }
  const auto running = d.sum.to_host(), running2 = d.sumsq.to_host();
  d.sum.fill_bytes(0xFF);
  d.sumsq.fill_bytes(0xFF);
  ring_recompute_sums(d.ring());
  EXPECT_TRUE(same_bits(d.sum.to_host(), running, "sum"));
  EXPECT_TRUE(same_bits(d.sumsq.to_host(), running2, "sumsq"));
}

// A skipped step leaves every byte of the ring as it was, even for a non-finite gradient.
TEST(Bf16Ring, ApplyZeroLeavesTheRingUnchanged) {
  const std::size_t p = 31;
  DeviceRingOf d(Precision::bf16, p, 1, 3, 3);
  HostRng rng(3, 0xb4);
  d.push(wide_values(p, rng));
  const auto bits = d.slot_bits();
  const auto sum = d.sum.to_host(), sumsq = d.sumsq.to_host();
  const RingState before = d.host_state();
  d.push(std::vector<float>(p, kNaN), 0);
  d.push(wide_values(p, rng), 0);
  const RingState after = d.host_state();
  EXPECT_EQ(std::memcmp(&before, &after, sizeof before), 0);
  EXPECT_EQ(d.slot_bits(), bits);
  EXPECT_TRUE(same_bits(d.sum.to_host(), sum, "sum"));
  EXPECT_TRUE(same_bits(d.sumsq.to_host(), sumsq, "sumsq"));
}

// What an unguarded push of NaN or infinity does to the sums and statistics (NaN, infinity, and
// NaN again once an infinity is evicted) is what the fp32 ring does; a NaN is stored as bf16's
// canonical NaN. Finite inputs stay below bf16's largest value, where the two could differ.
TEST(Bf16Ring, NonFiniteInputsBehaveAsInFp32) {
  const std::size_t p = 6;
  DeviceRingOf b(Precision::bf16, p, 1, 4, 3), f(Precision::fp32, p, 1, 4, 3);
  const std::vector<std::vector<float>> pushes = {
      {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f},   {kNaN, kInf, -kInf, 0.5f, -kNaN, 1.0f},
      {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, kInf},   {2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f},
      {3.0f, 3.0f, 3.0f, 3.0f, 3.0f, 3.0f},   {4.0f, 4.0f, 4.0f, 4.0f, 4.0f, 4.0f}};
  auto kind = [](double v) { return std::isnan(v) ? 2 : std::isinf(v) ? (v > 0 ? 1 : -1) : 0; };
  for (std::size_t step = 0; step < pushes.size(); ++step) {
    b.push(pushes[step], 1);
    f.push(pushes[step], 1);
    if (step == 1) {  // slot 1: NaNs stored as the canonical NaN, infinities as they are
      const auto bits = b.slot_bits();
      EXPECT_EQ(bits[1 * p + 0], 0x7FFF);
      EXPECT_EQ(bits[1 * p + 4], 0x7FFF);
      EXPECT_EQ(bits[1 * p + 1], 0x7F80);
      EXPECT_EQ(bits[1 * p + 2], 0xFF80);
    }
    const auto bs = b.sum.to_host(), fs = f.sum.to_host();
    const auto bq = b.sumsq.to_host(), fq = f.sumsq.to_host();
    auto bm = test::poisoned(p), bd = test::poisoned(p), fm = test::poisoned(p),
         fd = test::poisoned(p);
    ring_statistics(b.ring(), bm.data(), bd.data());
    ring_statistics(f.ring(), fm.data(), fd.data());
    const auto hbm = bm.to_host(), hbd = bd.to_host(), hfm = fm.to_host(), hfd = fd.to_host();
    for (std::size_t j = 0; j < p; ++j) {
      EXPECT_EQ(kind(bs[j]), kind(fs[j])) << "sum, step " << step << ", element " << j;
      EXPECT_EQ(kind(bq[j]), kind(fq[j])) << "sumsq, step " << step << ", element " << j;
      EXPECT_EQ(kind(hbm[j]), kind(hfm[j])) << "mean, step " << step << ", element " << j;
      EXPECT_EQ(kind(hbd[j]), kind(hfd[j])) << "std, step " << step << ", element " << j;
    }
  }
}

}  // namespace
}  // namespace gq::kernels
