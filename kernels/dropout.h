// Inverted dropout whose keep mask is a pure function of (seed, offset, element index): the
// backward pass regenerates it, so no mask is stored.
//
// The mask: element i uses word i % 4 of philox_random4(seed, offset, i / 4) (runtime/rng.h) and is
// kept iff uniform01(word) >= p. Kept elements are scaled by 1 / (1 - p) (rounded to float once),
// dropped ones are 0. Use a fresh offset (e.g. the step, or a per-layer counter) for every call
// that needs a new mask; the offset may be device memory read when the kernel runs
// (runtime/device_scalar.h: a captured training step). first (a multiple of 4): the index of x[0]
// in a larger tensor whose mask this call applies a slice of (a data-parallel rank's share of a
// batch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/device_scalar.h"
#include "runtime/stream.h"

namespace gq::kernels {

// y[i] = keep(i) ? x[i] / (1 - p) : 0, for p in [0, 1). p = 0 copies x. y may alias x.
void dropout_forward(const float* x, float* y, std::size_t n, float p, std::uint64_t seed,
                     DeviceScalar<std::uint64_t> offset, stream_t stream = nullptr,
                     std::size_t first = 0);
// dx[i] = keep(i) ? dy[i] / (1 - p) : 0, the same mask as the forward with the same arguments.
// dx may alias dy.
void dropout_backward(const float* dy, float* dx, std::size_t n, float p, std::uint64_t seed,
                      DeviceScalar<std::uint64_t> offset, stream_t stream = nullptr,
                      std::size_t first = 0);

}  // namespace gq::kernels
