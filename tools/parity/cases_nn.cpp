// Parity cases for the layer kernels: batch augmentation (activations, bias, pooling and dropout
// are kernel cases: kernels/cases/).
// Zero tolerance where both devices do the same IEEE operations in the same order (comparisons,
// adds in a fixed order, single multiplies and divisions, explicit fmaf; no multiply-add left for
// a compiler to contract: tools/parity/check_contraction.py); a few ulps for sums that the
// devices split among threads differently (block_range).
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/augment.h"
#include "runtime/memory.h"
#include "runtime/rng.h"
#include "tools/parity/parity.h"

namespace gq::parity {
namespace {

GQ_PARITY_CASE("augment/gather+crop+flip 3x32x32 batch 37", 0.0, 0.0) {
  const int count = 50, c = 3, h = 32, w = 32, batch = 37;
  HostRng rng(16, 1);
  std::vector<std::uint8_t> pixels(std::size_t(count) * c * h * w);
  for (auto& p : pixels) p = static_cast<std::uint8_t>(rng.below(256));
  std::vector<std::int32_t> labels(count), indices(batch);
  for (auto& l : labels) l = static_cast<std::int32_t>(rng.below(10));
  for (auto& i : indices) i = static_cast<std::int32_t>(rng.below(count));
  DeviceBuffer<std::uint8_t> d_pixels{std::span<const std::uint8_t>(pixels)};
  DeviceBuffer<std::int32_t> d_labels{std::span<const std::int32_t>(labels)};
  DeviceBuffer<std::int32_t> d_indices{std::span<const std::int32_t>(indices)};
  DeviceBuffer<float> out(std::size_t(batch) * c * h * w);
  DeviceBuffer<std::int32_t> labels_out(batch);
  const float mean[] = {0.4914f, 0.4822f, 0.4465f}, sd[] = {0.2470f, 0.2435f, 0.2616f};
  kernels::gather_augment(d_pixels.data(), d_labels.data(), d_indices.data(), batch, c, h, w, mean,
                          sd, kernels::AugmentParams{4, true, 99, 7}, out.data(),
                          labels_out.data());
  std::vector<float> r = out.to_host();
  for (std::int32_t l : labels_out.to_host()) r.push_back(static_cast<float>(l));
  return r;
}

}  // namespace
}  // namespace gq::parity
