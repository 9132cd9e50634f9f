// A single PNG or JPEG image file as a model input (for tools that predict on a user's image):
// decoded with libpng's simplified API or libjpeg-turbo's TurboJPEG API to 8-bit grey or RGB, then
// resized to the model's input and laid out as float planes in [0, 1].
//
// The file is untrusted input like any dataset file. What is refused (DataError naming the file,
// what was expected and what was found), each before anything is allocated from its header:
//   - not a regular file (a FIFO is refused without blocking), larger than kMaxImageFileBytes,
//     empty, or neither PNG nor JPEG by its magic bytes (the file name does not matter);
//   - a width or height over kMaxImageSide, or more than kMaxImagePixels pixels in all;
//   - any decoding error, and for JPEG any libjpeg warning too: a truncated or damaged JPEG
//     decodes "successfully" with its missing part grey, which would be a silently wrong input;
//   - CMYK and YCCK JPEGs: converting them needs the file's colour profile (Adobe's inverted CMYK
//     in most files) to be right; convert them to RGB with an image tool first.
// What is converted, as the libraries do it:
//   - colour to grey (libpng: sRGB-aware luminance; JPEG: the Y of YCbCr) and grey to RGB (copies);
//   - palette PNGs are expanded; an alpha channel (RGBA, grey + alpha, tRNS) is dropped, not
//     composited: colours are kept as stored, as PIL's convert("RGB") does;
//   - 16-bit PNG samples are reduced to 8 bits; without a gAMA chunk they are taken as sRGB
//     encoded like 8-bit ones (libpng would assume linear light and brighten them), so a 16-bit
//     value v becomes round(v / 257). libpng's warnings (ancillary chunks: a bad iCCP profile, a
//     CRC error in a text chunk) are ignored: the pixels are whole.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace gq::data {

constexpr std::uint64_t kMaxImageFileBytes = std::uint64_t(64) << 20;
constexpr int kMaxImageSide = 16384;
constexpr std::int64_t kMaxImagePixels = std::int64_t(1) << 26;  // 8192 x 8192; RGB: 192 MiB

// An image decoded to 8-bit channels, interleaved (row-major, HWC).
struct DecodedImage {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  // height * width * channels
};

// Decodes PNG or JPEG (told apart by their magic bytes) to `channels` (1: grey, 3: RGB). `source`
// names the bytes in errors (DataError; gq::Error for channels other than 1 or 3).
DecodedImage decode_image(std::span<const std::uint8_t> bytes, int channels,
                          const std::string& source);

// Reads and decodes a file: a regular file of at most kMaxImageFileBytes; errors name the path.
DecodedImage read_image_file(const std::filesystem::path& path, int channels);

// The image resized to height x width, as planes (CHW) of floats pixel / 255, in [0, 1]: what the
// trainer feeds a model before normalisation. Each axis is resampled on its own (separable), in
// double precision, deterministically:
//   - shrinking (or keeping) an axis averages areas: output pixel i covers input [i*in/out,
//     (i+1)*in/out), each input pixel weighted by its overlap (exact rational weights, so the same
//     size is an exact copy);
//   - enlarging an axis is bilinear with pixel centres at +0.5 (align_corners=false, as in
//     PyTorch and OpenCV), clamped at the edges.
// gq::Error when the image is empty or inconsistent, or height/width is outside 1..kMaxImageSide.
std::vector<float> image_planes(const DecodedImage& image, int height, int width);

}  // namespace gq::data
