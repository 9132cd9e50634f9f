// The settings registry (runtime/train/settings.h) and what is derived from it: declarations that
// hold together, the command line and config file, the run record a resume compares.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/recipes.h"
#include "runtime/train/settings.h"
#include "runtime/train/trainer.h"
#include "tools/train/train_flags.h"

namespace gq::train {
namespace {

// A component's settings are linked in with its code, as in gq-train, which the Trainer pulls in.
[[maybe_unused]] void (Trainer::*volatile kLinkTheTrainer)() = &Trainer::step;

TrainConfig parse(std::vector<std::string> args) {
  CLI::App app;
  add_train_flags(app);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  app.parse(args);
  return train_config(app);
}

TEST(Settings, DeclarationsHoldTogether) {
  std::set<std::string> names;
  for (const Setting& s : all_settings()) {
    EXPECT_TRUE(names.insert(s.name).second) << "--" << s.name << " declared twice";
    EXPECT_FALSE(s.group.empty() || s.help.empty()) << s.name;
    if (!s.needs.empty()) {
      EXPECT_NE(find_setting(s.needs), nullptr) << s.name << " needs " << s.needs;
    }
    const nlohmann::json& d = s.default_value;
    if (s.check) {
      EXPECT_EQ(s.check(d.is_string() ? d.get<std::string>() : d.dump()), "")
          << "--" << s.name << "'s default is not one of its values";
    }
  }
  // The components' own settings are linked in with them.
  for (const char* name : {"gradqueue", "gq-qmin", "lars-eta", "model", "optimizer"})
    EXPECT_NE(find_setting(name), nullptr) << name;
}

TEST(Settings, ChoicesComeFromTheRegistries) {
  CLI::App app;
  add_train_flags(app);
  try {
    app.parse(std::vector<std::string>{"adam", "--optimizer"});
    FAIL() << "no error";
  } catch (const CLI::ValidationError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.get_exit_code(), 105);
    for (const std::string& name : optimizer_names()) EXPECT_NE(what.find(name), std::string::npos) << what;
    EXPECT_NE(what.find("did you mean adamw?"), std::string::npos) << what;
  }
}

TEST(Settings, ConfigFileRoundTrip) {
  const TrainConfig cfg = parse({"--model", "mlp", "--dataset", "reuters", "--lr", "0.05", "--seed", "7",
                                 "--optimizer", "lars", "--lars-eta", "0.002", "--gradqueue",
                                 "--gq-clusters", "3", "--gq-scarcity", "clip", "--gq-renorm", "off",
                                 "--no-augment", "--data-dir", "/data with \"quotes\""});
  const std::string file = testing::TempDir() + "settings_round_trip.toml";
  std::ofstream(file) << config_text(cfg);
  const TrainConfig back = parse({"--config", file});
  EXPECT_EQ(run_settings(back), run_settings(cfg));
  EXPECT_EQ(changed_settings(back), changed_settings(cfg));
  EXPECT_EQ(back.data_dir, cfg.data_dir);
  EXPECT_FLOAT_EQ(back.optimizer_settings.slots.get("lars-eta", 0.0f), 0.002f);
  std::remove(file.c_str());
}

TEST(Settings, RunRecordHoldsWhatIsInEffect) {
  TrainConfig plain;
  const nlohmann::json s = run_settings(plain);
  EXPECT_FALSE(s.contains("lars-eta"));  // nesterov
  EXPECT_FALSE(s.contains("gq-qmin"));   // no --gradqueue
  EXPECT_FALSE(s.contains("val-size"));  // at its default: older checkpoints stay resumable
  EXPECT_FALSE(s.contains("data-dir"));  // a resume may move the data
  EXPECT_EQ(s.at("momentum"), 0.9);      // as written, not 0.899999976
  TrainConfig gq = plain;
  gq.gradqueue = true;
  EXPECT_EQ(run_settings(gq).at("gq-clusters"), "auto");
}

// A run header's settings (runtime/train/run_header.h): every setting in effect, with its value.
TEST(Settings, ValuesHoldEverySettingInEffect) {
  const TrainConfig cfg =
      parse({"--optimizer", "lars", "--lars-eta", "0.002", "--metrics", "m.jsonl"});
  const nlohmann::json v = setting_values(cfg);
  for (const Setting& s : all_settings())
    EXPECT_EQ(v.contains(s.name), in_effect(s, cfg)) << "--" << s.name;
  EXPECT_FALSE(v.contains("gq-qmin"));        // no --gradqueue
  EXPECT_EQ(v.at("lars-eta"), 0.002);         // a component's own setting
  EXPECT_EQ(v.at("metrics"), "m.jsonl");      // a resume may change it: recorded all the same
  EXPECT_EQ(v.at("model"), "paper-cnn");      // at its default
}

TEST(Settings, ResumeCheckNamesTheDifferingSetting) {
  TrainConfig a;
  a.gradqueue = true;
  TrainConfig b = a;
  b.gq.qmin = 8;
  b.seed = 5;
  const auto diff = settings_differences(run_settings(a), run_settings(b));
  ASSERT_EQ(diff.size(), 2u);
  EXPECT_EQ(diff[0], "--gq-qmin: checkpoint 4, this run 8");
  EXPECT_EQ(diff[1], "--seed: checkpoint 0, this run 5");
}

TEST(Settings, ValuesBuiltInCodeAreCheckedToo) {
  TrainConfig cfg;
  cfg.schedule = "linear";
  try {
    check_values(cfg);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--schedule: expected one of constant", 0), 0u) << e.what();
  }
}

// --recipe airbench94: its table of values, each in effect (a recipe value with no effect would be
// refused if typed), overridable on the command line, recorded as values (not by name), and the
// whole-epoch record of --epochs unchanged.
TEST(Settings, RecipeAirbench94SetsItsTableAndTheCommandLineOverridesIt) {
  const TrainConfig r = parse({"--recipe", "airbench94"});
  EXPECT_EQ(r.model, "airbench94");
  EXPECT_EQ(r.dataset, "cifar10");
  EXPECT_EQ(r.batch_size, 1024);
  EXPECT_EQ(r.epochs, 9.9);
  EXPECT_EQ(r.optimizer, "nesterov");
  EXPECT_EQ(r.lr, 1.5f);
  EXPECT_EQ(r.optimizer_settings.momentum, 0.85f);
  EXPECT_EQ(r.optimizer_settings.weight_decay, static_cast<float>(0.0153 / 11.5));
  EXPECT_TRUE(r.optimizer_settings.decay_biases);
  EXPECT_EQ(r.optimizer_settings.norm_lr_scale, 64.0f);
  EXPECT_EQ(r.label_smoothing, 0.2f);
  EXPECT_EQ(r.schedule, "triangular");
  EXPECT_EQ(r.freeze_stem_after_epochs, 3);
  EXPECT_TRUE(r.lookahead_ema);
  EXPECT_EQ(r.lookahead_every, 5);
  EXPECT_EQ(r.crop_pad, 2);
  EXPECT_EQ(r.pad_mode, "reflect");
  EXPECT_EQ(r.flip, "alternating");
  EXPECT_EQ(r.tta_level, 2);
  EXPECT_EQ(r.whiten_images, 5000);
  for (const Recipe& recipe : recipes())
    for (const auto& [key, value] : recipe.settings) {
      const Setting* s = find_setting(key);
      ASSERT_NE(s, nullptr) << key;
      EXPECT_EQ(why_no_effect(*s, r), "") << key;
    }
  const nlohmann::json record = run_settings(r);
  EXPECT_FALSE(record.contains("recipe"));
  EXPECT_EQ(record.at("epochs"), 9.9);
  EXPECT_EQ(record.at("norm-bias-lr-scale"), 64);
  const TrainConfig o = parse({"--recipe", "airbench94", "--epochs", "2", "--tta-level", "0"});
  EXPECT_EQ(o.epochs, 2.0);
  EXPECT_EQ(o.tta_level, 0);
  EXPECT_EQ(o.lr, 1.5f);
  EXPECT_EQ(run_settings(o).at("epochs").dump(), "2");  // as whole-epoch runs recorded it before
  EXPECT_FALSE(run_settings(TrainConfig{}).contains("lookahead-ema"));  // older records unchanged
}

}  // namespace
}  // namespace gq::train
