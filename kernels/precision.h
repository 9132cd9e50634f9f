// Conversions between float32 and bfloat16 arrays (runtime/bf16.h: the GPU's rounding, bit for
// bit): the bf16 copies of fp32 master weights and activations that mixed precision computes with.
#pragma once

#include <cstddef>

#include "runtime/bf16.h"
#include "runtime/stream.h"

namespace gq::kernels {

// out[i] = to_bf16(in[i]) for i < n: round to nearest even, NaN -> 0x7FFF.
void round_to_bf16(const float* in, bf16* out, std::size_t n, stream_t stream = nullptr);
// out[i] = to_float(in[i]) for i < n: exact.
void widen_to_float(const bf16* in, float* out, std::size_t n, stream_t stream = nullptr);

}  // namespace gq::kernels
