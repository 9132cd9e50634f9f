// Helpers for the dataset tests: temp dirs, file writers, archive writers.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/temp_dir.h"

namespace gq::data::test {

using Bytes = std::vector<std::uint8_t>;

using TempDir = gq::test::TempDir;

void write_file(const std::filesystem::path& file, const Bytes& bytes);
Bytes read_bytes(const std::filesystem::path& file);
Bytes gzip(const Bytes& raw);  // one gzip member, zlib level 1

// A tar archive with the given members, compressed with "xz", "gzip" or "" (none). A name
// "symlink:PATH" makes PATH a symbolic link (to the bytes as its target), "dir:PATH" a folder.
void write_tar(const std::filesystem::path& file, const std::string& filter,
               const std::vector<std::pair<std::string, Bytes>>& members);

// An IDX file of unsigned bytes: header with `magic` and `dims`, then `data`.
Bytes idx(std::uint32_t magic, const std::vector<std::uint32_t>& dims, const Bytes& data);

// A CIFAR-10 batch of `records` records: label (r * 7) % 10, pixel i = (r + i) % 251.
Bytes cifar_batch(int records);

// $GQ_DATA_DIR, or empty when unset.
std::filesystem::path data_dir();

}  // namespace gq::data::test

// Expects `stmt` to throw gq::data::DataError whose message contains every string in the list.
#define EXPECT_DATA_ERROR(stmt, ...)                                                             \
  do {                                                                                           \
    try {                                                                                        \
      stmt;                                                                                      \
      ADD_FAILURE() << "expected DataError from: " #stmt;                                        \
    } catch (const ::gq::data::DataError& e) {                                                   \
      const std::string msg = e.what();                                                          \
      if (std::getenv("GQ_TEST_SHOW_ERRORS")) std::printf("DataError: %s\n", msg.c_str());       \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) {                    \
        EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in:\n" << msg; \
      }                                                                                          \
    }                                                                                            \
  } while (0)
