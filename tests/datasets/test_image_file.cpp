// Single image files as model inputs (datasets/image_file.h). Every image is made here with the
// decoders' own encoders (png_image_write_to_memory, tjCompress2) or, where the encoders cannot
// make it (16-bit without gAMA, forged headers), chunk by chunk: PNGs decode to exact pixels, JPEGs
// (quality 100) to close ones; grey and RGB convert both ways; resizing matches a plain
// double-precision reference; every hostile file is refused with a message naming it.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "datasets/image_file.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::Bytes;
using test::TempDir;
using test::write_file;

// w x h pixels of `channels`, each a different, non-trivial value.
Bytes pattern(int w, int h, int channels, int seed = 0) {
  Bytes p(std::size_t(w) * h * channels);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>((i * 37 + seed) % 256);
  return p;
}

Bytes encode_png(int w, int h, png_uint_32 format, const Bytes& pixels,
                 const Bytes& colormap = {}, int entries = 0) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = w, image.height = h, image.format = format;
  image.colormap_entries = entries;
  const void* cmap = colormap.empty() ? nullptr : colormap.data();
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, cmap));
  Bytes out(size);
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, cmap))
      << image.message;
  out.resize(size);
  return out;
}

void append_chunk(Bytes& png, const char* type, const Bytes& data) {
  const std::uint32_t n = static_cast<std::uint32_t>(data.size());
  for (int s : {24, 16, 8, 0}) png.push_back(static_cast<std::uint8_t>(n >> s));
  Bytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  const uLong crc = crc32(0, body.data(), static_cast<uInt>(body.size()));
  for (int s : {24, 16, 8, 0}) png.push_back(static_cast<std::uint8_t>(crc >> s));
}

Bytes be32(std::uint32_t v) {
  return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)};
}

// A PNG written chunk by chunk (no gAMA, no sRGB): `rows` are the filtered scanlines (a filter
// byte, then the samples, big-endian for 16 bits).
Bytes raw_png(std::uint32_t w, std::uint32_t h, int depth, int colour_type, const Bytes& rows) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr = be32(w);
  const Bytes hb = be32(h);
  ihdr.insert(ihdr.end(), hb.begin(), hb.end());
  ihdr.insert(ihdr.end(), {std::uint8_t(depth), std::uint8_t(colour_type), 0, 0, 0});
  append_chunk(png, "IHDR", ihdr);
  uLongf size = compressBound(static_cast<uLong>(rows.size()));
  Bytes z(size);
  EXPECT_EQ(compress(z.data(), &size, rows.data(), static_cast<uLong>(rows.size())), Z_OK);
  z.resize(size);
  append_chunk(png, "IDAT", z);
  append_chunk(png, "IEND", {});
  return png;
}

Bytes encode_jpeg(int w, int h, int pixel_format, const Bytes& pixels, int subsampling,
                  int flags = 0) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels.data(), w, 0, h, pixel_format, &buf, &size, subsampling,
                             100, flags | TJFLAG_ACCURATEDCT);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(tj);
  Bytes out(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

// A smooth colour image (JPEG keeps smooth images close at quality 100).
Bytes smooth(int w, int h, int channels) {
  Bytes p;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) p.push_back(std::uint8_t(40 + 9 * x + 7 * y + 50 * c));
  return p;
}

int max_difference(const Bytes& a, const Bytes& b) {
  EXPECT_EQ(a.size(), b.size());
  int worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

DecodedImage decode(const Bytes& bytes, int channels) {
  return decode_image(bytes, channels, "test.img");
}

void expect_shape(const DecodedImage& d, int w, int h, int c) {
  EXPECT_EQ(d.width, w);
  EXPECT_EQ(d.height, h);
  EXPECT_EQ(d.channels, c);
  EXPECT_EQ(d.pixels.size(), std::size_t(w) * h * c);
}

Bytes grey_to_rgb(const Bytes& grey) {
  Bytes rgb;
  for (std::uint8_t v : grey) rgb.insert(rgb.end(), {v, v, v});
  return rgb;
}

TEST(ImageFile, PngGreyAndRgbDecodeExactly) {
  const Bytes grey = pattern(5, 3, 1), rgb = pattern(7, 4, 3, 11);
  const DecodedImage g = decode(encode_png(5, 3, PNG_FORMAT_GRAY, grey), 1);
  expect_shape(g, 5, 3, 1);
  EXPECT_EQ(g.pixels, grey);
  const DecodedImage c = decode(encode_png(7, 4, PNG_FORMAT_RGB, rgb), 3);
  expect_shape(c, 7, 4, 3);
  EXPECT_EQ(c.pixels, rgb);
}

TEST(ImageFile, PngGreyBecomesRgbByCopying) {
  const Bytes grey = pattern(6, 2, 1, 5);
  const DecodedImage d = decode(encode_png(6, 2, PNG_FORMAT_GRAY, grey), 3);
  expect_shape(d, 6, 2, 3);
  EXPECT_EQ(d.pixels, grey_to_rgb(grey));
}

// libpng converts in linear light with the sRGB primaries' luminance (0.2126, 0.7152, 0.0722),
// in fixed point: within 2 levels of the exact value.
TEST(ImageFile, PngRgbBecomesGreyByLuminance) {
  const Bytes rgb = {0, 0, 0, 255, 255, 255, 128, 128, 128, 37, 37, 37,
                     255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 100, 50};
  const DecodedImage d = decode(encode_png(8, 1, PNG_FORMAT_RGB, rgb), 1);
  expect_shape(d, 8, 1, 1);
  const auto linear = [](double v) {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  };
  const auto srgb = [](double l) {
    return 255 * (l <= 0.0031308 ? 12.92 * l : 1.055 * std::pow(l, 1 / 2.4) - 0.055);
  };
  for (int i = 0; i < 8; ++i) {
    const double y = 0.2126 * linear(rgb[3 * i]) + 0.7152 * linear(rgb[3 * i + 1]) +
                     0.0722 * linear(rgb[3 * i + 2]);
    EXPECT_NEAR(d.pixels[i], srgb(y), 2.0) << "pixel " << i;
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d.pixels[i], rgb[3 * i]) << "grey stays grey, pixel " << i;
}

TEST(ImageFile, PngAlphaIsDroppedNotComposited) {
  Bytes rgba = pattern(4, 3, 4, 3);
  rgba[3] = 0;  // a fully transparent pixel keeps its colour
  Bytes rgb;
  for (std::size_t i = 0; i < rgba.size(); i += 4) rgb.insert(rgb.end(), {rgba[i], rgba[i + 1], rgba[i + 2]});
  EXPECT_EQ(decode(encode_png(4, 3, PNG_FORMAT_RGBA, rgba), 3).pixels, rgb);
  Bytes ga = pattern(5, 2, 2, 9), grey;
  for (std::size_t i = 0; i < ga.size(); i += 2) grey.push_back(ga[i]);
  EXPECT_EQ(decode(encode_png(5, 2, PNG_FORMAT_GA, ga), 1).pixels, grey);
  EXPECT_EQ(decode(encode_png(5, 2, PNG_FORMAT_GA, ga), 3).pixels, grey_to_rgb(grey));
}

TEST(ImageFile, PngPaletteWithTransparencyExpands) {
  const Bytes colormap = {255, 0, 0, 255, 0, 128, 0, 255, 10, 20, 30, 0, 200, 190, 180, 77};
  const Bytes indices = {0, 1, 2, 3, 3, 2, 1, 0, 2, 2, 0, 1};
  const Bytes png = encode_png(4, 3, PNG_FORMAT_RGBA_COLORMAP, indices, colormap, 4);
  Bytes rgb;
  for (std::uint8_t i : indices) rgb.insert(rgb.end(), colormap.begin() + 4 * i, colormap.begin() + 4 * i + 3);
  const DecodedImage d = decode(png, 3);
  expect_shape(d, 4, 3, 3);
  EXPECT_EQ(d.pixels, rgb);
}

// 16-bit samples without gAMA are sRGB like 8-bit ones: v -> round(v / 257).
TEST(ImageFile, Png16BitReducesToEightBits) {
  const std::vector<std::uint16_t> grey = {0, 257, 257 * 100, 65535, 4660, 0x8000};
  Bytes rows = {0};
  for (std::uint16_t v : grey) rows.insert(rows.end(), {std::uint8_t(v >> 8), std::uint8_t(v)});
  const DecodedImage g = decode(raw_png(6, 1, 16, 0, rows), 1);
  expect_shape(g, 6, 1, 1);
  for (std::size_t i = 0; i < grey.size(); ++i)
    EXPECT_EQ(g.pixels[i], std::lround(grey[i] / 257.0)) << "sample " << grey[i];
  Bytes rgb_rows = {0};  // 2 x 1 RGB, 16 bits
  const std::vector<std::uint16_t> rgb = {257 * 10, 257 * 20, 257 * 30, 65535, 0, 257 * 128};
  for (std::uint16_t v : rgb) rgb_rows.insert(rgb_rows.end(), {std::uint8_t(v >> 8), std::uint8_t(v)});
  EXPECT_EQ(decode(raw_png(2, 1, 16, 2, rgb_rows), 3).pixels, (Bytes{10, 20, 30, 255, 0, 128}));
}

// Quality 100 with 4:4:4 keeps a smooth image within 2 levels; grey JPEGs within 1.
constexpr int kJpegTolerance = 2;

TEST(ImageFile, JpegDecodesClose) {
  const Bytes rgb = smooth(16, 8, 3), grey = smooth(9, 7, 1);
  const DecodedImage c = decode(encode_jpeg(16, 8, TJPF_RGB, rgb, TJSAMP_444), 3);
  expect_shape(c, 16, 8, 3);
  EXPECT_LE(max_difference(c.pixels, rgb), kJpegTolerance);
  const DecodedImage g = decode(encode_jpeg(9, 7, TJPF_GRAY, grey, TJSAMP_GRAY), 1);
  expect_shape(g, 9, 7, 1);
  EXPECT_LE(max_difference(g.pixels, grey), 1);
  const Bytes progressive = encode_jpeg(16, 8, TJPF_RGB, rgb, TJSAMP_444, TJFLAG_PROGRESSIVE);
  EXPECT_LE(max_difference(decode(progressive, 3).pixels, rgb), kJpegTolerance);
}

TEST(ImageFile, JpegGreyAndColourConvert) {
  const Bytes grey = smooth(9, 7, 1);
  const DecodedImage as_rgb = decode(encode_jpeg(9, 7, TJPF_GRAY, grey, TJSAMP_GRAY), 3);
  expect_shape(as_rgb, 9, 7, 3);
  EXPECT_LE(max_difference(as_rgb.pixels, grey_to_rgb(grey)), 1);
  for (std::size_t i = 0; i < as_rgb.pixels.size(); i += 3) {
    EXPECT_EQ(as_rgb.pixels[i], as_rgb.pixels[i + 1]);
    EXPECT_EQ(as_rgb.pixels[i], as_rgb.pixels[i + 2]);
  }
  // Colour to grey is the JPEG's luma: Y = 0.299 R + 0.587 G + 0.114 B.
  const Bytes rgb = smooth(16, 8, 3);
  const DecodedImage as_grey = decode(encode_jpeg(16, 8, TJPF_RGB, rgb, TJSAMP_444), 1);
  expect_shape(as_grey, 16, 8, 1);
  Bytes luma;
  for (std::size_t i = 0; i < rgb.size(); i += 3)
    luma.push_back(std::uint8_t(std::lround(0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2])));
  EXPECT_LE(max_difference(as_grey.pixels, luma), kJpegTolerance);
}

TEST(ImageFile, FormatComesFromTheBytesNotTheName) {
  TempDir dir;
  const Bytes grey = pattern(3, 2, 1);
  write_file(dir / "really-a-png.jpg", encode_png(3, 2, PNG_FORMAT_GRAY, grey));
  EXPECT_EQ(read_image_file(dir / "really-a-png.jpg", 1).pixels, grey);
  write_file(dir / "really-a-jpeg.png", encode_jpeg(9, 7, TJPF_GRAY, smooth(9, 7, 1), TJSAMP_GRAY));
  expect_shape(read_image_file(dir / "really-a-jpeg.png", 1), 9, 7, 1);
}

// ---- hostile files -------------------------------------------------------------------------

void expect_refused(const Bytes& bytes, const std::vector<std::string>& parts) {
  try {
    decode_image(bytes, 3, "dir/hostile.img");
    ADD_FAILURE() << "accepted; expected: " << parts.front();
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.file(), "dir/hostile.img");
    EXPECT_EQ(msg.rfind("dir/hostile.img: ", 0), 0u) << msg;
    for (const std::string& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
}

TEST(ImageFile, RefusesEmptyAndUnknownFormats) {
  expect_refused({}, {"empty file", "expected a PNG or JPEG file", "0 bytes"});
  expect_refused({'G', 'I', 'F', '8', '9', 'a', 1, 0},
                 {"unknown image format", "expected a PNG or JPEG file", "a GIF image"});
  expect_refused({'h', 'e', 'l', 'l', 'o'}, {"expected a PNG or JPEG file", "bytes 68 65 6c 6c 6f"});
  expect_refused({0x89, 'P', 'N', 'G'}, {"unknown image format"});  // a cut signature
  expect_refused({0xff, 0xd8, 0xff}, {"truncated JPEG header"});
}

// A header claiming `w` x `h` over a few bytes of data: refused before any pixel is allocated.
TEST(ImageFile, RefusesPngDimensionsOverTheLimits) {
  for (auto [w, h] : {std::pair{20000u, 1u}, {1u, 16385u}, {16384u, 8192u}}) {
    expect_refused(raw_png(w, h, 8, 0, {0, 0, 0}),
                   {"PNG image too large", "at most 16384 x 16384 pixels", "67108864 (2^26) pixels",
                    fmt::format("{} x {}", w, h)});
  }
  EXPECT_NO_THROW(decode(raw_png(16384, 1, 8, 0, Bytes(16385, 0)), 1));
}

// The SOF0 marker's height and width patched into a small baseline JPEG.
Bytes jpeg_claiming(int w, int h) {
  Bytes jpeg = encode_jpeg(9, 7, TJPF_GRAY, smooth(9, 7, 1), TJSAMP_GRAY);
  for (std::size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] != 0xff || jpeg[i + 1] != 0xc0) continue;
    jpeg[i + 5] = std::uint8_t(h >> 8), jpeg[i + 6] = std::uint8_t(h);
    jpeg[i + 7] = std::uint8_t(w >> 8), jpeg[i + 8] = std::uint8_t(w);
    return jpeg;
  }
  ADD_FAILURE() << "no SOF0 marker";
  return jpeg;
}

TEST(ImageFile, RefusesJpegDimensionsOverTheLimits) {
  for (auto [w, h] : {std::pair{20000, 8}, {8, 16385}, {16384, 8192}}) {
    expect_refused(jpeg_claiming(w, h), {"JPEG image too large", "at most 16384 x 16384 pixels",
                                         fmt::format("{} x {}", w, h)});
  }
}

TEST(ImageFile, RefusesTruncatedAndCorruptPng) {
  const Bytes png = encode_png(16, 16, PNG_FORMAT_RGB, pattern(16, 16, 3));
  expect_refused(Bytes(png.begin(), png.begin() + 20), {"corrupt PNG header", "libpng error"});
  expect_refused(Bytes(png.begin(), png.end() - 40),
                 {"truncated or corrupt PNG image data", "libpng error"});
  Bytes flipped = png;
  flipped[flipped.size() - 30] ^= 0x55;  // inside IDAT: its CRC no longer matches
  expect_refused(flipped, {"truncated or corrupt PNG image data", "CRC"});
  expect_refused(raw_png(4, 4, 7, 0, Bytes(20, 0)), {"corrupt PNG header", "Invalid IHDR"});
}

TEST(ImageFile, RefusesTruncatedJpegAndCmyk) {
  const Bytes jpeg = encode_jpeg(64, 64, TJPF_RGB, pattern(64, 64, 3), TJSAMP_420);
  expect_refused(Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() / 2),
                 {"truncated or corrupt JPEG image data", "libjpeg warning", "Premature end"});
  expect_refused(Bytes(jpeg.begin(), jpeg.begin() + 30), {"truncated JPEG header", "frame header (SOF)"});
  const Bytes cmyk = encode_jpeg(8, 8, TJPF_CMYK, pattern(8, 8, 4), TJSAMP_444);
  expect_refused(cmyk, {"unsupported JPEG colour space", "CMYK", "convert it to RGB"});
}

void expect_file_refused(const std::filesystem::path& path, const std::vector<std::string>& parts) {
  try {
    read_image_file(path, 3);
    ADD_FAILURE() << "accepted " << path;
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    for (const std::string& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
  }
}

TEST(ImageFile, RefusesSpecialEmptyAndHugeFiles) {
  TempDir dir;
  write_file(dir / "empty.png", {});
  expect_file_refused(dir / "empty.png", {"empty file", "expected a PNG or JPEG file"});
  expect_file_refused(dir.path(), {"not a regular file", "a directory"});
  expect_file_refused(dir / "missing.png", {"cannot open", "missing"});
  ASSERT_EQ(::mkfifo((dir / "fifo.png").c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  expect_file_refused(dir / "fifo.png", {"not a regular file", "FIFO"});  // no writer: must not block
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  write_file(dir / "huge.png", encode_png(2, 2, PNG_FORMAT_GRAY, pattern(2, 2, 1)));
  std::filesystem::resize_file(dir / "huge.png", kMaxImageFileBytes + 1);  // sparse
  expect_file_refused(dir / "huge.png", {"file too large", "at most 64.0 MiB"});
}

TEST(ImageFile, RefusesChannelsOtherThanGreyOrRgb) {
  const Bytes png = encode_png(2, 2, PNG_FORMAT_GRAY, pattern(2, 2, 1));
  EXPECT_THROW(decode_image(png, 4, "x.png"), gq::Error);
  EXPECT_THROW(decode_image(png, 0, "x.png"), gq::Error);
}

// ---- resizing ------------------------------------------------------------------------------

// Weights of input pixels for output pixel i along one axis, written out plainly: the overlap of
// [i*s, (i+1)*s) with each input pixel over s when shrinking; the two neighbours of the centre
// (i + 0.5) * s - 0.5, clamped, when enlarging.
std::vector<double> reference_weights(int in, int out, int i) {
  std::vector<double> w(in, 0.0);
  const double s = double(in) / out;
  if (out <= in) {
    for (int j = 0; j < in; ++j)
      w[j] = std::max(0.0, std::min((i + 1) * s, j + 1.0) - std::max(i * s, double(j))) / s;
    return w;
  }
  const double src = std::min(std::max((i + 0.5) * s - 0.5, 0.0), in - 1.0);
  const int j0 = int(std::floor(src));
  w[j0] += 1 - (src - j0);
  w[std::min(j0 + 1, in - 1)] += src - j0;
  return w;
}

std::vector<double> reference_planes(const DecodedImage& im, int height, int width) {
  std::vector<double> out(std::size_t(im.channels) * height * width);
  for (int k = 0; k < im.channels; ++k)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const auto wy = reference_weights(im.height, height, y);
        const auto wx = reference_weights(im.width, width, x);
        double sum = 0;
        for (int sy = 0; sy < im.height; ++sy)
          for (int sx = 0; sx < im.width; ++sx)
            sum += wy[sy] * wx[sx] * im.pixels[(std::size_t(sy) * im.width + sx) * im.channels + k];
        out[(std::size_t(k) * height + y) * width + x] = sum / 255;
      }
  return out;
}

DecodedImage image_of(int w, int h, int c, int seed) { return {w, h, c, pattern(w, h, c, seed)}; }

void expect_matches_reference(const DecodedImage& im, int height, int width) {
  const std::vector<float> got = image_planes(im, height, width);
  const std::vector<double> want = reference_planes(im, height, width);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-6) << im.width << "x" << im.height << " -> " << width << "x"
                                       << height << ", value " << i;
    ASSERT_GE(got[i], 0.0f);
    ASSERT_LE(got[i], 1.0f);
  }
}

TEST(ImagePlanes, SameSizeIsAnExactCopyAsPlanes) {
  const DecodedImage im = image_of(7, 5, 3, 1);
  const std::vector<float> planes = image_planes(im, 5, 7);
  ASSERT_EQ(planes.size(), 3u * 5 * 7);
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 7; ++x)
        ASSERT_EQ(planes[(k * 5 + y) * 7 + x],
                  static_cast<float>(im.pixels[(y * 7 + x) * 3 + k] / 255.0));
}

TEST(ImagePlanes, EnlargingIsBilinear) {
  expect_matches_reference(image_of(7, 5, 3, 2), 32, 32);
  expect_matches_reference(image_of(1, 1, 1, 3), 4, 3);
}

TEST(ImagePlanes, ShrinkingAveragesAreas) {
  expect_matches_reference(image_of(100, 37, 3, 4), 28, 28);
  expect_matches_reference(image_of(100, 37, 1, 5), 1, 1);
}

TEST(ImagePlanes, EachAxisOnItsOwn) {
  expect_matches_reference(image_of(10, 40, 3, 6), 20, 21);  // width enlarged, height shrunk
  expect_matches_reference(image_of(33, 6, 1, 7), 9, 8);
}

TEST(ImagePlanes, ConstantStaysConstant) {
  const DecodedImage im{13, 11, 1, Bytes(13 * 11, 200)};
  for (float v : image_planes(im, 28, 5)) EXPECT_NEAR(v, 200 / 255.0, 1e-7);
}

TEST(ImagePlanes, RefusesBadSizes) {
  const DecodedImage im = image_of(4, 4, 3, 0);
  EXPECT_THROW(image_planes(im, 0, 4), gq::Error);
  EXPECT_THROW(image_planes(im, 4, kMaxImageSide + 1), gq::Error);
  EXPECT_THROW(image_planes(DecodedImage{4, 4, 3, Bytes(5)}, 4, 4), gq::Error);
  EXPECT_THROW(image_planes(DecodedImage{}, 4, 4), gq::Error);
}

}  // namespace
}  // namespace gq::data
