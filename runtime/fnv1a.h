// FNV-1a, 64 bits: a fast, stable fingerprint of bytes (not a cryptographic hash). Checkpoints
// use it as their checksum (against rot, not forgery); data-parallel ranks compare their settings
// and data with it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gq {

inline constexpr std::uint64_t kFnv1aBasis = 0xcbf29ce484222325ull;

// Continues `h` over `n` bytes: fnv1a(b, nb, fnv1a(a, na)) fingerprints a followed by b.
inline std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = kFnv1aBasis) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace gq
