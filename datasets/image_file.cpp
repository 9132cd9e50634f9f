// Decodes PNG (libpng, simplified API) and JPEG (TurboJPEG) files into 8-bit grey or RGB images
// with the checks of image_file.h, and resamples them into a model's float input planes.
#include "datasets/image_file.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "datasets/io.h"

namespace gq::data {
namespace {

constexpr std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr std::uint8_t kJpegMagic[3] = {0xff, 0xd8, 0xff};
constexpr const char* kExpectedFormat =
    "a PNG or JPEG file (starting 89 50 4e 47 0d 0a 1a 0a or ff d8 ff)";

bool starts_with(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> magic) {
  return bytes.size() >= magic.size() && std::equal(magic.begin(), magic.end(), bytes.begin());
}

bool starts_with(std::span<const std::uint8_t> bytes, std::string_view text, std::size_t at = 0) {
  return bytes.size() >= at + text.size() &&
         std::equal(text.begin(), text.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at),
                    [](char c, std::uint8_t b) { return static_cast<std::uint8_t>(c) == b; });
}

// What an unknown file is, for the message: other image formats a user may well pass are named.
std::string describe_unknown(std::span<const std::uint8_t> bytes) {
  std::string hex;
  for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i)
    hex += fmt::format("{}{:02x}", i ? " " : "", bytes[i]);
  const char* kind = starts_with(bytes, "GIF8")                                 ? "a GIF image"
                     : starts_with(bytes, "BM")                                 ? "a BMP image"
                     : starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8) ? "a WebP image"
                     : starts_with(bytes, "II*") || starts_with(bytes, "MM")   ? "a TIFF image"
                                                                                : "";
  return *kind ? fmt::format("{} (bytes {})", kind, hex) : fmt::format("bytes {}", hex);
}

io::Origin origin_of(const std::string& source) { return io::Origin{source, {}, false, {}}; }

void check_size(const std::string& source, const char* format, std::int64_t width,
                std::int64_t height) {
  if (width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide &&
      width * height <= kMaxImagePixels)
    return;
  const bool empty = width < 1 || height < 1;
  io::fail(origin_of(source), -1,
           fmt::format("{} image {}", format, empty ? "without pixels" : "too large"),
           fmt::format("at most {} x {} pixels and at most {} (2^26) pixels in all", kMaxImageSide,
                       kMaxImageSide, kMaxImagePixels),
           fmt::format("{} x {} (width x height) in its header", width, height));
}

// png_image owns libpng's state until png_image_finish_read or an error frees it; freeing twice
// is harmless, so the guard frees on every path.
struct PngImageGuard {
  png_image image{};
  PngImageGuard() { image.version = PNG_IMAGE_VERSION; }
  ~PngImageGuard() { png_image_free(&image); }
  PngImageGuard(const PngImageGuard&) = delete;
  PngImageGuard& operator=(const PngImageGuard&) = delete;
};

// Removes the alpha byte of every pixel (stride channels + 1) in place.
void drop_alpha(std::vector<std::uint8_t>& pixels, int channels) {
  const std::size_t n = pixels.size() / static_cast<std::size_t>(channels + 1);
  for (std::size_t i = 0; i < n; ++i)
    for (int c = 0; c < channels; ++c) pixels[i * channels + c] = pixels[i * (channels + 1) + c];
  pixels.resize(n * static_cast<std::size_t>(channels));
}

DecodedImage decode_png(std::span<const std::uint8_t> bytes, int channels,
                        const std::string& source) {
  PngImageGuard png;
  const auto fail_png = [&](const char* problem, const char* expected) {
    io::fail(origin_of(source), -1, problem, expected,
             fmt::format("libpng error '{}'", png.image.message));
  };
  if (!png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size()))
    fail_png("corrupt PNG header", "a valid PNG signature and IHDR chunk");
  check_size(source, "PNG", png.image.width, png.image.height);
  const bool alpha = (png.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.image.format = channels == 1 ? (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY)
                                   : (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB);
  png.image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  DecodedImage out{static_cast<int>(png.image.width), static_cast<int>(png.image.height), channels,
                   std::vector<std::uint8_t>(PNG_IMAGE_SIZE(png.image))};
  // Background null: alpha is kept in the buffer (dropped below), never composited.
  if (!png_image_finish_read(&png.image, nullptr, out.pixels.data(), 0, nullptr))
    fail_png("truncated or corrupt PNG image data",
             "complete IDAT data with valid checksums (CRC-32, Adler-32)");
  if (alpha) drop_alpha(out.pixels, channels);
  return out;
}

struct TjDestroy {
  void operator()(void* handle) const { tjDestroy(handle); }
};

DecodedImage decode_jpeg(std::span<const std::uint8_t> bytes, int channels,
                         const std::string& source) {
  const std::unique_ptr<void, TjDestroy> tj(tjInitDecompress());
  if (!tj) throw OutOfMemory(fmt::format("decoding {}: TurboJPEG cannot start", source));
  const auto fail_tj = [&](const char* problem, const char* expected) {
    const bool warning = tjGetErrorCode(tj.get()) == TJERR_WARNING;
    io::fail(origin_of(source), -1, problem, expected,
             fmt::format("libjpeg {} '{}'", warning ? "warning" : "error",
                         tjGetErrorStr2(tj.get())));
  };
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  const auto* data = bytes.data();
  const auto size = static_cast<unsigned long>(bytes.size());
  if (tjDecompressHeader3(tj.get(), data, size, &width, &height, &subsampling, &colorspace) != 0)
    fail_tj("corrupt or truncated JPEG header", "a valid JPEG frame header (SOF) before the image data");
  // A stream that ends before its frame header "succeeds" with no size (libjpeg's fake EOI).
  if (width < 1 || height < 1)
    io::fail(origin_of(source), -1, "corrupt or truncated JPEG header",
             "a frame header (SOF) with the image's size", "the data ends before one");
  check_size(source, "JPEG", width, height);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    io::fail(origin_of(source), -1, "unsupported JPEG colour space",
             "a greyscale or colour (YCbCr or RGB) JPEG; convert it to RGB with an image tool",
             colorspace == TJCS_CMYK ? "a CMYK JPEG" : "a YCCK (CMYK) JPEG");
  }
  DecodedImage out{width, height, channels,
                   std::vector<std::uint8_t>(std::size_t(width) * height * channels)};
  // A warning (a truncated file, damaged entropy data) stops the decoder: see image_file.h.
  const int flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (tjDecompress2(tj.get(), data, size, out.pixels.data(), width, 0, height,
                    channels == 1 ? TJPF_GRAY : TJPF_RGB, flags) != 0)
    fail_tj("truncated or corrupt JPEG image data", "complete JPEG image data, without errors");
  return out;
}

}  // namespace

DecodedImage decode_image(std::span<const std::uint8_t> bytes, int channels,
                          const std::string& source) {
  GQ_CHECK(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3, not {}",
           channels);
  if (bytes.empty()) io::fail(origin_of(source), -1, "empty file", kExpectedFormat, "0 bytes");
  if (starts_with(bytes, kPngMagic)) return decode_png(bytes, channels, source);
  if (starts_with(bytes, kJpegMagic)) return decode_jpeg(bytes, channels, source);
  io::fail(origin_of(source), 0, "unknown image format", kExpectedFormat,
           describe_unknown(bytes));
}

DecodedImage read_image_file(const std::filesystem::path& path, int channels) {
  const std::vector<std::uint8_t> bytes =
      io::read_file(path, {}, kMaxImageFileBytes, "a PNG or JPEG image");
  return decode_image(bytes, channels, path.string());
}

namespace {

// One input pixel's share of an output pixel along one axis.
struct Tap {
  int index;
  double weight;
};

// Area averaging (out <= in), in units of 1/(in*out) so that the bounds are integers: output i
// covers [i*in, (i+1)*in), input j covers [j*out, (j+1)*out); the weights are exact rationals.
std::vector<Tap> area_taps(int in, int out, int i) {
  std::vector<Tap> taps;
  const std::int64_t lo = std::int64_t(i) * in, hi = lo + in;
  for (std::int64_t j = lo / out; j * out < hi; ++j) {
    const std::int64_t overlap = std::min(hi, (j + 1) * out) - std::max(lo, j * out);
    if (overlap > 0) taps.push_back({static_cast<int>(j), double(overlap) / double(in)});
  }
  return taps;
}

std::vector<Tap> bilinear_taps(int in, int out, int i) {
  const double src = std::clamp((i + 0.5) * in / out - 0.5, 0.0, double(in - 1));
  const int j0 = static_cast<int>(std::floor(src));
  const int j1 = std::min(j0 + 1, in - 1);
  const double f = src - j0;
  if (j1 == j0 || f == 0) return {{j0, 1.0}};
  return {{j0, 1.0 - f}, {j1, f}};
}

std::vector<std::vector<Tap>> axis_taps(int in, int out) {
  std::vector<std::vector<Tap>> taps(static_cast<std::size_t>(out));
  for (int i = 0; i < out; ++i) taps[i] = out <= in ? area_taps(in, out, i) : bilinear_taps(in, out, i);
  return taps;
}

}  // namespace

std::vector<float> image_planes(const DecodedImage& image, int height, int width) {
  const int c = image.channels, h = image.height, w = image.width;
  GQ_CHECK(c >= 1 && h >= 1 && w >= 1 &&
               image.pixels.size() == std::size_t(h) * std::size_t(w) * std::size_t(c),
           "image_planes: an empty or inconsistent image ({} x {} x {}, {} bytes)", w, h, c,
           image.pixels.size());
  GQ_CHECK(height >= 1 && width >= 1 && height <= kMaxImageSide && width <= kMaxImageSide,
           "image_planes: output size {} x {} outside 1..{}", width, height, kMaxImageSide);
  const auto xs = axis_taps(w, width), ys = axis_taps(h, height);
  // Rows first (h x width x c, in double), then columns into the planes.
  std::vector<double> rows(std::size_t(h) * width * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < width; ++x)
      for (int k = 0; k < c; ++k) {
        double sum = 0;
        for (const Tap& t : xs[x])
          sum += t.weight * image.pixels[(std::size_t(y) * w + t.index) * c + k];
        rows[(std::size_t(y) * width + x) * c + k] = sum;
      }
  std::vector<float> planes(std::size_t(c) * height * width);
  for (int k = 0; k < c; ++k)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        double sum = 0;
        for (const Tap& t : ys[y]) sum += t.weight * rows[(std::size_t(t.index) * width + x) * c + k];
        planes[(std::size_t(k) * height + y) * width + x] = static_cast<float>(sum / 255.0);
      }
  return planes;
}

}  // namespace gq::data
