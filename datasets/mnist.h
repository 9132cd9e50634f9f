// MNIST / Fashion-MNIST IDX reader. IDX: 2 zero bytes, a type byte (0x08 = unsigned byte), a
// dimension count, then one big-endian uint32 per dimension, then the data, row-major.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.h"

namespace gq::data {

inline constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;  // ubyte, 1 dimension
inline constexpr std::uint32_t kIdxImagesMagic = 0x00000803;  // ubyte, 3 dimensions
// The largest IDX file (raw, compressed or decompressed) and the largest product of its
// dimensions accepted, checked before anything is allocated (MNIST's largest file is 47 MB).
inline constexpr std::uint64_t kIdxMaxBytes = std::uint64_t(1) << 30;

// A parsed IDX file of unsigned bytes.
struct IdxArray {
  std::uint32_t magic = 0;          // 0x0000TTNN: T = type (0x08), N = number of dimensions
  std::vector<std::uint32_t> dims;  // dims[0] = number of items
  std::vector<std::uint8_t> data;   // product(dims) bytes
  std::size_t count() const { return dims.empty() ? 0 : dims[0]; }
  std::size_t item_size() const;  // product(dims[1:])
};

// Parses IDX bytes. `source` names the data in messages (a file name). With expected_magic != 0
// the magic must equal it; otherwise any unsigned-byte IDX magic (0x0801..0x0804) is accepted.
// Throws DataError for a wrong magic, a truncated header or body (fewer items than the header
// says), trailing bytes, and dimensions whose product passes kIdxMaxBytes (or 2^64).
IdxArray parse_idx(std::span<const std::uint8_t> bytes, const std::filesystem::path& source,
                   std::uint32_t expected_magic = 0, std::string_view hint = {});

// Parses the bytes of an IDX file as stored: gzipped (detected by the 1f 8b magic, not the name)
// or raw. `file` names it in messages; a .gz name over raw bytes is an error.
IdxArray decode_idx_file(std::span<const std::uint8_t> bytes, const std::filesystem::path& file,
                         std::uint32_t expected_magic = 0, std::string_view hint = {});

// Reads an IDX file (a regular file of at most kIdxMaxBytes), gzipped or raw (decode_idx_file).
IdxArray read_idx(const std::filesystem::path& file, std::uint32_t expected_magic = 0,
                  std::string_view hint = {});

// MNIST / Fashion-MNIST from a directory with the official names
// ({train,t10k}-{images-idx3,labels-idx1}-ubyte, each with .gz preferred over the raw file).
// name "fashion-mnist" sets the Fashion-MNIST class names; any other name gives "0".."9".
// Checks: image magic 0x803 and label magic 0x801, the item counts of the two files agree, every
// label is 0..9. Images are [n, 1, rows, cols].
Dataset load_mnist(const std::filesystem::path& dir, Split split, std::string name = "mnist");

}  // namespace gq::data
