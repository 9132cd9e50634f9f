// Decoded image datasets kept on disk, so that the next run skips decoding: CIFAR-10's xz archive
// takes ~15 s of one core to decode; its decoded copy (180 MB) reads and checks in well under a
// second. Folder: $GQ_CACHE_DIR ("off" turns the cache off), else $XDG_CACHE_HOME/gradqueue, else
// $HOME/.cache/gradqueue.
//
// A cache file is named by the dataset and a key of its source files (names, sizes, modification
// times), so a changed source is decoded again. It is untrusted input like any file: a header of
// shapes checked against the file's size before anything is allocated, labels in range, and each
// split's Dataset::digest() recomputed and compared. A cache file that fails any check is ignored
// (a warning on stderr says which and why) and replaced; a cache that cannot be written (full disk,
// read-only folder) costs a warning, never the run.
#pragma once

#include <filesystem>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "datasets/dataset.h"

namespace gq::data {

// The cache folder, or empty when the cache is off.
std::filesystem::path decoded_cache_dir();

// The cached copy of `name` decoded from the files in `source`, or decode(source) (then cached).
TrainTest load_through_cache(const std::string& name, const std::filesystem::path& source,
                             const std::function<TrainTest()>& decode);

// The cache file's bytes and their reading back (for tests and the fuzzer); read_decoded and
// parse_decoded throw DataError naming `path` and what is wrong (read_decoded also InputFileError:
// not a regular file, over 1 GiB).
std::string encode_decoded(const TrainTest& tt);
TrainTest read_decoded(const std::filesystem::path& path);
TrainTest parse_decoded(std::span<const std::uint8_t> bytes, const std::filesystem::path& path);

}  // namespace gq::data
