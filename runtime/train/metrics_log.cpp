#include "runtime/train/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/input_file.h"

namespace gq::train {
namespace {

// The largest metrics file a resume filters (a record is ~300 bytes: millions of records).
constexpr std::uint64_t kMaxMetricsBytes = std::uint64_t(1) << 30;

// O_NONBLOCK: opening a FIFO that has no reader fails (ENXIO) instead of waiting for one.
int open_for_append(const std::filesystem::path& path, bool truncate) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec)
      GQ_FAIL("--metrics {}: cannot create the folder {}: {}", path.string(),
              path.parent_path().string(), ec.message());
  }
  const int fd = ::open(
      path.c_str(),
      O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  if (fd < 0)
    GQ_FAIL("--metrics {}: cannot open it for writing: {}", path.string(), std::strerror(errno));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// Keeps the records at or before `step` but a run header at `step` (the new segment's replaces
// it); returns how many lines were dropped.
long drop_records_after(const std::filesystem::path& path, long step) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;  // new, or a device
  const auto bytes = read_input_file(path, kMaxMetricsBytes, "a metrics log");
  std::string kept;
  long dropped = 0;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t end = start;
    while (end < bytes.size() && bytes[end] != '\n') ++end;
    const std::string line(bytes.begin() + static_cast<std::ptrdiff_t>(start),
                           bytes.begin() + static_cast<std::ptrdiff_t>(end));
    start = end + 1;
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const bool stamped = record.is_object() && record.contains("step") &&
                         record["step"].is_number_integer();
    const long at = stamped ? record["step"].get<long>() : 0;
    const bool keep = stamped && (at < step || (at == step && record.value("type", "") != "run"));
    if (keep)
      kept += line + '\n';
    else
      ++dropped;
  }
  if (dropped == 0) return 0;
  // Atomically: a crash now leaves the old file or the filtered one, not half of it.
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  bool ok = f && std::fwrite(kept.data(), 1, kept.size(), f) == kept.size();
  const int err = errno;
  if (f && std::fclose(f) != 0) ok = false;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    GQ_FAIL("--metrics {}: cannot rewrite it without the records after step {}: {}", path.string(),
            step, std::strerror(ok ? errno : err));
  }
  return dropped;
}

}  // namespace

void check_metrics_path(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    GQ_FAIL("--metrics {}: is a folder; expected a file", path.string());
  ::close(open_for_append(path, /*truncate=*/false));
}

MetricsLog::MetricsLog(const std::filesystem::path& path, long resume_step) : path_(path) {
  if (resume_step >= 0) dropped_ = drop_records_after(path, resume_step);
  fd_ = open_for_append(path, /*truncate=*/resume_step < 0);
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

MetricsLog::MetricsLog(MetricsLog&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), dropped_(other.dropped_) {}

MetricsLog& MetricsLog::operator=(MetricsLog&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    dropped_ = other.dropped_;
  }
  return *this;
}

void MetricsLog::write(const std::string& json_line) {
  if (fd_ < 0) return;
  const std::string line = json_line + '\n';
  for (std::size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      GQ_FAIL("--metrics {}: writing a record failed: {}; the run stops so that no record is lost",
              path_.string(), n < 0 ? std::strerror(errno) : "nothing written");
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace gq::train
