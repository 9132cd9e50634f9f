// The arithmetic of GEMMs and convolutions (--precision): fp32 throughout, or mixed precision
// with the inputs rounded to bfloat16 (round to nearest even) and the products accumulated in
// fp32. Tensors are stored in fp32 either way (bf16 storage is a later step of issue 26).
#pragma once

#include <string_view>

namespace gq {

enum class Precision { fp32, bf16 };

inline std::string_view name(Precision p) {
  return p == Precision::bf16 ? "bf16" : "fp32";
}

}  // namespace gq
