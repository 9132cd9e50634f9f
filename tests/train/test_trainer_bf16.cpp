// --precision bf16 end to end on real MNIST (GQ_DATA_DIR; mnist-cnn: convolutions and a linear
// layer): a few steps are bit-identical on a rerun, differ from fp32's, resume bit-identically, and
// a resume in the other precision is refused naming --precision.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "runtime/error.h"
#include "runtime/train/trainer.h"
#include "tests/temp_dir.h"
#include "tests/train/trainer_steps.h"

namespace gq::train {
namespace {

using gq::test::TempDir;

TrainConfig bf16_config() {
  TrainConfig cfg = small_mnist_config(32, 1, 640, 200, 7);
  cfg.precision = Precision::bf16;
  return cfg;
}

TEST(TrainerBf16, SameSeedGivesBitIdenticalStepsThatDifferFromFp32) {
  Trainer a(bf16_config()), b(bf16_config());
  const auto la = run_steps(a, 5), lb = run_steps(b, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(la[i], lb[i]) << "step " << i;
  EXPECT_EQ(params_of(a), params_of(b));
  TrainConfig fp32 = bf16_config();
  fp32.precision = Precision::fp32;
  Trainer c(fp32);
  const auto lc = run_steps(c, 5);
  EXPECT_NE(lc, la) << "--precision bf16 trained fp32's bits";
  // bf16 rounding is small: the first step's loss (before any update) agrees to 1e-2.
  EXPECT_NEAR(la[0], lc[0], 1e-2 * std::abs(lc[0]));
}

TEST(TrainerBf16, ResumeContinuesBitIdenticallyAndRefusesFp32) {
  const TrainConfig cfg = bf16_config();
  Trainer straight(cfg);
  const auto want = run_steps(straight, 7);
  const TempDir dir("trainer_bf16_resume");
  {
    Trainer first(cfg);
    run_steps(first, 4);
    first.save(dir / "mid.ckpt");
  }
  Trainer resumed(cfg);
  resumed.load(dir / "mid.ckpt");
  const auto got = run_steps(resumed, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], want[4 + i]) << "step " << 4 + i;
  EXPECT_EQ(params_of(resumed), params_of(straight));

  TrainConfig fp32 = cfg;
  fp32.precision = Precision::fp32;
  try {
    Trainer u(fp32);
    u.load(dir / "mid.ckpt");
    FAIL() << "resumed a bf16 run in fp32";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--precision: checkpoint bf16"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace gq::train
