// bfloat16 storage (1 sign, 8 exponent, 7 mantissa bits: the upper half of a float), for the
// activations and GEMM / convolution inputs of mixed precision. Arithmetic stays in float: a
// kernel loads bf16, computes and accumulates in float, and rounds once when it stores.
//
// The conversions are the GPU's, bit for bit, in both builds:
//   to_bf16(float): round to nearest, ties to even (PTX cvt.rn.bf16.f32); a float above the
//     largest bf16 (0x7F7F = 3.3895e38) by half an ulp or more becomes infinity; subnormals are
//     rounded like any value (no flush to zero); every NaN becomes the canonical NaN 0x7FFF (the
//     payload and sign are dropped, as cuda_bf16's conversion does).
//   to_float(bf16): exact (the 16 bits shifted up).
// The GPU build uses CUDA's own type and intrinsics (also from host code, so every translation unit
// sees one type); the emulator build carries the bits in a struct and converts as CUDA's host path
// does.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/host_device.h"

#if GQ_WITH_CUDA
#include <cuda_bf16.h>
#endif

namespace gq {

#if GQ_WITH_CUDA

using bf16 = __nv_bfloat16;

GQ_HD bf16 to_bf16(float f) {
  return __float2bfloat16_rn(f);
}
GQ_HD float to_float(bf16 h) {
  return __bfloat162float(h);
}
GQ_HD std::uint16_t bits_of(bf16 h) {
  return __bfloat16_as_ushort(h);
}
GQ_HD bf16 bf16_from_bits(std::uint16_t bits) {
  return __ushort_as_bfloat16(bits);
}

#else

struct bf16 {
  std::uint16_t bits;
};

GQ_HD bf16 to_bf16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  // Round to nearest even on the 16 bits dropped: add 0x7FFF, plus one when the kept part is odd.
  // A carry out of the mantissa moves to the next binade (or to infinity), as rounding should.
  // A NaN is selected, not branched on, so that the host compiler vectorises the loops that store.
  const bool nan = (x & 0x7FFFFFFFu) > 0x7F800000u;
  const std::uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;
  return bf16{static_cast<std::uint16_t>(nan ? 0x7FFFu : rounded)};
}
GQ_HD float to_float(bf16 h) {
  const std::uint32_t x = static_cast<std::uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}
GQ_HD std::uint16_t bits_of(bf16 h) {
  return h.bits;
}
GQ_HD bf16 bf16_from_bits(std::uint16_t bits) {
  return bf16{bits};
}

#endif

static_assert(sizeof(bf16) == 2, "bf16 is two bytes in device memory");

// For kernels written once over their storage type T (float or bf16): load with to_float, store
// with stored_as<T>. Both are the identity for float, so a float instantiation is exactly the code
// it would be without the template (same bits); bf16 rounds to nearest even as above.
GQ_HD float to_float(float f) {
  return f;
}
template <class T>
GQ_HD T stored_as(float f) {
  if constexpr (std::is_same_v<T, float>)
    return f;
  else
    return to_bf16(f);
}

}  // namespace gq
