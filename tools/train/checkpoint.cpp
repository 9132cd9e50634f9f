#include "tools/train/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "runtime/error.h"

namespace gq::train {
namespace {

constexpr char kMagic[8] = {'G', 'Q', 'C', 'K', 'P', 'T', '0', '1'};

// FNV-1a, 64 bit: enough to catch truncation and bit rot; not a cryptographic seal.
std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

struct Reader {
  const std::string& bytes;
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
  void need(std::size_t n, const char* what) const {
    if (pos + n > bytes.size())
      GQ_FAIL("{}: truncated checkpoint: {} at byte offset {} needs {} bytes, file has {}",
              path.string(), what, pos, n, bytes.size());
  }
};

}  // namespace

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
  put(out, fnv1a(out));

  std::filesystem::create_directories(path.parent_path().empty() ? "." : path.parent_path());
  const std::filesystem::path tmp = path.string() + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  GQ_CHECK(f, "cannot write checkpoint {}: {}", tmp.string(), std::strerror(errno));
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size() && std::fflush(f) == 0 &&
                  fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) {
    std::filesystem::remove(tmp);
    GQ_FAIL("writing checkpoint {} failed (disk full?): {}", tmp.string(), std::strerror(errno));
  }
  std::filesystem::rename(tmp, path);
}

Checkpoint read_checkpoint(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  GQ_CHECK(f.good(), "checkpoint {} not found or not readable", path.string());
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  GQ_CHECK(
      bytes.size() >= sizeof kMagic + 16 && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
      "{}: not a gradqueue checkpoint (expected magic GQCKPT01 at offset 0)", path.string());
  std::uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  const std::uint64_t actual = fnv1a(bytes.substr(0, bytes.size() - 8));
  if (stored != actual)
    throw Error(fmt::format(
        "{}: checkpoint is corrupt or truncated (checksum {:016x} stored, {:016x} computed over "
        "{} bytes); use an earlier checkpoint",
        path.string(), stored, actual, bytes.size() - 8));
  Reader r{bytes, path, sizeof kMagic};
  Checkpoint ckpt;
  const auto header_len = r.get<std::uint64_t>("header length");
  r.need(header_len, "header");
  ckpt.header = nlohmann::json::parse(bytes.substr(r.pos, header_len));
  r.pos += header_len;
  const auto count = r.get<std::uint64_t>("section count");
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto name_len = r.get<std::uint32_t>("section name length");
    r.need(name_len, "section name");
    std::string name = bytes.substr(r.pos, name_len);
    r.pos += name_len;
    const auto n = r.get<std::uint64_t>("section size");
    r.need(n * sizeof(float), "section data");
    std::vector<float> values(n);
    std::memcpy(values.data(), bytes.data() + r.pos, n * sizeof(float));
    r.pos += n * sizeof(float);
    ckpt.sections.emplace(std::move(name), std::move(values));
  }
  return ckpt;
}

}  // namespace gq::train
