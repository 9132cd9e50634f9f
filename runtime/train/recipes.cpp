#include "runtime/train/recipes.h"

#include <fmt/format.h>

#include "runtime/error.h"
#include "runtime/train/settings.h"

namespace gq::train {

// airbench94 (cifar10-airbench's airbench94.py, arXiv 2404.00498: 94.01% mean over 1,000 runs):
// its hyper-parameters in gradqueue's terms. The loss here is the batch mean, the original's the
// batch sum, so its PyTorch SGD (lr 11.5 / K, weight_decay (0.0153 B / K) / lr, K = 1024 (1 +
// 1 / (1 - 0.85))) becomes lr 11.5 B / K = 1.5 at B = 1024 and weight decay 0.0153 / 11.5
// (optimizers/sgd.cpp has the derivation). 9.9 epochs of 48 steps: ceil(475.2) = 476 steps.
const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = {
      {"airbench94",
       "CIFAR-10 to 94% in 9.9 epochs (airbench94.py): whitening stem, Nesterov with BatchNorm "
       "shifts at 64x, triangular schedule, lookahead EMA, alternating flip, TTA level 2",
       {{"model", "airbench94"},
        {"dataset", "cifar10"},
        {"batch-size", "1024"},
        {"epochs", "9.9"},
        {"optimizer", "nesterov"},
        {"momentum", "0.85"},
        {"lr", "1.5"},
        {"weight-decay", "0.0013304347826086957"},  // 0.0153 / 11.5
        {"decay-biases", "true"},
        {"norm-bias-lr-scale", "64"},
        {"label-smoothing", "0.2"},
        {"schedule", "triangular"},
        {"warmup", "0"},
        {"freeze-stem-after-epochs", "3"},
        {"lookahead-ema", "true"},
        {"crop-pad", "2"},
        {"pad-mode", "reflect"},
        {"flip", "alternating"},
        {"tta-level", "2"}}},
  };
  return all;
}

namespace {

std::vector<std::pair<std::string, std::string>> recipe_table() {
  std::vector<std::pair<std::string, std::string>> table = {{"none", "none"}};
  for (const Recipe& r : recipes()) table.emplace_back(r.name, r.name);
  return table;
}

const bool kDeclared = declare({choice<std::string>(
    {"recipe", "Run",
     "a named set of settings, applied before the others (which override it): airbench94 = "
     "--model airbench94 --batch-size 1024 --epochs 9.9 --lr 1.5 --momentum 0.85 ... (README)"},
    GQ_FIELD(recipe), recipe_table())});

}  // namespace

void apply_recipe(const std::string& name, TrainConfig& c) {
  if (name == "none") return;
  for (const Recipe& r : recipes()) {
    if (r.name != name) continue;
    for (const auto& [key, text] : r.settings) {
      const Setting* s = find_setting(key);
      GQ_CHECK(s != nullptr, "recipe {}: no setting --{} in this program", name, key);
      const std::string problem = s->check ? s->check(text) : "";
      GQ_CHECK(problem.empty(), "recipe {}: --{}: {}", name, key, problem);
      s->assign(c, text);
    }
    c.recipe = name;
    return;
  }
  GQ_FAIL("unknown --recipe '{}'", name);
}

}  // namespace gq::train
