// Inverted dropout (kernels/dropout.h) at rates 0.1, 0.5 and 0.9, forward and backward, against
// the documented mask: element i is kept iff uniform01(word i % 4 of philox_random4(seed, offset,
// i / 4)) >= p, kept elements scaled by 1 / (1 - p) rounded to float once. Inputs bounded away from
// 0, so a kept element is never mistaken for a dropped one. The GPU gives the emulator's bits.
#include <cstdio>

#include "kernels/cases/case_files.h"
#include "kernels/dropout.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

constexpr std::uint64_t kSeed = 0x5eed, kOffset = 17;

std::vector<float> nonzero(std::size_t n, std::uint64_t seed, std::uint64_t stream) {
  std::vector<float> x = seeded(n, seed, stream, 0.5f, 2.0f);
  for (std::size_t i = 0; i < n; i += 2) x[i] = -x[i];
  return x;
}

KernelCase dropout_case(float p, bool backward) {
  KernelCase c;
  char name[48];
  std::snprintf(name, sizeof name, "dropout/%s p=%.1f", backward ? "backward" : "forward", p);
  c.name = name;
  c.prepare = [p, backward](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers({nonzero(n, seed, 1)}, 1, n);
    return PreparedCase{[b, n, p, backward] {
                          const float* in = b->in[0].data();
                          float* out = b->out[0].data();
                          if (backward)
                            kernels::dropout_backward(in, out, n, p, kSeed, kOffset);
                          else
                            kernels::dropout_forward(in, out, n, p, kSeed, kOffset);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [p](const Dims& size, std::uint64_t seed) {
    const std::vector<float> x = nonzero(size[0], seed, 1);
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      y[i] = uniform01(philox_random4(kSeed, kOffset, i / 4).v[i % 4]) >= p
                 ? x[i] / (1.0 - double(p))
                 : 0.0;
    return Reference(std::move(y));
  };
  c.vs_reference = {0, 3e-7};  // the scale is rounded to float once
  c.bytes_per_element = 8;
  return c;
}

}  // namespace

std::vector<KernelCase> dropout_cases() {
  std::vector<KernelCase> out;
  for (float p : {0.1f, 0.5f, 0.9f})
    for (bool backward : {false, true}) out.push_back(dropout_case(p, backward));
  return out;
}

}  // namespace gq::cases
