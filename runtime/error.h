// gq::Error and the checks that raise it. Every message names where it came from (file:line) and,
// for user-facing failures, what was expected and what to do.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

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
[[noreturn]] inline void fail_at(const char* file, int line, const std::string& what) {
  throw Error(fmt::format("{}:{}: {}", file, line, what));
}
}  // namespace detail

}  // namespace gq

// GQ_CHECK(cond, "format {}", args...): throw gq::Error with file:line when cond is false.
#define GQ_CHECK(cond, ...)                                                        \
  do {                                                                             \
    if (!(cond)) ::gq::detail::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)

// GQ_FAIL("format {}", args...): throw gq::Error with file:line.
#define GQ_FAIL(...) ::gq::detail::fail_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
