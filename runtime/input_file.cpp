#include "runtime/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace gq {
namespace {

std::string describe_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

InputFileError::InputFileError(const std::filesystem::path& path, std::string problem,
                               std::string expected, std::string found)
    : Error(fmt::format("{}: {}: expected {}, found {}", path.string(), problem, expected, found)),
      problem_(std::move(problem)),
      expected_(std::move(expected)),
      found_(std::move(found)) {}

std::string describe_bytes(std::uint64_t bytes) {
  if (bytes >= (std::uint64_t(1) << 30)) return fmt::format("{:.1f} GiB", bytes / 1073741824.0);
  if (bytes >= (std::uint64_t(1) << 20)) return fmt::format("{:.1f} MiB", bytes / 1048576.0);
  return fmt::format("{} bytes", bytes);
}

InputFile::InputFile(const std::filesystem::path& path, std::uint64_t max_bytes,
                     std::string_view what)
    : path_(path) {
  const std::string expected = fmt::format("a regular file holding {}", what);
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    const int err = errno;
    throw InputFileError(path, "cannot open the file", expected,
                         err == ENOENT ? std::string("nothing (missing)") : std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string found = describe_type(st.st_mode);
    ::close(fd_);
    throw InputFileError(path, "not a regular file", expected, found);
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ > max_bytes) {
    ::close(fd_);
    throw InputFileError(path, "file too large",
                         fmt::format("at most {} for {}", describe_bytes(max_bytes), what),
                         fmt::format("{} ({} bytes)", describe_bytes(size_), size_));
  }
  // Regular files never block; reads should wait like ordinary ones.
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

std::vector<std::uint8_t> InputFile::read_all() {
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size_));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd_, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw InputFileError(path_, fmt::format("read error at byte offset {}", got),
                           fmt::format("{} bytes", size_), std::strerror(errno));
    }
    if (n == 0) {
      throw InputFileError(path_, "the file shrank while it was read",
                           fmt::format("{} bytes", size_), fmt::format("{} bytes", got));
    }
    got += static_cast<std::size_t>(n);
  }
  return bytes;
}

std::vector<std::uint8_t> read_input_file(const std::filesystem::path& path,
                                          std::uint64_t max_bytes, std::string_view what) {
  return InputFile(path, max_bytes, what).read_all();
}

}  // namespace gq
