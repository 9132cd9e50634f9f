// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers:
// as easy as 1, 2, 3"). A (key, counter) pair maps to four 32-bit words with no state, so a kernel
// thread and the host compute the same numbers for the same (seed, stream, index) on any device.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>

#include "runtime/host_device.h"

namespace gq {

struct Philox4 {
  std::uint32_t v[4];
};

namespace philox_detail {
GQ_HD void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}
}  // namespace philox_detail

// The raw generator: 10 rounds of Philox4x32 on counter `c` with key `k`.
GQ_HD Philox4 philox4x32_10(Philox4 c, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    philox_detail::mulhilo(kM0, c.v[0], hi0, lo0);
    philox_detail::mulhilo(kM1, c.v[2], hi1, lo1);
    c = Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

// Four words for (seed, stream, index): the seed is the key; stream and index fill the counter.
// Streams separate independent uses of one seed (init, dropout, shuffling, k-means, ...).
GQ_HD Philox4 philox_random4(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return philox4x32_10(
      Philox4{{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
               static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}},
      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// Uniform in [0, 1) with 24 random bits (every value exactly representable in float).
GQ_HD float uniform01(std::uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}

// Standard normal pair from two words (Box-Muller); u1 is moved to (0, 1] so log never sees 0.
GQ_HD void normal2(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  const float u1 = 1.0f - uniform01(a);
  const float u2 = uniform01(b);
  const float r = sqrtf(-2.0f * logf(u1));
  const float theta = 6.283185307179586f * u2;
  z0 = r * cosf(theta);
  z1 = r * sinf(theta);
}

// A host-side sequential generator on the same counter space: the state is (seed, stream,
// position), which is all a checkpoint needs to resume it exactly.
class HostRng {
 public:
  HostRng(std::uint64_t seed = 0, std::uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  std::uint32_t next_u32() {
    if (lane_ == 4) {
      block_ = philox_random4(seed_, stream_, index_++);
      lane_ = 0;
    }
    return block_.v[lane_++];
  }
  // Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
  std::uint32_t below(std::uint32_t n) {
    std::uint64_t m = static_cast<std::uint64_t>(next_u32()) * n;
    auto low = static_cast<std::uint32_t>(m);
    if (low < n) {
      const std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;
      while (low < threshold) {
        m = static_cast<std::uint64_t>(next_u32()) * n;
        low = static_cast<std::uint32_t>(m);
      }
    }
    return static_cast<std::uint32_t>(m >> 32);
  }
  float uniform() { return uniform01(next_u32()); }

  struct State {
    std::uint64_t seed, stream, index;
    std::uint32_t lane;
  };
  State state() const { return {seed_, stream_, index_, lane_}; }
  void restore(const State& s) {
    seed_ = s.seed;
    stream_ = s.stream;
    index_ = s.index;
    lane_ = 4;
    // Regenerate the current block so the next word is the one that would have come.
    if (s.lane < 4 && s.index > 0) {
      block_ = philox_random4(seed_, stream_, s.index - 1);
      lane_ = s.lane;
    }
  }

 private:
  std::uint64_t seed_, stream_;
  std::uint64_t index_ = 0;
  Philox4 block_{};
  std::uint32_t lane_ = 4;
};

}  // namespace gq
