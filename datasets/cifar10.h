// CIFAR-10 "binary version" reader (cifar-10-batches-bin/: data_batch_1..5.bin, test_batch.bin,
// batches.meta.txt). Each .bin file is 10000 records of 1 label byte + 3072 pixel bytes (R, G, B
// planes of 32x32), which is already the NCHW layout of Dataset::images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace gq::data {

inline constexpr int kCifarRecordBytes = 3073;
inline constexpr int kCifarRecordsPerFile = 10000;

// CIFAR-10 from `path`, which may be:
//   1. an archive file (.tar.xz, .tar.gz, .tgz, .txz, .tar): read in memory, members matched by
//   base
//      name in any folder; reading stops as soon as the needed members have been read;
//   2. a directory holding cifar-10-batches-bin/ with the .bin files;
//   3. a directory holding the .bin files directly;
//   4. a directory holding cifar-10-binary.tar.xz, else cifar-10-binary.tar.gz (read as in 1).
// The first that applies wins, in this order. batches.meta.txt is optional (official class names
// otherwise); when present it must list 10 names. Every file must hold exactly 10000 records and
// every label must be 0..9; anything else throws DataError.
Dataset load_cifar10(const std::filesystem::path& path, Split split);

// Both splits in one pass over an archive (the test batch is the last member of the official
// archive, so loading the splits separately would decompress the train batches twice).
TrainTest load_cifar10_all(const std::filesystem::path& path);

// The building blocks, exposed for tests and fuzzing: one batch file's bytes (`records` records;
// 10000 in the real files) as a test-split Dataset of that many records, and batches.meta.txt.
Dataset parse_cifar10_batch(std::span<const std::uint8_t> bytes,
                            const std::filesystem::path& source,
                            int records = kCifarRecordsPerFile);
std::vector<std::string> parse_cifar10_meta(std::span<const std::uint8_t> bytes,
                                            const std::filesystem::path& source);

}  // namespace gq::data
