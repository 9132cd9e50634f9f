// The documented behaviour of gather_augment (kernels/augment.h) on the host, in double: the
// augment kernel cases' reference and the augment tests' (tests/kernels/test_augment.cpp), which
// check properties a case cannot state (each sample is some valid crop and flip, by search).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/augment.h"

namespace gq::cases {

struct AugmentTransform {
  int dy, dx;
  bool flip;
};

// Batch position b's draws for dataset image `sample`, as kernels/augment.h documents them
// (params.step_device unset).
AugmentTransform augment_draw(const kernels::AugmentParams& params, std::int32_t sample,
                              std::uint64_t b);

// One output plane (h x w) from the source plane under t: (v / 255 - mean) / sd of the mirrored
// (when t.flip) image at (y + dy, x + dx), 0 or the reflected position outside the image.
std::vector<double> augment_plane(const std::uint8_t* plane, int h, int w, AugmentTransform t,
                                  double mean, double sd, kernels::PadMode mode);

}  // namespace gq::cases
