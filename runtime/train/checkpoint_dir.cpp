#include "runtime/train/checkpoint_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "runtime/error.h"

namespace gq::train {
namespace {

// The step of a "stepNNNNNNN.ckpt" name, or -1.
long step_of(const std::string& name) {
  constexpr std::string_view prefix = "step", suffix = ".ckpt";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(digits);
}

}  // namespace

CheckpointDirLock::CheckpointDirLock(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) GQ_FAIL("--checkpoint-dir {}: cannot create the folder: {}", dir.string(), ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    GQ_FAIL("--checkpoint-dir {}: not a folder", dir.string());
  // Creating the lock file also proves the folder writable (permissions, read-only mounts, root
  // or not: only creating a file says for sure).
  const std::filesystem::path file = dir / ".gq-train.lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    GQ_FAIL("--checkpoint-dir {}: cannot create files in it: {}", dir.string(),
            std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      GQ_FAIL("--checkpoint-dir {} is in use by another gq-train run (pid {}): wait for it to "
              "finish, or write to another folder",
              dir.string(), n > 0 ? std::string(pid, static_cast<std::size_t>(n)) : "unknown");
    GQ_FAIL("--checkpoint-dir {}: cannot lock {}: {}", dir.string(), file.string(),
            std::strerror(err));
  }
  // The pid only serves another run's message: if it cannot be written, the lock still holds.
  const std::string me = std::to_string(::getpid());
  [[maybe_unused]] const bool noted =
      ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) > 0;
}

CheckpointDirLock::~CheckpointDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::filesystem::path step_checkpoint_path(const std::filesystem::path& dir, long step) {
  return dir / fmt::format("step{:07d}.ckpt", step);
}

std::vector<std::filesystem::path> remove_partial_checkpoints(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> removed;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".ckpt.tmp") == 0 &&
        std::filesystem::remove(entry.path(), ec))
      removed.push_back(entry.path());
  }
  return removed;
}

std::vector<std::filesystem::path> run_checkpoints(const std::filesystem::path& dir) {
  std::vector<std::pair<long, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const long s = name == "last.ckpt" ? LONG_MAX : step_of(name);
    if (s >= 0) found.emplace_back(s, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> paths;
  for (auto& [s, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::vector<std::filesystem::path> prune_checkpoints(const std::filesystem::path& dir, int keep,
                                                     long step) {
  std::vector<std::filesystem::path> removed;
  if (keep <= 0) return removed;
  std::vector<std::pair<long, std::filesystem::path>> older;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const long s = step_of(entry.path().filename().string());
    if (s >= 0 && s <= step) older.emplace_back(s, entry.path());
  }
  std::sort(older.begin(), older.end());
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < older.size(); ++i) {
    if (std::filesystem::remove(older[i].second, ec)) removed.push_back(older[i].second);
  }
  return removed;
}

}  // namespace gq::train
