// A scratch folder under the system temp dir, removed when the test is done with it, failed
// assertions included (a test that leaks its checkpoints fills the disk over a few hundred runs).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace gq::test {

class TempDir {
 public:
  explicit TempDir(std::string_view name = "scratch") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("gq_test_" + std::string(name) + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace gq::test
