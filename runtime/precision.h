// The arithmetic of GEMMs and convolutions (--precision): fp32 throughout, or mixed precision
// with the inputs rounded to bfloat16 (round to nearest even) and the products accumulated in
// fp32. Also how tensors are stored: activations and their gradients (--activations,
// models/sequential_bf16.cpp) and Grad Queue's ring (--gq-ring-precision).
#pragma once

#include <cstddef>
#include <string_view>

namespace gq {

enum class Precision { fp32, bf16 };

inline std::string_view name(Precision p) {
  return p == Precision::bf16 ? "bf16" : "fp32";
}

// Bytes of one stored value.
inline constexpr std::size_t value_bytes(Precision p) {
  return p == Precision::bf16 ? 2 : 4;
}

}  // namespace gq
