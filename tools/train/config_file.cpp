#include "tools/train/config_file.h"

#include <fmt/format.h>

#include "runtime/input_file.h"
#include "runtime/train/settings.h"

namespace gq::train {
namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool is_bare_char(char c) {
  return is_key_char(c) || c == '.' || c == '+';
}
bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

}  // namespace

ConfigFile::ConfigFile(std::function<bool(const std::string&)> is_flag)
    : is_flag_(std::move(is_flag)) {}

void ConfigFile::fail(int line, const std::string& problem) const {
  throw CLI::ConfigError(line > 0 ? fmt::format("{} line {}: {}", source_.string(), line, problem)
                                  : fmt::format("{}: {}", source_.string(), problem));
}

std::string ConfigFile::check_file(const std::string& file) {
  source_ = file;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return {};  // CLI11: "File does not exist: ..."
  try {
    InputFile checked(file, kMaxConfigBytes, "a gq-train config (key = value lines)");
  } catch (const InputFileError& e) {
    return e.what();
  }
  return {};
}

std::string ConfigFile::quoted(std::string_view line, std::size_t& i, const std::string& key,
                               int line_no) const {
  std::string value;
  const char quote = line[i++];
  bool closed = false;
  while (i < line.size() && !closed) {
    const char c = line[i++];
    if (c == quote) {
      closed = true;
    } else if (c == '\\' && quote == '"') {
      if (i == line.size()) break;
      const char e = line[i++];
      if (e == 'n')
        value += '\n';
      else if (e == 't')
        value += '\t';
      else if (e == '"' || e == '\\')
        value += e;
      else
        fail(line_no, fmt::format("unsupported escape \\{} in the value of '{}'", e, key));
    } else {
      value += c;
    }
  }
  if (!closed) fail(line_no, fmt::format("unterminated string in the value of '{}'", key));
  return value;
}

std::vector<CLI::ConfigItem> ConfigFile::from_config(std::istream& in) const {
  // The cap again: the file may have grown since it was checked, and streams come from elsewhere.
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes)
      fail(0, fmt::format("config file larger than {}", describe_bytes(kMaxConfigBytes)));
  }
  lines_.clear();
  std::vector<CLI::ConfigItem> items;
  int line_no = 0;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t i = 0;
    const auto skip_blanks = [&] {
      while (i < line.size() && is_blank(line[i])) ++i;
    };
    skip_blanks();
    if (i == line.size() || line[i] == '#') continue;
    if (line[i] == '[')
      fail(line_no, "[sections] are not supported: every key is a gq-train flag at the top level");
    const std::size_t key_begin = i;
    while (i < line.size() && is_key_char(line[i])) ++i;
    const std::string key(line.substr(key_begin, i - key_begin));
    if (key.empty())
      fail(line_no, "expected a key (a flag name such as batch-size), found " +
                        fmt::format("'{}'", line.substr(key_begin, 40)));
    skip_blanks();
    if (i == line.size() || line[i] != '=')
      fail(line_no, fmt::format("expected '=' after the key '{}'", key));
    ++i;
    skip_blanks();
    if (i == line.size()) fail(line_no, fmt::format("no value for '{}'", key));
    std::string value;
    if (line[i] == '"' || line[i] == '\'') {
      value = quoted(line, i, key, line_no);
    } else {
      const std::size_t value_begin = i;
      while (i < line.size() && is_bare_char(line[i])) ++i;
      value = std::string(line.substr(value_begin, i - value_begin));
      if (value.empty())
        fail(line_no, fmt::format("expected a value for '{}' (a number, true/false, a word or a "
                                  "\"string\"; arrays and tables are not supported)",
                                  key));
    }
    skip_blanks();
    if (i < line.size() && line[i] != '#')
      fail(line_no,
           fmt::format("unexpected text after the value of '{}': '{}'", key, line.substr(i, 40)));
    if (key == "config" || key == "help" || !is_flag_(key)) {
      std::vector<std::string> names;
      for (const Setting& s : all_settings()) names.push_back(s.name);
      const std::string near = closest(key, names);
      fail(line_no, fmt::format("unknown key '{}': expected the long name of a gq-train flag "
                                "without its -- (see gq-train --help){}",
                                key, near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    const auto [it, fresh] = lines_.emplace(key, line_no);
    if (!fresh) fail(line_no, fmt::format("'{}' is set twice (first on line {})", key, it->second));
    CLI::ConfigItem item;
    item.name = key;
    item.inputs = {value};
    items.push_back(std::move(item));
  }
  return items;
}

std::string ConfigFile::locate(const std::string& message,
                               const std::vector<std::string>& argv) const {
  for (const auto& [key, line] : lines_) {
    const std::string flag = "--" + key;
    const auto at = message.find(flag);
    // The flag's name, not a longer one that starts with it (--gq-qmin in --gq-qmin-x).
    if (at == std::string::npos ||
        (at + flag.size() < message.size() && is_key_char(message[at + flag.size()])))
      continue;
    bool on_command_line = false;
    for (const auto& a : argv) on_command_line |= a == flag || a.rfind(flag + "=", 0) == 0;
    if (!on_command_line) return fmt::format(" (set in {} line {})", source_.string(), line);
  }
  return {};
}

}  // namespace gq::train
