#include "runtime/train/checkpoint_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

std::filesystem::path step_checkpoint_path(const std::filesystem::path& dir, long step) {
  return dir / fmt::format("step{:07d}.ckpt", step);
}

std::vector<std::filesystem::path> prepare_checkpoint_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) GQ_FAIL("--checkpoint-dir {}: cannot create the folder: {}", dir.string(), ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    GQ_FAIL("--checkpoint-dir {}: not a folder", dir.string());
  // Writable? Only creating a file says for sure (permissions, read-only mounts, root or not).
  const auto probe = dir / fmt::format(".gq-write-probe-{}", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    GQ_FAIL("--checkpoint-dir {}: cannot create files in it: {}", dir.string(),
            std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  std::vector<std::filesystem::path> removed;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".ckpt.tmp") == 0 &&
        std::filesystem::remove(entry.path(), ec))
      removed.push_back(entry.path());
  }
  return removed;
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
