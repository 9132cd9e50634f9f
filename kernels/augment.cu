// Gather + random crop (zero or reflect padding) + horizontal flip (a coin per image per batch, or
// the alternating flip) + normalization of a uint8 NCHW image batch.
// Launch shape: one block of kBlock threads per output plane (batch * c blocks); each thread
// draws the sample's Philox words itself (no shared memory, no barriers) and loops over its
// block_range share of the plane's h * w pixels (on the emulator, where the share is contiguous,
// without a divide per pixel). Memory traffic: 1 byte read + 4 bytes written per
// output element, plus 4 + 4 + 4 bytes per sample for index and labels; bandwidth-bound.
#include "kernels/augment.h"

#include <cstddef>

#include "runtime/device_scalar.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"
#include "runtime/rng.h"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;
constexpr int kMaxChannels = 4;

// The options that select the draws and the padding, passed by value.
struct Transforms {
  int pad;
  bool flip;
  PadMode pad_mode;
  FlipMode flip_mode;
  std::uint64_t steps_per_epoch;
};

// PyTorch's 'reflect' padding: the edge is not repeated. Valid for -n < i < 2n - 1.
__device__ __forceinline__ int reflect_index(int i, int n) {
  return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
}

__device__ __forceinline__ bool flipped_image(const Transforms& t, std::uint64_t seed,
                                              std::uint64_t stream, std::int32_t sample,
                                              const Philox4& r) {
  if (!t.flip) return false;
  if (t.flip_mode == FlipMode::coin) return (r.v[2] & 1u) != 0;
  const std::uint32_t preflip =
      philox_random4(seed, kPreflipStream, static_cast<std::uint64_t>(sample)).v[0] & 1u;
  const std::uint64_t epoch = stream / t.steps_per_epoch;
  return (preflip ^ static_cast<std::uint32_t>(epoch & 1u)) != 0;
}

// Passed by value: the kernel needs no device copy of the normalization constants.
struct Normalization {
  float mean[kMaxChannels];
  float std[kMaxChannels];
};

__global__ void __launch_bounds__(kBlock)
    gather_augment_kernel(const std::uint8_t* __restrict__ images,
                          const std::int32_t* __restrict__ labels,
                          const std::int32_t* __restrict__ indices, int c, int h, int w,
                          Normalization norm, Transforms t, std::uint64_t seed,
                          DeviceScalar<std::uint64_t> step, std::uint64_t first,
                          float* __restrict__ out, std::int32_t* __restrict__ labels_out) {
  const int b = static_cast<int>(blockIdx.x) / c;
  const int ch = static_cast<int>(blockIdx.x) % c;
  const std::int32_t sample = indices[b];
  const std::size_t plane_size = std::size_t(h) * w;
  const std::uint8_t* in = images + (std::size_t(sample) * c + ch) * plane_size;
  float* dst = out + std::size_t(blockIdx.x) * plane_size;

  const std::uint64_t stream = step.get();
  const Philox4 r = philox_random4(seed, stream, first + static_cast<std::uint64_t>(b));
  const unsigned span = 2u * static_cast<unsigned>(t.pad) + 1u;
  const int dy = static_cast<int>(r.v[0] % span) - t.pad;
  const int dx = static_cast<int>(r.v[1] % span) - t.pad;
  const bool flipped = flipped_image(t, seed, stream, sample, r);
  const bool reflect = t.pad_mode == PadMode::reflect;
  const float mean = norm.mean[ch], sd = norm.std[ch];

  const auto pixel = [&](std::size_t i, int y, int x) {
    int sy = y + dy, fx = x + dx;
    if (reflect) sy = reflect_index(sy, h), fx = reflect_index(fx, w);
    float v = 0.0f;
    if (sy >= 0 && sy < h && fx >= 0 && fx < w) {
      const int sx = flipped ? w - 1 - fx : fx;
      v = (static_cast<float>(in[sy * w + sx]) / 255.0f - mean) / sd;
    }
    dst[i] = v;
  };
  const IndexRange share = block_range(plane_size);
  if constexpr (kEmulatorShapes) {  // one contiguous run: locate its first pixel, then step
    int y = static_cast<int>(share.first / w), x = static_cast<int>(share.first % w);
    for (std::size_t i = share.first; i < share.last; ++i) {
      pixel(i, y, x);
      if (++x == w) x = 0, ++y;
    }
  } else {
    for (const std::size_t i : share) pixel(i, static_cast<int>(i / w), static_cast<int>(i % w));
  }
  if (labels_out != nullptr && ch == 0 && threadIdx.x == 0) labels_out[b] = labels[sample];
}

}  // namespace

void gather_augment(const std::uint8_t* images, const std::int32_t* labels,
                    const std::int32_t* indices, int batch, int c, int h, int w, const float* mean,
                    const float* std, const AugmentParams& params, float* out,
                    std::int32_t* labels_out, stream_t stream) {
  GQ_CHECK(batch > 0 && c > 0 && h > 0 && w > 0,
           "gather_augment: dims must be positive, got batch={} c={} h={} w={}", batch, c, h, w);
  GQ_CHECK(c <= kMaxChannels, "gather_augment: at most {} channels supported, got {}", kMaxChannels,
           c);
  GQ_CHECK(params.pad >= 0 && params.pad < h && params.pad < w,
           "gather_augment: crop pad must be in [0, min(h, w)), got {} for {}x{} images",
           params.pad, h, w);
  GQ_CHECK(images && indices && out && mean && std, "gather_augment: null pointer");
  GQ_CHECK((labels == nullptr) == (labels_out == nullptr),
           "gather_augment: pass both labels and labels_out, or neither");
  GQ_CHECK(static_cast<long long>(batch) * c <= 0x7fffffffLL,
           "gather_augment: batch * c = {} exceeds the grid limit",
           static_cast<long long>(batch) * c);
  GQ_CHECK(!(params.flip && params.flip_mode == FlipMode::alternating) ||
               params.steps_per_epoch > 0,
           "gather_augment: the alternating flip needs steps_per_epoch > 0");
  Normalization norm{};
  for (int ch = 0; ch < c; ++ch) {
    GQ_CHECK(std[ch] > 0.0f, "gather_augment: std[{}] must be positive, got {}", ch, std[ch]);
    norm.mean[ch] = mean[ch];
    norm.std[ch] = std[ch];
  }
  DeviceScalar<std::uint64_t> step(params.step);
  step.at = params.step_device;
  launch(gather_augment_kernel, static_cast<unsigned>(batch * c), kBlock, 0, stream, images, labels,
         indices, c, h, w, norm,
         Transforms{params.pad, params.flip, params.pad_mode, params.flip_mode,
                    params.steps_per_epoch},
         params.seed, step, params.first,
         out, labels_out);
}

}  // namespace gq::kernels
