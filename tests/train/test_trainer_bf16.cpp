// --precision bf16 end to end on real MNIST (GQ_DATA_DIR; mnist-cnn: convolutions and a linear
// layer): a few steps are bit-identical on a rerun, differ from fp32's, resume bit-identically, and
// a resume in the other precision is refused naming --precision. The same for --activations bf16
// (bf16 storage), which is refused without --precision bf16, and for Grad Queue with bf16 storage
// (its hook and k-means read widened copies of the stored bf16).
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

// A run of cfg stopped after 4 steps and resumed gives the straight run's 3 next steps and
// weights, bit for bit; resuming its checkpoint with `other` is refused, naming `refusal`.
void expect_resume_and_refusal(const TrainConfig& cfg, const TrainConfig& other,
                               const std::string& refusal, const char* folder) {
  Trainer straight(cfg);
  const auto want = run_steps(straight, 7);
  const TempDir dir(folder);
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
  try {
    Trainer u(other);
    u.load(dir / "mid.ckpt");
    FAIL() << "resumed with another setting: " << refusal;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(refusal), std::string::npos) << e.what();
  }
}

TEST(TrainerBf16, ResumeContinuesBitIdenticallyAndRefusesFp32) {
  TrainConfig fp32 = bf16_config();
  fp32.precision = Precision::fp32;
  expect_resume_and_refusal(bf16_config(), fp32, "--precision: checkpoint bf16",
                            "trainer_bf16_resume");
}

TrainConfig bf16_storage_config() {
  TrainConfig cfg = bf16_config();
  cfg.activations = Precision::bf16;
  return cfg;
}

TEST(TrainerBf16, Bf16StorageIsBitIdenticalOnARerunAndCloseToFloatStorage) {
  Trainer a(bf16_storage_config()), b(bf16_storage_config()), f(bf16_config());
  const auto la = run_steps(a, 5), lb = run_steps(b, 5), lf = run_steps(f, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(la[i], lb[i]) << "step " << i;
  EXPECT_EQ(params_of(a), params_of(b));
  EXPECT_NE(la, lf) << "--activations bf16 trained float storage's bits";
  EXPECT_NEAR(la[0], lf[0], 1e-2 * std::abs(lf[0]));
}

TEST(TrainerBf16, Bf16StorageResumesBitIdenticallyAndRefusesFloatStorage) {
  expect_resume_and_refusal(bf16_storage_config(), bf16_config(), "--activations: checkpoint bf16",
                            "trainer_bf16_storage_resume");
}

// Constructing a Trainer with cfg fails with an error that says `why`.
void expect_refused(const TrainConfig& cfg, const std::string& why) {
  try {
    Trainer t(cfg);
    ADD_FAILURE() << "accepted: " << why;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
}

TEST(TrainerBf16, Bf16StorageNeedsBf16Compute) {
  TrainConfig fp32 = bf16_storage_config();
  fp32.precision = Precision::fp32;
  expect_refused(fp32, "--activations bf16 needs --precision bf16");
}

// Four clusters, so that k-means runs on the widened penultimate activation.
TrainConfig with_grad_queue(TrainConfig cfg) {
  cfg.gradqueue = true;
  cfg.gq.clusters = 4;
  cfg.gq.qmin = 2;
  cfg.gq.qmax = 4;
  return cfg;
}

// Grad Queue's first step sees the plain run's forward (same loss, to the bit); its per-cluster
// gradients then come from widened x and dy, and training stays close to float storage's.
TEST(TrainerBf16, GradQueueWithBf16StorageIsBitIdenticalOnARerunAndCloseToFloatStorage) {
  const TrainConfig cfg = with_grad_queue(bf16_storage_config());
  Trainer a(cfg), b(cfg), f(with_grad_queue(bf16_config())), plain(bf16_storage_config());
  const auto la = run_steps(a, 6), lb = run_steps(b, 6), lf = run_steps(f, 6);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(params_of(a), params_of(b));
  EXPECT_EQ(la[0], run_steps(plain, 1)[0]) << "the first forward is the plain run's";
  EXPECT_NE(la, lf) << "Grad Queue with bf16 storage trained float storage's bits";
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(la[i], lf[i], 0.05 * std::abs(lf[i])) << "step " << i;
}

// k-means reads the penultimate activation widened: its first clustering is float storage's (the
// features differ by bf16 rounding only, and L2-normalised they fall in the same clusters here).
TEST(TrainerBf16, GradQueueWithBf16StorageClustersTheWidenedFeatures) {
  const auto first_clusters = [](const TrainConfig& cfg) {
    Trainer t(cfg);
    t.step();
    return t.grad_queue()->diagnostics().cluster_sizes;
  };
  const auto sizes = first_clusters(with_grad_queue(bf16_storage_config()));
  EXPECT_EQ(sizes, first_clusters(with_grad_queue(bf16_config())));
}

TEST(TrainerBf16, GradQueueWithBf16StorageResumesBitIdentically) {
  expect_resume_and_refusal(with_grad_queue(bf16_storage_config()), with_grad_queue(bf16_config()),
                            "--activations: checkpoint bf16", "trainer_bf16_storage_gq_resume");
}

}  // namespace
}  // namespace gq::train
