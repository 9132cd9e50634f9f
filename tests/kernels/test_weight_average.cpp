// LookaheadEma: reset and an update are one launch, and updates match torch's lerp_ (in float, bit
// for bit, and within rounding of a double reference) over several steps (a single reset and
// update against the lerp in double are kernel cases: kernels/cases/weight_average_cases.cpp); the
// schedule's decays against airbench94's formula in double; a whole run of the schedule, decided
// on the device from a step counter, against the original's loop (update every 5 steps, final
// update with decay 1); argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/weight_average.h"
#include "runtime/error.h"
#include "runtime/launch_counters.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

const std::vector<std::size_t> kSizes = {1, 31, 257, 4097, 65539};

struct Model {  // several device tensors, like a flat parameter vector plus running statistics
  std::vector<DeviceBuffer<float>> tensors;
  std::vector<std::vector<float>> host;
  explicit Model(std::uint64_t seed) {
    for (std::size_t k = 0; k < kSizes.size(); ++k) {
      host.push_back(test::random_vector(kSizes[k], seed + k, -2.0f, 2.0f));
      tensors.push_back(test::to_device(host.back()));
    }
  }
  std::vector<StateSpan> spans() {
    std::vector<StateSpan> s;
    for (auto& t : tensors) s.push_back({t.data(), t.size()});
    return s;
  }
  // A stand-in for training steps: new values everywhere.
  void move(std::uint64_t seed) {
    for (std::size_t k = 0; k < tensors.size(); ++k) {
      host[k] = test::random_vector(kSizes[k], seed * 31 + k, -2.0f, 2.0f);
      tensors[k].upload(host[k]);
    }
  }
};

// torch.lerp in float, as the kernel documents it.
float lerp_float(float self, float end, float weight) {
  const float diff = end - self;
  return weight < 0.5f ? std::fmaf(weight, diff, self) : std::fmaf(-(1.0f - weight), diff, end);
}

struct Reference {  // the EMA in float (exact) and in double (the mathematical value)
  std::vector<std::vector<float>> ema;
  std::vector<std::vector<double>> ema64;
  explicit Reference(const Model& m) {
    for (const auto& h : m.host) {
      ema.push_back(h);
      ema64.emplace_back(h.begin(), h.end());
    }
  }
  void update(Model& m, float decay) {  // and w = ema, on the host copy
    const float weight = 1.0f - decay;
    for (std::size_t k = 0; k < ema.size(); ++k)
      for (std::size_t i = 0; i < ema[k].size(); ++i) {
        ema[k][i] = lerp_float(ema[k][i], m.host[k][i], weight);
        ema64[k][i] += (1.0 - double(decay)) * (double(m.host[k][i]) - ema64[k][i]);
        m.host[k][i] = ema[k][i];
      }
  }
};

void expect_state(Model& m, LookaheadEma& ema, const Reference& ref, const char* when) {
  const std::vector<float> state = ema.state().to_host();
  std::size_t offset = 0;
  for (std::size_t k = 0; k < kSizes.size(); ++k) {
    const std::vector<float> w = m.tensors[k].to_host();
    const std::vector<float> e(state.begin() + offset, state.begin() + offset + kSizes[k]);
    offset += kSizes[k];
    EXPECT_EQ(w, m.host[k]) << when << ": tensor " << k << " (weights)";
    EXPECT_EQ(e, ref.ema[k]) << when << ": tensor " << k << " (ema)";
    EXPECT_TRUE(test::all_close(e, ref.ema64[k], 1e-5, 1e-5)) << when << ": tensor " << k;
  }
}

TEST(LookaheadEma, FixedDecaysMatchTorchLerp) {
  Model m(2);
  LookaheadEma ema(m.spans());
  const auto before_reset = launch_counters();
  ema.reset();
  EXPECT_EQ(launch_counters().launches - before_reset.launches, 1u);  // every tensor, one launch
  Reference ref(m);
  // Both branches of torch's lerp (weight < 0.5 and >= 0.5), and the ends: decay 0 (ema = w) and
  // decay 1 (w = ema).
  const float decays[] = {0.7737809f, 0.2f, 0.5f, 0.0f, 0.999f, 1.0f, 0.3333f};
  std::uint64_t step = 10;
  for (const float decay : decays) {
    m.move(++step);
    const auto before = launch_counters();
    ema.update(decay);
    EXPECT_EQ(launch_counters().launches - before.launches, 1u);
    ref.update(m, decay);
    expect_state(m, ema, ref, "fixed decay");
  }
}

TEST(LookaheadEma, DecayOneCopiesTheAverageBack) {
  Model m(3);
  LookaheadEma ema(m.spans());
  ema.reset();
  const std::vector<std::vector<float>> kept = m.host;
  m.move(4);
  ema.update(1.0f);
  for (std::size_t k = 0; k < kSizes.size(); ++k) EXPECT_EQ(m.tensors[k].to_host(), kept[k]);
}

TEST(LookaheadSchedule, DecaysAreAirbenchsFormula) {
  const LookaheadSchedule s{.total_steps = 487};
  EXPECT_DOUBLE_EQ(s.base, std::pow(0.95, 5));
  int updates = 0;
  for (std::uint64_t step = 0; step <= s.total_steps + 3; ++step) {
    const float d = lookahead_decay(s, step);
    if (step >= 1 && step <= s.total_steps && step % 5 == 0) {
      ++updates;
      const double want = std::pow(0.95, 5) * std::pow(double(step) / 487.0, 3);
      EXPECT_NEAR(d, want, 1e-7 * want + 1e-12) << "step " << step;
    } else if (step == s.total_steps) {
      EXPECT_EQ(d, 1.0f);
    } else {
      EXPECT_LT(d, 0.0f) << "step " << step;
    }
  }
  EXPECT_EQ(updates, 97);
  // A total that is a multiple of 5: the last update is the scheduled one, (s/total)^3 = 1.
  EXPECT_FLOAT_EQ(lookahead_decay(LookaheadSchedule{.total_steps = 500}, 500), 0.7737809375f);
}

// The original's loop: after every step s, if s % 5 == 0 update(decay(s)); after the last step
// update(1.0). Here the device decides from its step counter, called after every step.
void run_schedule(std::uint64_t total) {
  Model m(5);
  LookaheadEma ema(m.spans());
  ema.reset();
  Reference ref(m);
  const LookaheadSchedule schedule{.total_steps = total};
  DeviceBuffer<std::uint64_t> counter(1);
  for (std::uint64_t step = 0; step < total; ++step) {  // step: steps taken before this one
    m.move(100 + step);
    counter.upload(std::vector<std::uint64_t>{step});
    ema.update_on_schedule(schedule, DeviceScalar<std::uint64_t>::read(counter.data()).affine(1, 1));
    const std::uint64_t done = step + 1;
    if (done % 5 == 0)
      ref.update(m, static_cast<float>(std::pow(0.95, 5) * std::pow(double(done) / total, 3)));
    if (done == total) ref.update(m, 1.0f);
    expect_state(m, ema, ref, "schedule");
    if (testing::Test::HasFailure()) return;
  }
}

TEST(LookaheadSchedule, AWholeRunMatchesTheOriginalsLoop) {
  run_schedule(23);  // the final update copies the average back over 3 steps of training
  run_schedule(15);  // the last scheduled update is also the final one
}

TEST(LookaheadEma, RejectsBadArguments) {
  DeviceBuffer<float> a(4);
  EXPECT_THROW(LookaheadEma({}), gq::Error);
  EXPECT_THROW(LookaheadEma({{a.data(), 0}}), gq::Error);
  EXPECT_THROW(LookaheadEma({{nullptr, 4}}), gq::Error);
  EXPECT_THROW(LookaheadEma(std::vector<StateSpan>(65, {a.data(), 4})), gq::Error);
  LookaheadEma ema({{a.data(), 4}});
  EXPECT_THROW(ema.update(1.5f), gq::Error);
  EXPECT_THROW(ema.update(-0.1f), gq::Error);
  EXPECT_THROW(ema.update_on_schedule(LookaheadSchedule{}, 1), gq::Error);  // total 0
}

}  // namespace
}  // namespace gq::kernels
