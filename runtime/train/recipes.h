// Recipes: a named set of setting values (--recipe airbench94), applied before the settings given
// on the command line or in a --config file, which override them. A recipe sets nothing a setting
// cannot: the run's record, start-up line and resume check see the values, not the name.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/train/train_config.h"

namespace gq::train {

struct Recipe {
  std::string name;
  std::string about;  // one line for --help
  std::vector<std::pair<std::string, std::string>> settings;  // setting name, value as typed
};

const std::vector<Recipe>& recipes();
// Sets c's settings to the recipe's values (each checked as the command line checks it; gq::Error
// naming the recipe and the setting otherwise). "none" sets nothing.
void apply_recipe(const std::string& name, TrainConfig& c);

}  // namespace gq::train
