// Single PNG/JPEG image files (datasets/image_file.h) as gq-predict reads them: whatever
// decode_image accepts is within the size limits and holds exactly width x height x channels
// bytes, decodes to the same size in grey and RGB, and resizes to planes in [0, 1].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "datasets/image_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check(const gq::data::DecodedImage& d, int channels) {
  FUZZ_CHECK(d.channels == channels);
  FUZZ_CHECK(d.width >= 1 && d.width <= gq::data::kMaxImageSide);
  FUZZ_CHECK(d.height >= 1 && d.height <= gq::data::kMaxImageSide);
  FUZZ_CHECK(std::int64_t(d.width) * d.height <= gq::data::kMaxImagePixels);
  FUZZ_CHECK(d.pixels.size() == std::size_t(d.width) * d.height * channels);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    const gq::data::DecodedImage rgb = gq::data::decode_image(bytes, 3, "fuzz.img");
    check(rgb, 3);
    const gq::data::DecodedImage grey = gq::data::decode_image(bytes, 1, "fuzz.img");
    check(grey, 1);
    FUZZ_CHECK(grey.width == rgb.width && grey.height == rgb.height);
    // Shrinks one axis and enlarges the other when the image is not square.
    const int side = std::max(1, std::min(rgb.width, rgb.height));
    for (float v : gq::data::image_planes(rgb, std::min(side + 1, 64), std::max(1, side / 2))) {
      FUZZ_CHECK(v >= 0.0f && v <= 1.0f);
    }
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
