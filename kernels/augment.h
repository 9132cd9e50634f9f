// Batch assembly on the device: gather samples of a device-resident uint8 NCHW image dataset by
// index, apply a random crop (zero or reflect padding) and horizontal flip (a coin per image per
// batch, or airbench's alternating flip), normalize to float.
#pragma once

#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// What lies outside the image for a shifted crop: zeros, or the image mirrored about its edge
// without repeating the edge (PyTorch's F.pad mode 'reflect': index -1 reads 1, h reads h - 2).
enum class PadMode { zero, reflect };
// Which images are mirrored (when AugmentParams::flip is set): a fresh coin per image per batch,
// or airbench94's alternating flip: a coin per dataset image drawn once ("pre-flip"), XOR the
// epoch's parity, so every image is shown in both orientations on alternate epochs.
enum class FlipMode { coin, alternating };

struct AugmentParams {
  int pad = 0;             // random crop offsets (dy, dx) in [-pad, pad]; 0 disables the crop
  bool flip = false;       // mirror horizontally with probability 1/2
  std::uint64_t seed = 0;  // Philox key
  std::uint64_t step = 0;  // Philox stream: use a new one for every batch (e.g. the global step)
  // Optional device memory read when the kernel runs; the stream is then *step_device + step
  // (runtime/device_scalar.h: a captured training step).
  const std::uint64_t* step_device = nullptr;
  std::uint64_t first = 0;  // batch position of out[0]: a data-parallel rank's share of a global
                            // batch draws the same crops and flips as one process would
  PadMode pad_mode = PadMode::zero;
  FlipMode flip_mode = FlipMode::coin;
  // FlipMode::alternating: the epoch is (the Philox stream, i.e. step or *step_device + step) /
  // steps_per_epoch; must be > 0 then. The Trainer's stream is the global step.
  std::uint64_t steps_per_epoch = 0;
};

// The alternating flip's per-image coin: bit 0 of philox_random4(seed, kPreflipStream, sample)'s
// first word, for the dataset index `sample` (independent of batch position, rank and epoch).
inline constexpr std::uint64_t kPreflipStream = ~std::uint64_t{0};

// The per-sample draws, for batch position b: r = philox_random4(seed, step, first + b) (with
// step_device: *step_device + step);
//   dy = r.v[0] % (2 * pad + 1) - pad,  dx = r.v[1] % (2 * pad + 1) - pad  (0 when pad == 0),
//   flipped = flip && (r.v[2] & 1)                                  (FlipMode::coin),
//   flipped = flip && (preflip(indices[b]) XOR (epoch & 1))            (FlipMode::alternating),
//   with preflip(i) = philox_random4(seed, kPreflipStream, i).v[0] & 1 and
//   epoch = stream / steps_per_epoch.
// Output: out[b][ch][y][x] = F(y + dy, x + dx), where F is the (mirrored when flipped, i.e.
// F(y, x) = in(y, w - 1 - x)) source image images[indices[b]] normalized as
// (v / 255 - mean[ch]) / std[ch]; where (y + dy, x + dx) falls outside the image, 0 (PadMode::zero)
// or F at the reflected position (PadMode::reflect: -k -> k, h - 1 + k -> h - 1 - k). A crop of
// the reflect-padded, mirrored image is the mirror of a crop of the reflect-padded image, so the
// order of flip and crop changes only the sign of dx (whose distribution is symmetric).
// labels_out[b] = labels[indices[b]] (labels and labels_out may both be null to skip labels).
// images: [dataset size][c][h][w] uint8 on the device; indices: batch int32 on the device, each a
// valid sample index (not checked); mean/std: host arrays of c floats, 1 <= c <= 4, std > 0;
// 0 <= pad < min(h, w);
// out: [batch][c][h][w] floats on the device.
void gather_augment(const std::uint8_t* images, const std::int32_t* labels,
                    const std::int32_t* indices, int batch, int c, int h, int w, const float* mean,
                    const float* std, const AugmentParams& params, float* out,
                    std::int32_t* labels_out, stream_t stream = nullptr);

}  // namespace gq::kernels
