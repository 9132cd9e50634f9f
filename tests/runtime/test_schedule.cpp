// Learning-rate schedules: values at the key steps of each kind (warm-up end, halfway, end),
// monotonicity, and argument checks.
#include <gtest/gtest.h>

#include <string>

#include "runtime/error.h"
#include "runtime/schedule.h"

namespace gq {
namespace {

ScheduleConfig config(ScheduleKind kind) {
  ScheduleConfig c;
  c.kind = kind;
  c.base_lr = 0.4f;
  c.total_steps = 1100;
  c.warmup_steps = 100;
  c.warmup_start_factor = 0.1f;
  c.step_size = 300;
  c.gamma = 0.5f;
  c.final_lr_factor = 0.01f;
  return c;
}

TEST(Schedule, WarmUpIsLinearForEveryKind) {
  for (ScheduleKind kind :
       {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine, ScheduleKind::onecycle}) {
    const ScheduleConfig c = config(kind);
    EXPECT_FLOAT_EQ(learning_rate(c, 0), 0.04f) << schedule_name(kind);
    EXPECT_FLOAT_EQ(learning_rate(c, 50), 0.4f * (0.1f + 0.9f * 0.5f)) << schedule_name(kind);
    EXPECT_FLOAT_EQ(learning_rate(c, 100), 0.4f) << schedule_name(kind);  // warm-up end
    for (long s = 1; s <= 100; ++s) EXPECT_GT(learning_rate(c, s), learning_rate(c, s - 1));
  }
}

TEST(Schedule, ConstantStaysAtBase) {
  ScheduleConfig c = config(ScheduleKind::constant);
  c.warmup_steps = 0;
  for (long s : {0L, 1L, 550L, 1100L, 5000L}) EXPECT_EQ(learning_rate(c, s), 0.4f);
}

TEST(Schedule, StepDecaysEveryStepSizeAfterWarmUp) {
  const ScheduleConfig c = config(ScheduleKind::step);
  EXPECT_FLOAT_EQ(learning_rate(c, 399), 0.4f);
  EXPECT_FLOAT_EQ(learning_rate(c, 400), 0.2f);
  EXPECT_FLOAT_EQ(learning_rate(c, 699), 0.2f);
  EXPECT_FLOAT_EQ(learning_rate(c, 700), 0.1f);
  EXPECT_FLOAT_EQ(learning_rate(c, 1000), 0.05f);
}

TEST(Schedule, CosineHitsHalfwayAndFinalAndDecreases) {
  const ScheduleConfig c = config(ScheduleKind::cosine);
  const float final_lr = 0.4f * 0.01f;
  EXPECT_FLOAT_EQ(learning_rate(c, 600), (0.4f + final_lr) / 2);  // halfway through the decay
  EXPECT_FLOAT_EQ(learning_rate(c, 1100), final_lr);              // end
  EXPECT_FLOAT_EQ(learning_rate(c, 2000), final_lr);              // past the end: stays
  for (long s = 101; s <= 1100; ++s) EXPECT_LE(learning_rate(c, s), learning_rate(c, s - 1));
  EXPECT_LT(learning_rate(c, 1099), learning_rate(c, 101));
}

TEST(Schedule, OneCycleLinearAndCosineDecay) {
  ScheduleConfig c = config(ScheduleKind::onecycle);
  const float final_lr = 0.4f * 0.01f;
  EXPECT_FLOAT_EQ(learning_rate(c, 600), (0.4f + final_lr) / 2);
  EXPECT_FLOAT_EQ(learning_rate(c, 350), 0.4f + (final_lr - 0.4f) * 0.25f);  // linear
  EXPECT_FLOAT_EQ(learning_rate(c, 1100), final_lr);
  for (long s = 101; s <= 1100; ++s) EXPECT_LT(learning_rate(c, s), learning_rate(c, s - 1));
  c.onecycle_linear = false;
  const ScheduleConfig cos = config(ScheduleKind::cosine);
  for (long s : {0L, 100L, 350L, 600L, 1100L})
    EXPECT_EQ(learning_rate(c, s), learning_rate(cos, s));
}

TEST(Schedule, NoWarmUpStartsAtBase) {
  ScheduleConfig c = config(ScheduleKind::cosine);
  c.warmup_steps = 0;
  EXPECT_FLOAT_EQ(learning_rate(c, 0), 0.4f);
  EXPECT_FLOAT_EQ(learning_rate(c, 550), (0.4f + 0.004f) / 2);
}

TEST(Schedule, ParseNamesAndRejectsUnknown) {
  EXPECT_EQ(parse_schedule("constant"), ScheduleKind::constant);
  EXPECT_EQ(parse_schedule("step"), ScheduleKind::step);
  EXPECT_EQ(parse_schedule("cosine"), ScheduleKind::cosine);
  EXPECT_EQ(parse_schedule("onecycle"), ScheduleKind::onecycle);
  try {
    parse_schedule("linear");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("linear"), std::string::npos) << what;
    EXPECT_NE(what.find("constant, step, cosine, onecycle"), std::string::npos) << what;
  }
}

TEST(Schedule, RejectsInvalidConfigs) {
  ScheduleConfig c = config(ScheduleKind::step);
  EXPECT_THROW(learning_rate(c, -1), Error);
  c.step_size = 0;
  EXPECT_THROW(learning_rate(c, 0), Error);
  c = config(ScheduleKind::cosine);
  c.total_steps = 0;
  EXPECT_THROW(learning_rate(c, 0), Error);
  c = config(ScheduleKind::cosine);
  c.warmup_steps = -1;
  EXPECT_THROW(learning_rate(c, 0), Error);
}

}  // namespace
}  // namespace gq
