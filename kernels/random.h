// Random fills from Philox (runtime/rng.h): element i of a fill with (seed, stream) is a pure
// function of (seed, stream, i), so parameter initialisation is identical on every device.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// x[i] = lo + (hi - lo) * uniform01(word i of philox(seed, rng_stream))
void fill_uniform(float* x, std::size_t n, float lo, float hi, std::uint64_t seed,
                  std::uint64_t rng_stream, stream_t stream = nullptr);
// x[i] = mean + stddev * standard normal (Box-Muller on words 2j, 2j+1 for the pair i = 2j, 2j+1)
void fill_normal(float* x, std::size_t n, float mean, float stddev, std::uint64_t seed,
                 std::uint64_t rng_stream, stream_t stream = nullptr);

}  // namespace gq::kernels
