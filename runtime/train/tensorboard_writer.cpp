#include "runtime/train/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "runtime/error.h"

namespace gq::train {
namespace {

static_assert(std::endian::native == std::endian::little, "protobuf and TFRecord are little-endian");

// The protobuf wire format of the fields an event uses: varints, 64- and 32-bit fixed, bytes.
void varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out += static_cast<char>(v | 0x80);
  out += static_cast<char>(v);
}
void tag(std::string& out, int field, int wire_type) {
  varint(out, static_cast<std::uint64_t>(field) << 3 | wire_type);
}
void bytes_field(std::string& out, int field, const std::string& bytes) {
  tag(out, field, 2);
  varint(out, bytes.size());
  out += bytes;
}
template <class T>  // double (wire type 1) or float (5)
void fixed_field(std::string& out, int field, T v) {
  tag(out, field, sizeof(T) == 8 ? 1 : 5);
  char raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof raw);
  out.append(raw, sizeof raw);
}

// tensorflow/core/util/event.proto: Event {double wall_time = 1; int64 step = 2; oneof {string
// file_version = 3; Summary summary = 5; SessionLog session_log = 7}}.
std::string event(double wall_time, long step, int field, const std::string& payload) {
  std::string e;
  fixed_field(e, 1, wall_time);
  tag(e, 2, 0);
  varint(e, static_cast<std::uint64_t>(step));
  bytes_field(e, field, payload);
  return e;
}

// Summary {repeated Value value = 1}; Value {string tag = 1; float simple_value = 2; ...}.
void add_scalar(std::string& summary, const std::string& name, float v) {
  std::string value;
  bytes_field(value, 1, name);
  fixed_field(value, 2, v);
  bytes_field(summary, 1, value);
}

// A text summary: Value {tag = 1; SummaryMetadata metadata = 9 {PluginData plugin_data = 1
// {string plugin_name = 1}}; TensorProto tensor = 8 {DataType dtype = 1 (DT_STRING = 7);
// repeated bytes string_val = 8}}, a scalar string tensor (no shape).
void add_text(std::string& summary, const std::string& name, const std::string& text) {
  std::string plugin, metadata, tensor, value;
  bytes_field(plugin, 1, "text");
  bytes_field(metadata, 1, plugin);
  tag(tensor, 1, 0);
  varint(tensor, 7);
  bytes_field(tensor, 8, text);
  bytes_field(value, 1, name);
  bytes_field(value, 9, metadata);
  bytes_field(value, 8, tensor);
  bytes_field(summary, 1, value);
}

// The fields of a record that say where it is, not what was measured.
bool is_coordinate(const std::string& key) {
  return key == "type" || key == "step" || key == "epoch" || key == "time" || key == "elapsed_s";
}

void add_scalars(std::string& summary, const std::string& prefix, const nlohmann::json& object) {
  for (const auto& [key, value] : object.items()) {
    if (value.is_object())
      add_scalars(summary, prefix + "/" + key, value);
    else if (value.is_number() && !is_coordinate(key))
      add_scalar(summary, prefix + "/" + key, value.get<float>());
  }
}

// CRC-32C (Castagnoli), masked as TFRecord stores it.
std::uint32_t masked_crc32c(const char* data, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i)
    crc = table[(crc ^ static_cast<std::uint8_t>(data[i])) & 0xff] ^ (crc >> 8);
  crc = ~crc;
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// Markdown, which TensorBoard's text tab renders: every line indented, a code block.
std::string code_block(const std::string& text) {
  std::string out = "    ";
  for (const char c : text) out += c == '\n' ? std::string("\n    ") : std::string(1, c);
  return out;
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::filesystem::path& dir, long resume_step) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    GQ_FAIL("--tensorboard {}: cannot create the folder: {}", dir.string(),
            ec ? ec.message() : "a file of that name is in the way");
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) std::strcpy(host, "localhost");
  const double now = unix_seconds();
  const auto seconds = static_cast<long long>(now);
  path_ = dir / fmt::format("events.out.tfevents.{}.{:06}.{}.{}", seconds,
                            static_cast<int>((now - seconds) * 1e6), host, ::getpid());
  file_ = std::fopen(path_.c_str(), "wbx");
  if (!file_)
    GQ_FAIL("--tensorboard {}: cannot create {}: {}", dir.string(), path_.string(),
            std::strerror(errno));
  append(event(now, 0, 3, "brain.Event:2"));
  std::string start;  // SessionLog {SessionStatus status = 1 (START = 1)}
  tag(start, 1, 0);
  varint(start, 1);
  append(event(now, resume_step < 0 ? 0 : resume_step + 1, 7, start));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write(const nlohmann::json& record) {
  const std::string type = record.value("type", "");
  std::string summary;
  if (type == "run")
    add_text(summary, "run", code_block(record.dump(2)));
  else
    add_scalars(summary, type, record);
  if (summary.empty()) return;
  append(event(record.value("time", unix_seconds()), record.value("step", 0L), 5, summary));
}

// TFRecord: uint64 length, masked CRC-32C of the length, the data, masked CRC-32C of the data.
void TensorBoardWriter::append(const std::string& event) {
  std::string record(12, '\0');
  const std::uint64_t length = event.size();
  std::memcpy(record.data(), &length, 8);
  const std::uint32_t length_crc = masked_crc32c(record.data(), 8);
  std::memcpy(record.data() + 8, &length_crc, 4);
  const std::uint32_t data_crc = masked_crc32c(event.data(), event.size());
  record += event;
  record.append(reinterpret_cast<const char*>(&data_crc), 4);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fflush(file_) != 0)
    GQ_FAIL("--tensorboard: writing {} failed: {}; the run stops so that no event is lost",
            path_.string(), std::strerror(errno));
}

}  // namespace gq::train
