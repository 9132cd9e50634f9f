// Files named by a user (datasets, checkpoints, config files) are untrusted: the path may be a
// FIFO that blocks forever, /dev/zero that never ends, a directory, or a sparse file of terabytes.
// These helpers open the path without blocking, check on the open descriptor that it is a regular
// file no larger than a stated cap, and only then allocate. Host only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.h"

namespace gq {

// What was wrong with an input file, in parts, so that readers with their own error type (the
// datasets' DataError) can rephrase it. what(): "<path>: <problem>: expected <..>, found <..>".
class InputFileError : public Error {
 public:
  InputFileError(const std::filesystem::path& path, std::string problem, std::string expected,
                 std::string found);
  const std::string& problem() const { return problem_; }
  const std::string& expected() const { return expected_; }
  const std::string& found() const { return found_; }

 private:
  std::string problem_, expected_, found_;
};

// An open regular file (RAII: closes on destruction).
class InputFile {
 public:
  // Opens `path` (O_NONBLOCK, so a FIFO cannot hang) and checks that it is a regular file of at
  // most max_bytes; `what` names the kind of file in messages ("an IDX file", "a checkpoint").
  InputFile(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  // Reads the whole file (size() bytes); InputFileError on a read error or a file that shrank.
  std::vector<std::uint8_t> read_all();
  // Gives up ownership of the descriptor (e.g. to a library that closes it itself).
  int release();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// InputFile(path, max_bytes, what).read_all().
std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path,
                                          std::uint64_t max_bytes, std::string_view what);

// "64.0 MiB", "1.0 GiB", "12 bytes": sizes in messages.
std::string describe_bytes(std::uint64_t bytes);

}  // namespace gq
