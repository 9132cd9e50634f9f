// gq-train's --config file: a strict subset of TOML, one `key = value` per line (key: a flag's
// long name without "--"; value: "string", 'string', or a bare word/number such as 0.1, true,
// auto), blank lines and # comments. Every error names the file and the line: CLI11's own reader
// silently skips lines it does not understand and names neither. The file must be a regular file
// of at most kMaxConfigBytes, checked before it is opened for reading (a FIFO would block).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace gq::train {

inline constexpr std::uint64_t kMaxConfigBytes = std::uint64_t(1) << 20;

class ConfigFile : public CLI::Config {
 public:
  // is_flag(key): whether `key` is the long name (without "--") of a flag the file may set.
  explicit ConfigFile(std::function<bool(const std::string&)> is_flag);

  std::vector<CLI::ConfigItem> from_config(std::istream& in) const override;
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }

  // The file being read, for messages ("<config>" until set).
  void set_source(const std::filesystem::path& file) { source_ = file; }
  // Checks `file` before CLI11 opens it: "" when it is a regular file of at most kMaxConfigBytes
  // (or missing: CLI11 reports that itself), else the problem. Remembers it as the source.
  std::string check_file(const std::string& file);
  // " (set in FILE line N)" when `message` is about a flag whose value came from the file and not
  // from the command line `argv`, else "".
  std::string locate(const std::string& message, const std::vector<std::string>& argv) const;

 private:
  [[noreturn]] void fail(int line, const std::string& problem) const;
  // A "double" (escapes \n \t \" \\) or 'single' quoted value starting at line[i]; i moves past it.
  std::string quoted(std::string_view line, std::size_t& i, const std::string& key,
                     int line_no) const;

  std::function<bool(const std::string&)> is_flag_;
  std::filesystem::path source_ = "<config>";
  mutable std::map<std::string, int> lines_;  // key -> line it was set on (from_config is const)
};

}  // namespace gq::train
