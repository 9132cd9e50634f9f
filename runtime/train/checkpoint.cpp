#include "runtime/train/checkpoint.h"

#include <unistd.h>

#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "runtime/error.h"
#include "runtime/fnv1a.h"
#include "runtime/input_file.h"
#include "runtime/output_file.h"

namespace gq::train {
namespace {

constexpr char kMagic[8] = {'G', 'Q', 'C', 'K', 'P', 'T', '0', '1'};

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads fields in order; every size is compared with the bytes left, never added to an offset
// first (a forged size near 2^64 must not wrap around).
struct Reader {
  std::span<const std::uint8_t> bytes;
  const std::filesystem::path& path;
  std::size_t pos = 0;
  template <class T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  void need(std::uint64_t n, const char* what) const {
    if (n > bytes.size() - pos)
      GQ_FAIL(
          "{}: truncated or forged checkpoint: {} at byte offset {} needs {} bytes, {} are left",
          path.string(), what, pos, n, bytes.size() - pos);
  }
};

// The header fields the tools read, with their types and ranges; anything else is refused here,
// so later code may use them without a JSON-library exception.
void check_header(const nlohmann::json& h, const std::filesystem::path& path) {
  if (!h.is_object())
    GQ_FAIL("{}: checkpoint header is not a JSON object: found {}", path.string(), h.type_name());
  const auto bad = [&](const char* key, const char* expected) {
    GQ_FAIL("{}: checkpoint header field '{}' is {}: expected {}", path.string(), key,
            h.contains(key) ? h[key].dump().substr(0, 80) : std::string("missing"), expected);
  };
  const auto integer = [&](const char* key, std::int64_t lo, std::int64_t hi,
                           const char* expected) {
    if (!h.contains(key) || !h[key].is_number_integer()) bad(key, expected);
    // A number_unsigned above INT64_MAX reads back negative here and is refused as out of range.
    const auto v = h[key].get<std::int64_t>();
    if (v < lo || v > hi ||
        (h[key].is_number_unsigned() && h[key].get<std::uint64_t>() > INT64_MAX))
      bad(key, expected);
  };
  const auto text = [&](const char* key) {
    if (!h.contains(key) || !h[key].is_string() || h[key].get_ref<const std::string&>().empty() ||
        h[key].get_ref<const std::string&>().size() > 64)
      bad(key, "a name of 1 to 64 characters");
  };
  integer("format", 1, 3, "1, 2 or 3");
  text("model");
  text("dataset");
  text("optimizer");
  integer("batch_size", 1, INT_MAX, "an integer 1..2147483647");
  if (!h.contains("gradqueue") || !h["gradqueue"].is_boolean()) bad("gradqueue", "true or false");
  if (!h.contains("seed") || !h["seed"].is_number_unsigned()) bad("seed", "an integer 0..2^64-1");
  integer("step", 0, INT64_MAX, "a non-negative integer");
  integer("train_n", 1, INT_MAX, "an integer 1..2147483647");
  integer("train_subset", 0, INT_MAX, "an integer 0..2147483647");
  integer("num_classes", 1, INT_MAX, "an integer 1..2147483647");
  integer("params", 0, INT64_MAX, "a non-negative integer");
  if (h["format"] >= 2) {  // written with the state a resume needs and the settings it compares
    integer("loss_steps", 0, INT64_MAX, "a non-negative integer");
    if (!h.contains("settings") || !h["settings"].is_object()) bad("settings", "a JSON object");
  }
}

}  // namespace

std::uint64_t checkpoint_checksum(std::span<const std::uint8_t> bytes) {
  // A digit short of FNV's offset basis since the first checkpoint: kept, so that every
  // checkpoint written stays readable.
  constexpr std::uint64_t kBasis = 1469598103934665603ull;
  return fnv1a(bytes.data(), bytes.size(), kBasis);
}

void write_checkpoint(const std::filesystem::path& path, const Checkpoint& ckpt) {
  std::string out(kMagic, sizeof kMagic);
  const std::string header = ckpt.header.dump();
  put(out, static_cast<std::uint64_t>(header.size()));
  out += header;
  put(out, static_cast<std::uint64_t>(ckpt.sections.size()));
  for (const auto& [name, values] : ckpt.sections) {
    put(out, static_cast<std::uint32_t>(name.size()));
    out += name;
    put(out, static_cast<std::uint64_t>(values.size()));
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  }
  put(out, checkpoint_checksum(
               std::span(reinterpret_cast<const std::uint8_t*>(out.data()), out.size())));

  write_file_atomically(path, out, "checkpoint");
}

Checkpoint read_checkpoint(const std::filesystem::path& path) {
  std::vector<std::uint8_t> bytes;
  try {
    InputFile file(path, kMaxCheckpointBytes, "a checkpoint");
    // A large file that is no checkpoint (a sparse file, a dataset given by mistake) is refused by
    // its first bytes, not read whole first.
    char magic[sizeof kMagic] = {};
    if (::pread(file.fd(), magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
        std::memcmp(magic, kMagic, sizeof kMagic) != 0)
      GQ_FAIL("{}: not a gradqueue checkpoint (expected magic GQCKPT01 at offset 0)",
              path.string());
    bytes = file.read_all();
  } catch (const InputFileError& e) {
    if (e.found() == "nothing (missing)")
      GQ_FAIL("checkpoint {} not found (no such file)", path.string());
    throw;
  }
  return parse_checkpoint(bytes, path);
}

Checkpoint parse_checkpoint(std::span<const std::uint8_t> bytes,
                            const std::filesystem::path& path) {
  if (bytes.size() < sizeof kMagic + 16 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    GQ_FAIL("{}: not a gradqueue checkpoint (expected magic GQCKPT01 at offset 0)", path.string());
  std::uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  const auto body = bytes.first(bytes.size() - 8);
  const std::uint64_t actual = checkpoint_checksum(body);
  if (stored != actual)
    throw Error(fmt::format(
        "{}: checkpoint is corrupt or truncated (checksum {:016x} stored, {:016x} computed over "
        "{} bytes); use an earlier checkpoint",
        path.string(), stored, actual, body.size()));
  Reader r{body, path, sizeof kMagic};
  Checkpoint ckpt;
  const auto header_len = r.get<std::uint64_t>("header length");
  if (header_len > kMaxCheckpointHeaderBytes)
    GQ_FAIL("{}: checkpoint header of {} bytes at byte offset {}: expected at most {}",
            path.string(), header_len, r.pos, kMaxCheckpointHeaderBytes);
  r.need(header_len, "header");
  try {
    ckpt.header = nlohmann::json::parse(body.subspan(r.pos, header_len));
  } catch (const nlohmann::json::exception& e) {
    GQ_FAIL("{}: checkpoint header (byte offset {}, {} bytes) is not valid JSON: {}", path.string(),
            r.pos, header_len, e.what());
  }
  check_header(ckpt.header, path);
  r.pos += header_len;
  const auto count = r.get<std::uint64_t>("section count");
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto name_len = r.get<std::uint32_t>("section name length");
    r.need(name_len, "section name");
    std::string name(reinterpret_cast<const char*>(body.data() + r.pos), name_len);
    r.pos += name_len;
    const auto n = r.get<std::uint64_t>("section size");
    r.need(n > UINT64_MAX / sizeof(float) ? UINT64_MAX : n * sizeof(float), "section data");
    std::vector<float> values(n);
    if (n > 0)
      std::memcpy(values.data(), body.data() + r.pos, n * sizeof(float));  // data() may be null
    r.pos += n * sizeof(float);
    if (!ckpt.sections.emplace(name, std::move(values)).second)
      GQ_FAIL("{}: checkpoint section '{}' appears twice", path.string(), name);
  }
  if (r.pos != body.size())
    GQ_FAIL("{}: {} unexpected bytes after the last checkpoint section at byte offset {}",
            path.string(), body.size() - r.pos, r.pos);
  return ckpt;
}

}  // namespace gq::train
