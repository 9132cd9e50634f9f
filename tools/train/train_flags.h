// gq-train's command line and --config file, derived from the settings registry
// (runtime/train/settings.h): every setting is a flag in its group of --help with its default,
// its valid values and its check. gq-train and the config fuzzer both use it, so the fuzzer parses
// exactly what the tool parses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/train/train_config.h"
#include "tools/train/config_file.h"

namespace gq::train {

// Declares every setting linked into this program as a flag of `app`, and installs the strict
// --config reader (returned: main() asks it where a bad value came from).
std::shared_ptr<ConfigFile> add_train_flags(CLI::App& app);
// After app.parse(): the settings given on the command line or in the file, over the defaults.
// Refuses one given where it has no effect (CLI::ValidationError, exit 105, saying what to add).
TrainConfig train_config(const CLI::App& app);
// "; did you mean --batch-size?" for the first of `args` that looks like a flag of no setting, or "".
std::string suggest_flag(const CLI::App& app, const std::vector<std::string>& args);

}  // namespace gq::train
