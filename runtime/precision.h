// The arithmetic of GEMMs and convolutions (--precision): fp32 throughout, or mixed precision
// with the inputs rounded to bfloat16 (round to nearest even) and the products accumulated in
// fp32. Tensors are stored in fp32 either way (bf16 storage is a later step of issue 26; Grad
// Queue's ring may store bf16 already: --gq-ring-precision).
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
