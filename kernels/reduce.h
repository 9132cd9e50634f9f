// Deterministic reductions over a device array: sum, max, argmax.
// Two passes with a fixed launch shape that depends only on n (not on the SM or worker count), so
// the result is bit-identical run to run on a device. No atomics. (The GPU and the emulator split
// the work among threads differently, see grid_range, so their sums differ by rounding.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// Scratch bytes a reduction needs (partials of the first pass); allocate once, reuse every call.
std::size_t reduce_scratch_bytes();

// *out = sum of x[0..n). n = 0 gives 0.
void reduce_sum(const float* x, std::size_t n, float* out, void* scratch, stream_t stream = nullptr);
// *out = sum of x[i]^2 (squared L2 norm).
void reduce_sum_squares(const float* x, std::size_t n, float* out, void* scratch,
                        stream_t stream = nullptr);
// *out = max of x[0..n); NaNs are ignored; n = 0 (or all NaN) gives -inf.
void reduce_max(const float* x, std::size_t n, float* out, void* scratch, stream_t stream = nullptr);
// *out_index = index of the first maximum of x[0..n), *out_value = that maximum. NaNs are ignored;
// n = 0 (or all NaN) gives index -1 and value -inf.
void reduce_argmax(const float* x, std::size_t n, std::int64_t* out_index, float* out_value,
                   void* scratch, stream_t stream = nullptr);

}  // namespace gq::kernels
