#include "datasets/mnist.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "datasets/io.h"

namespace gq::data {
namespace {

std::string hint_for(std::string_view name) {
  if (name == "fashion-mnist") {
    return "Reinstall the Fashion-MNIST files (apt-get install --reinstall dataset-fashion-mnist, "
           "or download them from https://github.com/zalandoresearch/fashion-mnist).";
  }
  return "Re-download the MNIST IDX files (train-images-idx3-ubyte.gz, ...) or restore "
         "them with tools/get-data.sh mnist (docs/DATASETS.md).";
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 |
         std::uint32_t(p[3]);
}

std::string describe_magic(std::uint32_t m) {
  const std::uint32_t type = (m >> 8) & 0xff, dims = m & 0xff;
  std::string what = type == 0x08   ? "unsigned byte"
                     : type == 0x09 ? "signed byte"
                     : type == 0x0b ? "short"
                     : type == 0x0c ? "int"
                     : type == 0x0d ? "float"
                     : type == 0x0e ? "double"
                                    : "unknown type";
  return fmt::format("0x{:08x} ({}, {} dimension{})", m, what, dims, dims == 1 ? "" : "s");
}

}  // namespace

std::size_t IdxArray::item_size() const {
  std::size_t s = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) s *= dims[i];
  return s;
}

namespace {
IdxArray parse_idx_at(std::span<const std::uint8_t> bytes, const io::Origin& origin,
                      std::uint32_t expected_magic) {
  const std::string want_magic =
      expected_magic ? describe_magic(expected_magic)
                     : std::string("an unsigned-byte IDX magic 0x00000801..0x00000804");
  if (bytes.size() < 4) {
    io::fail(origin, static_cast<std::int64_t>(bytes.size()), "truncated IDX header",
             "a 4-byte magic number: " + want_magic, fmt::format("{} bytes in all", bytes.size()));
  }
  IdxArray a;
  a.magic = be32(bytes.data());
  const std::uint32_t ndims = a.magic & 0xff;
  const bool ubyte_magic = (a.magic >> 8) == 0x08 && ndims >= 1 && ndims <= 4;
  if (expected_magic ? a.magic != expected_magic : !ubyte_magic) {
    io::fail(
        origin, 0, "wrong IDX magic number", want_magic,
        (a.magic >> 16) != 0
            ? fmt::format("0x{:08x} (not an IDX file: the first two bytes must be zero)", a.magic)
            : describe_magic(a.magic));
  }
  const std::size_t header = 4 + 4 * std::size_t(ndims);
  if (bytes.size() < header) {
    io::fail(origin, static_cast<std::int64_t>(bytes.size()), "truncated IDX header",
             fmt::format("{} header bytes for {} dimensions", header, ndims),
             fmt::format("{} bytes in all", bytes.size()));
  }
  // Overflow-checked: dimensions multiplying past 2^64 must not wrap around to a small size.
  std::uint64_t item = 1, total = 0;
  bool overflow = false;
  for (std::uint32_t i = 0; i < ndims; ++i) {
    const std::uint32_t d = be32(bytes.data() + 4 + 4 * i);
    if (d == 0 && i > 0) {
      io::fail(origin, 4 + 4 * std::int64_t(i), fmt::format("zero size of IDX dimension {}", i),
               "a positive size", "0");
    }
    a.dims.push_back(d);
    if (i > 0) overflow |= __builtin_mul_overflow(item, std::uint64_t(d), &item);
  }
  overflow |= __builtin_mul_overflow(std::uint64_t(a.dims[0]), item, &total);
  if (overflow || item > kIdxMaxBytes || total > kIdxMaxBytes) {
    io::fail(origin, 4, "implausible IDX dimensions",
             fmt::format("dimensions whose product is at most {} (the IDX size cap)",
                         describe_bytes(kIdxMaxBytes)),
             fmt::format("{} = {}", fmt::join(a.dims, " x "),
                         overflow ? std::string("more than 2^64 bytes")
                                  : fmt::format("{} bytes", std::max(item, total))));
  }
  const std::size_t body = bytes.size() - header;
  if (body < total) {
    const std::size_t whole = body / item;
    io::fail(origin, static_cast<std::int64_t>(header + whole * item),
             fmt::format("truncated IDX data: the header says {} items ({}), item {} is incomplete",
                         a.count(), fmt::join(a.dims, " x "), whole),
             fmt::format("{} data bytes after the {}-byte header ({} items of {} bytes)", total,
                         header, a.count(), item),
             fmt::format("{} data bytes ({} whole items)", body, whole));
  }
  if (body > total) {
    io::fail(origin, static_cast<std::int64_t>(header + total), "trailing bytes after the IDX data",
             fmt::format("{} data bytes ({} items of {} bytes, from the header)", total, a.count(),
                         item),
             fmt::format("{} data bytes ({} extra)", body, body - total));
  }
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}
}  // namespace

IdxArray parse_idx(std::span<const std::uint8_t> bytes, const std::filesystem::path& source,
                   std::uint32_t expected_magic, std::string_view hint) {
  return parse_idx_at(bytes, io::Origin{source, {}, false, std::string(hint)}, expected_magic);
}

IdxArray decode_idx_file(std::span<const std::uint8_t> bytes, const std::filesystem::path& file,
                         std::uint32_t expected_magic, std::string_view hint) {
  if (io::is_gzip(bytes)) {
    const auto raw =
        io::gunzip(bytes, io::Origin{file, {}, false, std::string(hint)}, kIdxMaxBytes);
    // Offsets in IDX errors then count decompressed bytes; the message says so.
    return parse_idx_at(raw, io::Origin{file, {}, true, std::string(hint)}, expected_magic);
  }
  if (io::ends_with_icase(file.filename().string(), ".gz")) {
    io::fail(io::Origin{file, {}, false, std::string(hint)}, 0,
             "not a gzip file despite its .gz name", "gzip magic bytes 1f 8b",
             bytes.size() >= 2 ? fmt::format("{:02x} {:02x}", bytes[0], bytes[1])
                               : fmt::format("{} bytes in all", bytes.size()));
  }
  return parse_idx(bytes, file, expected_magic, hint);
}

IdxArray read_idx(const std::filesystem::path& file, std::uint32_t expected_magic,
                  std::string_view hint) {
  return decode_idx_file(io::read_file(file, hint, kIdxMaxBytes, "an IDX file"), file,
                         expected_magic, hint);
}

Dataset load_mnist(const std::filesystem::path& dir, Split split, std::string name) {
  const std::string hint = hint_for(name);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    io::fail_missing(fmt::format("{} directory", name), {dir}, hint);
  }
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto locate = [&](const std::string& base) {
    for (const auto& cand : {dir / (base + ".gz"), dir / base}) {
      // exists, not is_regular_file: a FIFO or directory in its place gets read_file's message.
      if (std::filesystem::exists(cand, ec)) return cand;
    }
    io::fail_missing(fmt::format("{} {} file", name, base), {dir / (base + ".gz"), dir / base},
                     hint);
  };
  const auto images_file = locate(prefix + "-images-idx3-ubyte");
  const auto labels_file = locate(prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_file, kIdxImagesMagic, hint);
  IdxArray labels = read_idx(labels_file, kIdxLabelsMagic, hint);
  if (images.count() != labels.count()) {
    io::fail(io::Origin{labels_file, {}, io::ends_with_icase(labels_file.string(), ".gz"), hint}, 4,
             fmt::format("item count does not match the images file {}", images_file.string()),
             fmt::format("{} labels (the image count in the images file's header)", images.count()),
             fmt::format("{} labels in the header", labels.count()));
  }
  for (std::size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] > 9) {
      io::fail(io::Origin{labels_file, {}, io::ends_with_icase(labels_file.string(), ".gz"), hint},
               static_cast<std::int64_t>(8 + i), fmt::format("label out of range for item {}", i),
               "a label 0..9", fmt::format("{}", labels.data[i]));
    }
  }
  Dataset d;
  d.name = std::move(name);
  d.split = std::string(split_name(split));
  d.n = static_cast<int>(images.count());
  d.channels = 1;
  d.height = static_cast<int>(images.dims[1]);
  d.width = static_cast<int>(images.dims[2]);
  d.num_classes = 10;
  d.images = std::move(images.data);
  d.labels.assign(labels.data.begin(), labels.data.end());
  if (d.name == "fashion-mnist") {
    d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  } else {
    for (int c = 0; c < 10; ++c) d.class_names.push_back(std::to_string(c));
  }
  return d;
}

}  // namespace gq::data
