// gq-train's settings, each declared once by the component that owns it: its name (the flag, and
// the key of a --config file), help, group, what a value must be, whether a resume must match
// it, which other setting it needs to have an effect, and where its value lives. The command line,
// the config file, the checks, the start-up line, the resume check and the checkpoint's record of
// the run are all derived from these declarations (docs/ARCHITECTURE.md, "Adding a setting").
// Host-only (library gq_settings), so the config fuzzer links it without the emulator.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/train/train_config.h"

namespace gq::train {

enum class ResumeRule {
  may_change,           // paths, logging, evaluation: a resume may change it
  must_match,           // the run's state depends on it: recorded, and a resume must match it
  must_match_when_set,  // as must_match, but recorded only away from its default (older
                        // checkpoints, written before it existed, stay resumable)
};

// What a declaration states in words.
struct About {
  About(std::string name, std::string group, std::string help,
        ResumeRule resume = ResumeRule::may_change, std::string needs = "",
        std::vector<std::string> needs_values = {})
      : name(std::move(name)),
        group(std::move(group)),
        help(std::move(help)),
        resume(resume),
        needs(std::move(needs)),
        needs_values(std::move(needs_values)) {}
  std::string name;   // the flag without "--", and the --config key
  std::string group;  // its section of --help
  std::string help;
  ResumeRule resume;
  // Another setting this one needs to have any effect, and the values it needs that setting to
  // have (none: that setting switched on, or given). Giving it without them is refused.
  std::string needs;
  std::vector<std::string> needs_values;
};

struct Setting : About {
  explicit Setting(About about) : About(std::move(about)) {}
  // What a value must be, for --help: "0..2147483647", "sgd|adamw" (read when asked: names are
  // registered at static initialisation, in no particular order).
  std::function<std::string()> expects;
  bool is_flag = false;  // given without a value (--gradqueue)
  bool is_path = false;  // a file or folder: each process of a job may name its own
  // "" when `text` is a valid value, else "expected ..., found '...'".
  std::function<std::string(const std::string& text)> check;
  std::function<void(TrainConfig&, const std::string& text)> assign;  // a checked text
  std::function<nlohmann::json(const TrainConfig&)> value;  // as recorded, compared and shown
  nlohmann::json default_value;
};

// Registers a setting at static initialisation: `const bool declared = declare({...});`.
bool declare(std::vector<Setting> settings);
// Every setting linked into this program: the Trainer's own first, in declaration order.
const std::vector<Setting>& all_settings();
const Setting* find_setting(const std::string& name);

// --- Declaring: where a value lives, and what it must be --------------------------------------
// A field of TrainConfig, written GQ_FIELD(gq.qmin).
template <class T>
using Field = T& (*)(TrainConfig&);
#define GQ_FIELD(path) +[](::gq::train::TrainConfig& c) -> auto& { return c.path; }

// "" or what was expected: a whole number in decimal digits lo..hi; a finite real in [lo, hi]
// (lo < x when lo_open); one of `names`. Messages name no flag: the caller adds it.
std::string check_integer(const std::string& text, std::uint64_t lo, std::uint64_t hi);
// As check_integer, but `word` (e.g. "auto") is accepted too.
std::string check_integer_or(const std::string& text, const std::string& word, std::uint64_t lo,
                             std::uint64_t hi);
std::string check_real(const std::string& text, double lo, double hi, bool lo_open = false);
std::string check_choice(const std::string& text, const std::vector<std::string>& names);
std::string join_choices(const std::vector<std::string>& names);  // "sgd|momentum|adamw"
std::string integer_range(std::uint64_t lo, std::uint64_t hi);  // "0..2^64-1"
std::string real_range(double lo, double hi, bool lo_open);      // "(0, 1000000]"
// A float as written (0.1, not 0.10000000149011612): messages show what the user typed and
// comparisons stay exact.
double as_written(float v);
const TrainConfig& defaults();  // a default-constructed TrainConfig

namespace detail {
template <class T>
Setting make(About about, Field<T> field) {
  Setting s{std::move(about)};
  s.value = [field](const TrainConfig& c) {
    const T& v = field(const_cast<TrainConfig&>(c));  // read only
    if constexpr (std::is_same_v<T, float>) return nlohmann::json(as_written(v));
    else if constexpr (std::is_same_v<T, std::filesystem::path>) return nlohmann::json(v.string());
    else return nlohmann::json(v);
  };
  s.default_value = s.value(defaults());
  return s;
}
}  // namespace detail

// An integer lo..hi; zero_word (e.g. "auto"), when given, is also accepted and means 0.
template <class T>
Setting integer(About about, Field<T> field, std::uint64_t lo, std::uint64_t hi,
                std::string zero_word = "") {
  Setting s = detail::make(std::move(about), field);
  s.expects = [=] { return zero_word.empty() ? integer_range(lo, hi) : zero_word + "|" + integer_range(lo, hi); };
  s.check = [=](const std::string& text) { return check_integer_or(text, zero_word, lo, hi); };
  s.assign = [=](TrainConfig& c, const std::string& text) {
    field(c) = text == zero_word ? T{0} : static_cast<T>(std::stoull(text));
  };
  if (!zero_word.empty()) {
    s.value = [=](const TrainConfig& c) {
      const T v = field(const_cast<TrainConfig&>(c));
      return v == 0 ? nlohmann::json(zero_word) : nlohmann::json(v);
    };
    s.default_value = s.value(defaults());
  }
  return s;
}

// A finite real number in [lo, hi] ((lo, hi] when lo_open).
template <class T>
Setting real(About about, Field<T> field, double lo, double hi, bool lo_open = false) {
  Setting s = detail::make(std::move(about), field);
  s.expects = [=] { return real_range(lo, hi, lo_open); };
  s.check = [=](const std::string& text) { return check_real(text, lo, hi, lo_open); };
  s.assign = [=](TrainConfig& c, const std::string& text) {
    field(c) = static_cast<T>(std::strtold(text.c_str(), nullptr));  // as CLI11 reads it
  };
  return s;
}

// A switch given without a value; `inverted`: the flag turns the field off (--no-augment).
inline Setting flag(About about, Field<bool> field, bool inverted = false) {
  Setting s{std::move(about)};
  s.is_flag = true;
  s.value = [=](const TrainConfig& c) { return field(const_cast<TrainConfig&>(c)) != inverted; };
  s.default_value = s.value(defaults());
  s.assign = [=](TrainConfig& c, const std::string& text) { field(c) = (text == "true") != inverted; };
  return s;
}

// One of the names registered for `kind` (runtime/choices.h: models, datasets, optimizers, ...).
Setting registered(About about, Field<std::string> field, std::string kind);

// One of a fixed table of words, stored as what each stands for (an enum, on/off).
template <class T>
Setting choice(About about, Field<T> field, std::vector<std::pair<std::string, T>> table) {
  Setting s{std::move(about)};
  std::vector<std::string> names;
  for (const auto& [name, v] : table) names.push_back(name);
  s.expects = [names] { return join_choices(names); };
  s.check = [names](const std::string& text) { return check_choice(text, names); };
  s.assign = [=](TrainConfig& c, const std::string& text) {
    for (const auto& [name, v] : table)
      if (name == text) field(c) = v;
  };
  s.value = [=](const TrainConfig& c) {
    const T& current = field(const_cast<TrainConfig&>(c));
    for (const auto& [name, v] : table)
      if (current == v) return nlohmann::json(name);
    if constexpr (std::is_same_v<T, std::string>) return nlohmann::json(current);  // for its check
    return nlohmann::json("?");
  };
  s.default_value = s.value(defaults());
  return s;
}

// A file or folder name (not checked here: the component that opens it says what is wrong).
inline Setting path(About about, Field<std::filesystem::path> field) {
  Setting s = detail::make(std::move(about), field);
  s.is_path = true;
  s.assign = [=](TrainConfig& c, const std::string& text) { field(c) = text; };
  return s;
}

// --- Derived from the declarations ------------------------------------------------------------
// Whether `s` has an effect with `c`'s other settings (its `needs` holds).
bool in_effect(const Setting& s, const TrainConfig& c);
// Why giving `s` has no effect with `c` ("--lars-eta has no effect with --optimizer nesterov:
// ..."), or "".
std::string why_no_effect(const Setting& s, const TrainConfig& c);
// Throws gq::Error naming the first setting whose value is not valid (a TrainConfig built in code
// gets the checks the command line applies).
void check_values(const TrainConfig& c);
// The settings a resume must match: {"model": ..., "lr": ..., "gq-qmin": ...}.
nlohmann::json run_settings(const TrainConfig& c);
// Every setting but paths, keyed by flag ("--lr"): what the processes of a job must share.
nlohmann::json shared_settings(const TrainConfig& c);
// Every setting in effect and its value, those a resume may change too: what a run's header in
// the --metrics JSONL records.
nlohmann::json setting_values(const TrainConfig& c);
// One line per setting that differs: "--seed: checkpoint 0, this run 1"; empty when they match.
std::vector<std::string> settings_differences(const nlohmann::json& checkpoint,
                                              const nlohmann::json& run);
// The run's settings away from their defaults, as flags: "--model mlp --gradqueue --seed 3".
std::string changed_settings(const TrainConfig& c);
// A --config file that sets every setting in effect to c's value (key = value lines); unset paths
// are left out (an empty path given is refused).
std::string config_text(const TrainConfig& c);
// The closest of `names` to a mistyped `word`, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& names);

}  // namespace gq::train
