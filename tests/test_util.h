// Helpers shared by the tests: seeded random inputs, poisoned device outputs, and comparisons
// with a tolerance of the form atol + rtol * |reference| (llm.c's validate_result).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/bf16.h"
#include "runtime/memory.h"
#include "runtime/rng.h"

namespace gq::test {

// Sizes that are not multiples of any block size, plus the edges.
inline const std::vector<std::size_t> kAwkwardSizes = {1, 31, 257, 4097, 65539};

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  HostRng rng(seed, 0x7e57);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

// A device copy of `host`.
inline DeviceBuffer<float> to_device(const std::vector<float>& host) {
  return DeviceBuffer<float>(std::span<const float>(host));
}

// v with each value rounded to bf16 (to nearest even), as floats: exact inputs for a float pass
// that a bf16 pass is compared with ...
inline std::vector<float> rounded_to_bf16(std::vector<float> v) {
  for (float& x : v) x = to_float(to_bf16(x));
  return v;
}

// ... and a device copy of v rounded to bf16, the bf16 pass's input.
inline DeviceBuffer<bf16> to_device_bf16(const std::vector<float>& v) {
  std::vector<bf16> host;
  host.reserve(v.size());
  for (float x : v) host.push_back(to_bf16(x));
  return DeviceBuffer<bf16>(std::span<const bf16>(host));
}

// A device buffer of n floats, every byte 0xFF (NaN), so an unwritten output cannot pass.
template <class T = float>
inline DeviceBuffer<T> poisoned(std::size_t n) {
  DeviceBuffer<T> b(n);
  b.fill_bytes(0xFF);
  return b;
}

// Asserts |got - want| <= atol + rtol * |want| elementwise; reports the first few mismatches.
inline ::testing::AssertionResult all_close(std::span<const float> got,
                                            std::span<const double> want, double atol,
                                            double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  int bad = 0;
  std::string msg;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = atol + rtol * std::fabs(want[i]);
    if (!(std::fabs(got[i] - want[i]) <= tol)) {  // also catches NaN
      if (++bad <= 5)
        msg += "\n  [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " +
               std::to_string(want[i]);
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " of " << got.size() << " differ" << msg;
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want,
                                            double atol, double rtol) {
  std::vector<double> w(want.begin(), want.end());
  return all_close(got, std::span<const double>(w), atol, rtol);
}

}  // namespace gq::test
