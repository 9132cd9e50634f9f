// Validators for gq-train's flags (CLI11): a finite real number in a range, an integer count in a
// range. CLI11's own Range/PositiveNumber let NaN through (every comparison with NaN is false),
// take "-1" for an unsigned count, and print a bound of 309 digits; these say what is allowed in
// a few words and refuse NaN, infinities, signs on counts and fractions where an integer is meant.
#pragma once

#include <cstdint>

#include <CLI/CLI.hpp>

namespace gq::train {

// A finite number x with lo <= x <= hi (lo < x when lo_open).
CLI::Validator real_in(double lo, double hi, bool lo_open = false);
// A whole number written in decimal digits (no sign, point or exponent), lo <= x <= hi.
CLI::Validator integer_in(std::uint64_t lo, std::uint64_t hi);

}  // namespace gq::train
