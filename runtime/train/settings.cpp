#include "runtime/train/settings.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/choices.h"
#include "runtime/error.h"

namespace gq::train {

std::vector<Setting> train_settings();  // train_settings.cpp: the Trainer's own

namespace {

std::vector<Setting>& registry() {
  static std::vector<Setting> settings = train_settings();  // first, whoever declares first
  return settings;
}

// Bounds as people write them, and 2^64-1 rather than its 20 digits.
std::string bound(double v) {
  return fmt::format("{}", v);
}
std::string bound(std::uint64_t v) {
  return v == std::numeric_limits<std::uint64_t>::max() ? "2^64-1" : std::to_string(v);
}

// A value as a user writes it: 0.1, auto, true.
std::string shown(const nlohmann::json& v) {
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());  // 0, not 0.0
  return v.is_string() ? v.get<std::string>() : v.dump();
}

bool switched_on(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return !v.get<std::string>().empty();
  return v.is_number() && v.get<double>() != 0;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

bool declare(std::vector<Setting> settings) {
  for (Setting& s : settings) registry().push_back(std::move(s));
  return true;
}

const std::vector<Setting>& all_settings() {
  return registry();
}

const Setting* find_setting(const std::string& name) {
  for (const Setting& s : registry())
    if (s.name == name) return &s;
  return nullptr;
}

std::string integer_range(std::uint64_t lo, std::uint64_t hi) {
  return fmt::format("{}..{}", bound(lo), bound(hi));
}

std::string real_range(double lo, double hi, bool lo_open) {
  return fmt::format("{}{}, {}]", lo_open ? "(" : "[", bound(lo), bound(hi));
}

std::string check_integer(const std::string& text, std::uint64_t lo, std::uint64_t hi) {
  const bool digits = !text.empty() && text.size() <= 20 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  errno = 0;
  const unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE || v < lo || v > hi)
    return fmt::format("expected an integer {}, found '{}'", integer_range(lo, hi), text);
  return {};
}

std::string check_integer_or(const std::string& text, const std::string& word, std::uint64_t lo,
                             std::uint64_t hi) {
  if (word.empty()) return check_integer(text, lo, hi);
  if (text == word || check_integer(text, lo, hi).empty()) return {};
  return fmt::format("expected {} or an integer {}, found '{}'", word, integer_range(lo, hi), text);
}

const TrainConfig& defaults() {
  static const TrainConfig config;
  return config;
}

// CLI11's own Range lets NaN through (every comparison with NaN is false) and prints a bound of
// 309 digits; this refuses NaN and infinities and says what is allowed in a few words.
std::string check_real(const std::string& text, double lo, double hi, bool lo_open) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  const bool parsed = !text.empty() && end == text.c_str() + text.size();
  if (parsed && std::isfinite(v) && errno != ERANGE && (lo_open ? v > lo : v >= lo) && v <= hi)
    return {};
  return lo_open ? fmt::format("expected a finite number > {} and <= {}, found '{}'", bound(lo),
                               bound(hi), text)
                 : fmt::format("expected a finite number in {}..{}, found '{}'", bound(lo),
                               bound(hi), text);
}

std::string join_choices(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, "|"));
}

std::string check_choice(const std::string& text, const std::vector<std::string>& names) {
  if (std::find(names.begin(), names.end(), text) != names.end()) return {};
  const std::string near = closest(text, names);
  return fmt::format("expected one of {}, found '{}'{}", fmt::join(names, ", "), text,
                     near.empty() ? "" : "; did you mean " + near + "?");
}

double as_written(float v) {
  return std::stod(fmt::format("{}", v));
}

Setting registered(About about, Field<std::string> field, std::string kind) {
  Setting s = detail::make(std::move(about), field);
  s.expects = [kind] { return join_choices(choices(kind)); };
  s.check = [kind](const std::string& text) { return check_choice(text, choices(kind)); };
  s.assign = [field](TrainConfig& c, const std::string& text) { field(c) = text; };
  return s;
}

bool in_effect(const Setting& s, const TrainConfig& c) {
  const Setting* other = s.needs.empty() ? nullptr : find_setting(s.needs);
  if (!other) return true;
  const nlohmann::json v = other->value(c);
  if (s.needs_values.empty()) return switched_on(v);
  return std::find(s.needs_values.begin(), s.needs_values.end(), shown(v)) != s.needs_values.end();
}

std::string why_no_effect(const Setting& s, const TrainConfig& c) {
  if (in_effect(s, c)) return {};
  if (s.needs_values.empty())
    return fmt::format("--{} has no effect without --{}: add --{}{}, or drop --{}", s.name, s.needs,
                       s.needs, find_setting(s.needs)->is_flag ? "" : " ...", s.name);
  return fmt::format("--{} has no effect with --{} {}: it applies with --{} {}; change that, or "
                     "drop --{}",
                     s.name, s.needs, shown(find_setting(s.needs)->value(c)), s.needs,
                     fmt::join(s.needs_values, " or "), s.name);
}

void check_values(const TrainConfig& c) {
  for (const Setting& s : registry()) {
    if (!s.check) continue;
    const std::string problem = s.check(shown(s.value(c)));
    if (!problem.empty()) throw Error(fmt::format("--{}: {}", s.name, problem));
  }
}

nlohmann::json run_settings(const TrainConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  for (const Setting& s : registry()) {
    if (s.resume == ResumeRule::may_change || !in_effect(s, c)) continue;
    nlohmann::json v = s.value(c);
    if (s.resume == ResumeRule::must_match_when_set && v == s.default_value) continue;
    out[s.name] = std::move(v);
  }
  return out;
}

nlohmann::json shared_settings(const TrainConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  for (const Setting& s : registry())
    if (!s.is_path) out["--" + s.name] = s.value(c);
  return out;
}

nlohmann::json setting_values(const TrainConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  for (const Setting& s : registry())
    if (in_effect(s, c)) out[s.name] = s.value(c);
  return out;
}

std::vector<std::string> settings_differences(const nlohmann::json& checkpoint,
                                              const nlohmann::json& run) {
  std::vector<std::string> out;
  for (const auto& [key, value] : run.items()) {
    if (!checkpoint.contains(key))
      out.push_back(
          fmt::format("--{}: not recorded in the checkpoint, this run {}", key, shown(value)));
    else if (checkpoint[key] != value)
      out.push_back(fmt::format("--{}: checkpoint {}, this run {}", key, shown(checkpoint[key]),
                                shown(value)));
  }
  for (const auto& [key, value] : checkpoint.items()) {
    if (!run.contains(key))
      out.push_back(fmt::format("--{}: checkpoint {}, not set in this run", key, shown(value)));
  }
  return out;
}

std::string changed_settings(const TrainConfig& c) {
  std::string out;
  for (const Setting& s : registry()) {
    const nlohmann::json v = s.value(c);
    if (v == s.default_value || !in_effect(s, c)) continue;
    out += fmt::format("{}--{}{}{}", out.empty() ? "" : " ", s.name, s.is_flag ? "" : " ",
                       s.is_flag ? "" : shown(v));
  }
  return out;
}

std::string config_text(const TrainConfig& c) {
  std::string out;
  for (const Setting& s : registry()) {
    if (!in_effect(s, c)) continue;
    const nlohmann::json v = s.value(c);
    if (v.is_string() && v.get<std::string>().empty()) continue;  // an unset path: not given
    // Strings quoted (JSON escapes are the config reader's: \" and \\); numbers and true/false bare.
    out += fmt::format("{} = {}\n", s.name, v.is_string() ? v.dump() : shown(v));
  }
  return out;
}

std::string closest(const std::string& word, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& name : names) {
    const std::size_t d = edit_distance(word, name);
    if (d < best_distance) best = name, best_distance = d;
  }
  return best;
}

}  // namespace gq::train
