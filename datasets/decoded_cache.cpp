#include "datasets/decoded_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/fnv1a.h"
#include "runtime/input_file.h"
#include "runtime/output_file.h"

namespace gq::data {
namespace {

constexpr char kMagic[8] = {'G', 'Q', 'D', 'A', 'T', 'A', '0', '1'};
constexpr std::uint64_t kMaxCacheBytes = std::uint64_t(1) << 30;  // CIFAR-10: 184 MB
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t(1) << 20;

// What identifies the source (an archive, or a folder of files): each regular file's name, size and
// modification time; nullopt when they cannot be read (then the cache is not used).
std::optional<std::uint64_t> source_key(const std::filesystem::path& source) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(source, ec)) {
    for (auto it = std::filesystem::directory_iterator(source, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
  } else {
    files.push_back(source);
  }
  if (ec) return std::nullopt;
  std::sort(files.begin(), files.end());
  std::uint64_t h = fnv1a(source.string().data(), source.string().size());
  for (const std::filesystem::path& f : files) {
    const auto size = std::filesystem::file_size(f, ec);
    const auto time = std::filesystem::last_write_time(f, ec).time_since_epoch().count();
    if (ec) return std::nullopt;
    const std::string line = fmt::format("{}:{}:{}", f.filename().string(), size, time);
    h = fnv1a(line.data(), line.size() + 1, h);
  }
  return h;
}

nlohmann::json describe(const Dataset& d) {
  return {{"name", d.name},     {"split", d.split},         {"n", d.n},
          {"channels", d.channels}, {"height", d.height},   {"width", d.width},
          {"num_classes", d.num_classes}, {"class_names", d.class_names},
          {"digest", fmt::format("{:016x}", d.digest())}};
}

template <class T>
void append(std::string& out, const std::vector<T>& v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

std::filesystem::path decoded_cache_dir() {
  const char* own = std::getenv("GQ_CACHE_DIR");
  if (own && *own) return std::string(own) == "off" ? std::filesystem::path() : own;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "gradqueue";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "gradqueue";
  return {};
}

std::string encode_decoded(const TrainTest& tt) {
  for (const Dataset* d : {&tt.train, &tt.test})
    GQ_CHECK(d->features.empty() && !d->images.empty(), "the decoded cache holds image datasets");
  const std::string header = nlohmann::json{{"train", describe(tt.train)}, {"test", describe(tt.test)}}.dump();
  std::string out(kMagic, sizeof kMagic);
  const std::uint64_t size = header.size();
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out += header;
  for (const Dataset* d : {&tt.train, &tt.test}) {
    append(out, d->images);
    append(out, d->labels);
  }
  return out;
}

namespace {

class Reader {
 public:
  Reader(const std::filesystem::path& path, std::span<const std::uint8_t> bytes)
      : path_(path), bytes_(bytes) {}
  [[noreturn]] void bad(const std::string& what) const {
    throw DataError(fmt::format("{}: {} (a corrupt decoded-dataset cache file)", path_.string(),
                                what),
                    path_.string(), {}, static_cast<std::int64_t>(at_));
  }
  const std::uint8_t* take(std::uint64_t n, const char* what) {
    if (n > bytes_.size() - at_)
      bad(fmt::format("{} needs {} bytes at offset {}, the file has {}", what, n, at_,
                      bytes_.size()));
    const std::uint8_t* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  std::size_t left() const { return bytes_.size() - at_; }

 private:
  const std::filesystem::path& path_;
  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
};

int field(Reader& r, const nlohmann::json& h, const char* key, int lo, int hi) {
  if (!h.contains(key) || !h[key].is_number_integer() || h[key].get<std::int64_t>() < lo ||
      h[key].get<std::int64_t>() > hi)
    r.bad(fmt::format("header field '{}': expected an integer {}..{}", key, lo, hi));
  return h[key].get<int>();
}

Dataset read_split(Reader& r, const nlohmann::json& h) {
  Dataset d;
  if (!h.is_object() || !h.contains("name") || !h["name"].is_string() || !h.contains("split") ||
      !h["split"].is_string() || !h.contains("digest") || !h["digest"].is_string())
    r.bad("a split's header: expected name, split and digest");
  d.name = h["name"].get<std::string>();
  d.split = h["split"].get<std::string>();
  d.n = field(r, h, "n", 1, 10'000'000);
  d.channels = field(r, h, "channels", 1, 4);
  d.height = field(r, h, "height", 1, 4096);
  d.width = field(r, h, "width", 1, 4096);
  d.num_classes = field(r, h, "num_classes", 1, 100'000);
  if (!h.contains("class_names") || !h["class_names"].is_array() ||
      h["class_names"].size() != static_cast<std::size_t>(d.num_classes))
    r.bad("header field 'class_names': expected one name per class");
  for (const auto& c : h["class_names"]) {
    if (!c.is_string()) r.bad("header field 'class_names': expected names");
    d.class_names.push_back(c.get<std::string>());
  }
  const std::uint64_t pixels = std::uint64_t(d.n) * d.sample_size();
  const std::uint8_t* images = r.take(pixels, "the images");
  d.images.assign(images, images + pixels);
  const std::uint8_t* labels = r.take(std::uint64_t(d.n) * sizeof(std::int32_t), "the labels");
  d.labels.resize(d.n);
  std::memcpy(d.labels.data(), labels, d.labels.size() * sizeof(std::int32_t));
  for (std::int32_t l : d.labels)
    if (l < 0 || l >= d.num_classes) r.bad(fmt::format("a label {} outside 0..{}", l, d.num_classes - 1));
  if (fmt::format("{:016x}", d.digest()) != h["digest"].get<std::string>())
    r.bad(fmt::format("the {} split's digest differs from its header's", d.split));
  return d;
}

// Keeps the kNewest most recent cache files of `name` (several data folders may be in use), removes
// the rest: the folder does not grow with every copy of a dataset a test or a user made.
constexpr int kNewest = 3;
void prune(const std::filesystem::path& dir, const std::string& name) {
  std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(name + "-", 0) == 0 && entry.path().extension() == ".gqdata")
      found.emplace_back(entry.last_write_time(ec), entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = kNewest; i < found.size(); ++i) std::filesystem::remove(found[i].second, ec);
}

}  // namespace

TrainTest read_decoded(const std::filesystem::path& path) {
  const std::vector<std::uint8_t> bytes =
      read_input_file(path, kMaxCacheBytes, "a decoded-dataset cache file");
  return parse_decoded(bytes, path);
}

TrainTest parse_decoded(std::span<const std::uint8_t> bytes, const std::filesystem::path& path) {
  Reader r(path, bytes);
  if (std::memcmp(r.take(sizeof kMagic, "the magic"), kMagic, sizeof kMagic) != 0)
    r.bad("expected the magic GQDATA01");
  std::uint64_t size = 0;
  std::memcpy(&size, r.take(sizeof size, "the header size"), sizeof size);
  if (size > kMaxHeaderBytes) r.bad(fmt::format("a header of {} bytes", size));
  const char* text = reinterpret_cast<const char*>(r.take(size, "the header"));
  const nlohmann::json h = nlohmann::json::parse(text, text + size, nullptr, false);
  if (h.is_discarded() || !h.is_object() || !h.contains("train") || !h.contains("test"))
    r.bad("expected a JSON header with the train and test splits");
  TrainTest tt{read_split(r, h["train"]), read_split(r, h["test"])};
  if (r.left() != 0) r.bad(fmt::format("{} bytes after the test split", r.left()));
  return tt;
}

TrainTest load_through_cache(const std::string& name, const std::filesystem::path& source,
                             const std::function<TrainTest()>& decode) {
  const std::filesystem::path dir = decoded_cache_dir();
  const std::optional<std::uint64_t> key = dir.empty() ? std::nullopt : source_key(source);
  if (!key) return decode();
  const std::filesystem::path path = dir / fmt::format("{}-{:016x}.gqdata", name, *key);
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    try {
      return read_decoded(path);
    } catch (const gq::Error& e) {
      std::fprintf(stderr, "warning: ignoring the decoded-dataset cache: %s; decoding %s again\n",
                   e.what(), source.string().c_str());
    }
  }
  TrainTest tt = decode();
  try {
    write_file_atomically(path, encode_decoded(tt), "decoded-dataset cache",
                          fmt::format(".{}.tmp", ::getpid()));  // ranks may write it at once
    prune(dir, name);
  } catch (const gq::Error& e) {
    std::fprintf(stderr,
                 "warning: %s; the next run decodes %s again (GQ_CACHE_DIR=off turns the cache "
                 "off)\n",
                 e.what(), name.c_str());
  }
  return tt;
}

}  // namespace gq::data
