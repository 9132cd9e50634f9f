// The airbench94 recipe wired into the Trainer (runtime/train/recipes.h): the optimizer's
// translation from PyTorch's summed-loss SGD, the triangular schedule, the stem frozen after an
// epoch, the lookahead EMA across a checkpoint (resume mid-EMA bit-identical), TTA reported. The
// Trainer tests run the airbench94 model on small MNIST subsets (1 channel: an 8-filter stem):
// CIFAR-10's archive takes seconds per Trainer to decode.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "runtime/schedule.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/recipes.h"
#include "runtime/train/trainer.h"
#include "runtime/triangular_schedule.h"
#include "tests/temp_dir.h"
#include "tests/train/trainer_steps.h"

namespace gq::train {
namespace {

using gq::test::TempDir;

// One Nesterov step of PyTorch's SGD (dampening 0) on the SUMMED loss of a batch of B, in double:
// g = B * mean_grad + wd * p; buf = m * buf + g; p -= lr * (g + m * buf).
void pytorch_step(std::vector<double>& p, std::vector<double>& buf, const std::vector<double>& g,
                  double batch, double lr, double wd, double m) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double gi = batch * g[i] + wd * p[i];
    buf[i] = m * buf[i] + gi;
    p[i] -= lr * (gi + m * buf[i]);
  }
}

TEST(Airbench94Optimizer, MeanLossGroupsStepAsPyTorchSgdOnTheSummedLoss) {
  models::ParamRegistry reg;
  reg.add("conv.weight", Shape{5}, true, models::Init::zeros);
  const auto bias = reg.add("norm.bias", Shape{3}, false, models::Init::zeros);
  reg.mark_normalization(bias);
  reg.add_frozen("norm.weight", Shape{3}, models::Init::ones);
  reg.allocate();
  const std::vector<float> p0 = {0.5f, -0.25f, 1.0f, 0.125f, -2.0f, 0.3f, -0.1f, 0.0f, 1, 1, 1};
  const std::vector<float> g = {0.01f,   -0.02f, 0.03f, 0.0f, 0.05f, 0.004f,
                                -0.003f, 0.002f, 9,     9,    9};
  copy_to_device(reg.values(), p0.data(), p0.size() * sizeof(float));
  copy_to_device(reg.grads(), g.data(), g.size() * sizeof(float));  // frozen: must stay ignored

  TrainConfig recipe;
  apply_recipe("airbench94", recipe);
  const OptimizerSettings& s = recipe.optimizer_settings;
  EXPECT_EQ(recipe.lr, 1.5f);  // 11.5 B / K at B = 1024
  const auto groups = param_groups(reg, s);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (ParamGroup{0, 5, s.weight_decay, 1.0f, 0}));
  EXPECT_EQ(groups[1], (ParamGroup{5, 3, s.weight_decay / 64, 64.0f, 0}));

  auto opt = make_optimizer("nesterov", s, reg);
  const double batch = 1024, momentum = 0.85, kilostep = 1024 * (1 + 1 / (1 - momentum));
  const double lr = 11.5 / kilostep, wd = 0.0153 * batch / kilostep, lr_bias = 64 * lr;
  std::vector<double> want(p0.begin(), p0.end()), buf(p0.size(), 0.0);
  std::vector<double> gd(g.begin(), g.end());
  for (int step = 0; step < 2; ++step) {
    opt->step(
        {reg.values(), reg.grads(), recipe.lr, static_cast<std::uint64_t>(step), nullptr, nullptr});
    std::vector<double> w(want.begin(), want.begin() + 5), wb(buf.begin(), buf.begin() + 5);
    std::vector<double> b(want.begin() + 5, want.begin() + 8), bb(buf.begin() + 5, buf.begin() + 8);
    pytorch_step(w, wb, {gd.begin(), gd.begin() + 5}, batch, lr, wd / lr, momentum);
    pytorch_step(b, bb, {gd.begin() + 5, gd.begin() + 8}, batch, lr_bias, wd / lr_bias, momentum);
    std::copy(w.begin(), w.end(), want.begin());
    std::copy(wb.begin(), wb.end(), buf.begin());
    std::copy(b.begin(), b.end(), want.begin() + 5);
    std::copy(bb.begin(), bb.end(), buf.begin() + 5);
  }
  std::vector<float> got(p0.size());
  copy_to_host(got.data(), reg.values(), got.size() * sizeof(float));
  for (std::size_t i = 0; i < 8; ++i)
    EXPECT_NEAR(got[i], want[i], 2e-5 * (1 + std::abs(want[i]))) << "parameter " << i;
  for (std::size_t i = 8; i < 11; ++i) EXPECT_EQ(got[i], 1.0f) << "frozen tensor changed";
}

TEST(Airbench94Schedule, TriangularRisesToThePeakThenFalls) {
  ScheduleConfig c;
  c.kind = parse_schedule("triangular");
  c.base_lr = 1.5f;
  c.total_steps = 476;  // ceil(9.9 * 48)
  c.warmup_steps = 0;
  const long peak = 109;  // floor(0.23 * 476)
  EXPECT_EQ(learning_rate(c, 0), static_cast<float>(1.5 * 0.2));
  EXPECT_EQ(learning_rate(c, peak), 1.5f);
  EXPECT_EQ(learning_rate(c, 476), static_cast<float>(1.5 * 0.07));
  for (long s : {1L, 50L, 108L, 110L, 300L, 475L})
    EXPECT_EQ(learning_rate(c, s), static_cast<float>(1.5 * triangular_lr_factor(s, 476)));
  EXPECT_NEAR(learning_rate(c, 50), 1.5 * (0.2 + 0.8 * 50 / 109.0), 1e-6);
  EXPECT_NEAR(learning_rate(c, 300), 1.5 * (1 - 0.93 * (300 - 109) / 367.0), 1e-6);
}

// The recipe on MNIST subsets: 4 steps per epoch, 3 epochs, stem frozen after 1, the EMA every
// 5 steps (updates after steps 5, 10 and the final copy after 12), TTA level 2.
TrainConfig small_airbench94() {
  TrainConfig cfg;
  apply_recipe("airbench94", cfg);
  cfg.dataset = "mnist";
  cfg.batch_size = 16;
  cfg.train_subset = 64;
  cfg.test_subset = 40;
  cfg.epochs = 3;
  cfg.lr = 0.2f;
  cfg.freeze_stem_after_epochs = 1;
  cfg.whiten_images = 48;
  cfg.seed = 3;
  cfg.quiet = true;
  return cfg;
}

std::vector<float> tensor_of(Trainer& t, const std::string& name) {
  auto& reg = t.model().params();
  for (const auto& info : reg.infos())
    if (info.name == name) {
      std::vector<float> v(info.numel());
      copy_to_host(v.data(), reg.values() + info.offset, v.size() * sizeof(float));
      return v;
    }
  ADD_FAILURE() << "no tensor " << name;
  return {};
}

TEST(Airbench94Trainer, StemBiasTrainsForItsEpochsThenStops) {
  TrainConfig cfg = small_airbench94();
  cfg.lookahead_ema = false;  // its updates move every weight toward its average, frozen or not
  Trainer t(cfg);
  const auto w0 = tensor_of(t, "stem.whiten.weight"), b0 = tensor_of(t, "stem.whiten.bias");
  EXPECT_NE(w0, std::vector<float>(w0.size(), 0.0f)) << "whitening filters were not set";
  run_steps(t, 4);  // epoch 1: trained
  const auto b4 = tensor_of(t, "stem.whiten.bias");
  EXPECT_NE(b4, b0);
  const auto conv4 = tensor_of(t, "block1.conv1.weight");
  run_steps(t, 5);  // epochs 2 and 3: frozen (no step, no decay, no momentum)
  EXPECT_EQ(tensor_of(t, "stem.whiten.bias"), b4) << "the frozen stem bias moved";
  EXPECT_EQ(tensor_of(t, "stem.whiten.weight"), w0) << "the frozen whitening filters moved";
  EXPECT_NE(tensor_of(t, "block1.conv1.weight"), conv4) << "the rest stopped training too";
}

TEST(Airbench94Trainer, ResumeInTheMiddleOfTheEmaIsBitIdentical) {
  const TrainConfig cfg = small_airbench94();
  Trainer straight(cfg);
  ASSERT_NE(straight.lookahead(), nullptr);
  const auto want = run_steps(straight, 12);
  const TempDir dir("airbench94");
  {
    Trainer first(cfg);
    run_steps(first, 7);  // between the EMA updates after steps 5 and 10
    first.save(dir / "mid.ckpt");
  }
  TrainConfig again = cfg;
  again.resume = dir / "mid.ckpt";
  Trainer resumed(again);
  EXPECT_EQ(resumed.global_step(), 7);
  const auto got = run_steps(resumed, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], want[7 + i]) << "step " << 7 + i;
  EXPECT_EQ(params_of(resumed), params_of(straight));
  EXPECT_EQ(resumed.lookahead()->state().to_host(), straight.lookahead()->state().to_host());
  // After the last step the weights are the EMA's (the final update copies it in).
  EXPECT_EQ(params_of(straight), [&] {
    auto ema = straight.lookahead()->state().to_host();
    ema.resize(params_of(straight).size());
    return ema;
  }());
}

// Checkpoints before format 3 held the BatchNorm running statistics unnamed, as sections state0,
// state1, ... (a layer's mean then variance): such a checkpoint resumes to the same bits.
TEST(Airbench94Trainer, AnOlderCheckpointsUnnamedModelStateResumesTheSame) {
  const TrainConfig cfg = small_airbench94();
  const TempDir dir("airbench94");
  std::vector<std::string> state_names;
  {
    Trainer first(cfg);
    run_steps(first, 7);
    first.save(dir / "named.ckpt");
    for (const models::StateTensor& t : first.model().state_tensors())
      state_names.push_back(t.name);
  }
  ASSERT_EQ(state_names.size(), 12u);  // six BatchNorms, mean and variance each
  Checkpoint ck = read_checkpoint(dir / "named.ckpt");
  for (std::size_t i = 0; i < state_names.size(); i += 2) {
    std::vector<float> layer = ck.sections.at(state_names[i]);
    const std::vector<float>& var = ck.sections.at(state_names[i + 1]);
    layer.insert(layer.end(), var.begin(), var.end());
    ck.sections["state" + std::to_string(i / 2)] = layer;
    ck.sections.erase(state_names[i]);
    ck.sections.erase(state_names[i + 1]);
  }
  ck.header["format"] = 2;
  write_checkpoint(dir / "unnamed.ckpt", ck);
  const auto resume = [&](const char* file) {
    TrainConfig again = cfg;
    again.resume = dir / file;
    Trainer t(again);
    std::vector<float> out = run_steps(t, 3);
    for (const models::StateTensor& s : t.model().state_tensors()) {
      std::vector<float> v(s.size);
      copy_to_host(v.data(), s.data, s.size * sizeof(float));
      out.insert(out.end(), v.begin(), v.end());
    }
    const std::vector<float> p = params_of(t);
    out.insert(out.end(), p.begin(), p.end());
    return out;
  };
  EXPECT_EQ(resume("unnamed.ckpt"), resume("named.ckpt"));
}

TEST(Airbench94Trainer, FinalEvaluationReportsTtaNextToThePlainAccuracy) {
  TrainConfig cfg = small_airbench94();
  cfg.epochs = 1;
  Trainer t(cfg);
  const EvalResult r = t.run();
  EXPECT_EQ(r.tta_level, 2);
  EXPECT_GE(r.tta_accuracy, 0.0);
  EXPECT_LE(r.tta_accuracy, 1.0);
  EXPECT_TRUE(std::isfinite(r.tta_loss));
  EXPECT_NE(r.tta_loss, r.loss);  // six views, not the plain forward
}

}  // namespace
}  // namespace gq::train
