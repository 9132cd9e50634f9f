#include "tools/train/flag_checks.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

namespace gq::train {
namespace {

// Bounds as people write them, and 2^64-1 rather than its 20 digits.
std::string bound(double v) {
  return fmt::format("{}", v);
}
std::string bound(std::uint64_t v) {
  return v == std::numeric_limits<std::uint64_t>::max() ? "2^64-1" : std::to_string(v);
}

}  // namespace

CLI::Validator real_in(double lo, double hi, bool lo_open) {
  const std::string range =
      lo_open ? fmt::format("a finite number > {} and <= {}", bound(lo), bound(hi))
              : fmt::format("a finite number in {}..{}", bound(lo), bound(hi));
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        const bool parsed = !text.empty() && end == text.c_str() + text.size();
        if (!parsed || !std::isfinite(v) || errno == ERANGE || (lo_open ? v <= lo : v < lo) ||
            v > hi)
          return fmt::format("expected {}, found '{}'", range, text);
        return {};
      },
      fmt::format("{}{}, {}]", lo_open ? "(" : "[", bound(lo), bound(hi)));  // --help: (0, 1000000]
}

CLI::Validator integer_in(std::uint64_t lo, std::uint64_t hi) {
  const std::string range = fmt::format("an integer {}..{}", bound(lo), bound(hi));
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 20 &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        const unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
        if (!digits || errno == ERANGE || v < lo || v > hi)
          return fmt::format("expected {}, found '{}'", range, text);
        return {};
      },
      fmt::format("{}..{}", bound(lo), bound(hi)));
}

}  // namespace gq::train
