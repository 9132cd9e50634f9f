// gq::Error and the checks that raise it. Every message names where it came from (file:line) and,
// for user-facing failures, what was expected and what to do.
//
// This header is included by .cu files, which nvcc compiles as C++20; fmt 9 does not compile
// there, so checks use a small formatter that substitutes each "{}" with the next argument
// (streamed with operator<<). Host-only code is free to use fmt for richer formatting.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gq {

// Any failure the framework reports. Tools catch it at the top, print what() and exit non-zero.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The device (or the emulator's memory limit) cannot satisfy an allocation.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

namespace detail {

inline void format_into(std::ostringstream& out, std::string_view pattern) {
  out << pattern;
}

template <class First, class... Rest>
void format_into(std::ostringstream& out, std::string_view pattern, const First& first,
                 const Rest&... rest) {
  const std::size_t at = pattern.find("{}");
  if (at == std::string_view::npos) {
    out << pattern;  // more arguments than placeholders: the extras are dropped
    return;
  }
  out << pattern.substr(0, at) << first;
  format_into(out, pattern.substr(at + 2), rest...);
}

// "a {} b {}" with (1, "x") -> "a 1 b x".
template <class... Args>
std::string format_message(std::string_view pattern, const Args&... args) {
  std::ostringstream out;
  format_into(out, pattern, args...);
  return out.str();
}

[[noreturn]] inline void fail_at(const char* file, int line, const std::string& what) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": " + what);
}

}  // namespace detail
}  // namespace gq

// GQ_CHECK(cond, "message with {} placeholders", args...): throw gq::Error with file:line.
#define GQ_CHECK(cond, ...)                                                                 \
  do {                                                                                      \
    if (!(cond))                                                                            \
      ::gq::detail::fail_at(__FILE__, __LINE__, ::gq::detail::format_message(__VA_ARGS__)); \
  } while (0)

// GQ_FAIL("message with {} placeholders", args...): throw gq::Error with file:line.
#define GQ_FAIL(...) \
  ::gq::detail::fail_at(__FILE__, __LINE__, ::gq::detail::format_message(__VA_ARGS__))
