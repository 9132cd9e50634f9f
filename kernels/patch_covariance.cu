// Per-image Gram matrices of all p x p patches of a float NCHW batch.
// Launch shape: one block per image; its threads take block_range shares of the d * d entries
// (kBlock = 256 on the GPU, one thread on the emulator), each summing its entry over every patch
// position in a fixed order: no shared memory, no barriers, no atomics. Memory traffic: the image
// (c * h * w floats) is read by every thread of its block, through the cache (a one-time
// initialisation, not a training-step kernel); 4 * d * d bytes written per image.
#include "kernels/patch_covariance.h"

#include <cstddef>

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = kEmulatorShapes ? 1 : 256;
constexpr int kMaxPatchLength = 64;

__global__ void __launch_bounds__(kBlock)
    patch_gram_kernel(const float* __restrict__ x, int c, int h, int w, int p,
                      float* __restrict__ gram) {
  const int d = c * p * p;
  const float* img = x + std::size_t(blockIdx.x) * c * h * w;
  float* out = gram + std::size_t(blockIdx.x) * d * d;
  for (const std::size_t e : block_range(std::size_t(d) * d)) {
    const int a = static_cast<int>(e) / d, b = static_cast<int>(e) % d;
    // Offsets of the two patch elements relative to the patch's top-left pixel.
    const int ca = a / (p * p), ya = (a / p) % p, xa = a % p;
    const int cb = b / (p * p), yb = (b / p) % p, xb = b % p;
    const float* pa = img + (std::size_t(ca) * h + ya) * w + xa;
    const float* pb = img + (std::size_t(cb) * h + yb) * w + xb;
    float acc = 0.0f;
    for (int y = 0; y + p <= h; ++y)
      for (int xo = 0; xo + p <= w; ++xo) acc = fmaf(pa[y * w + xo], pb[y * w + xo], acc);
    out[e] = acc;
  }
}

}  // namespace

void patch_gram(const float* x, int n, int c, int h, int w, int p, float* gram, stream_t stream) {
  GQ_CHECK(n > 0 && c > 0 && p > 0 && p <= h && p <= w,
           "patch_gram: needs n, c >= 1 and 1 <= p <= min(h, w), got n={} c={} h={} w={} p={}", n,
           c, h, w, p);
  GQ_CHECK(c * p * p <= kMaxPatchLength, "patch_gram: patches of {} values; at most {}", c * p * p,
           kMaxPatchLength);
  GQ_CHECK(x != nullptr && gram != nullptr, "patch_gram: null pointer");
  launch(patch_gram_kernel, static_cast<unsigned>(n), kBlock, 0, stream, x, c, h, w, p, gram);
}

}  // namespace gq::kernels
