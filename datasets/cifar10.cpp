#include "datasets/cifar10.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "datasets/io.h"

namespace gq::data {
namespace {

constexpr std::string_view kHint =
    "Re-download the CIFAR-10 binary version "
    "(https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) or restore "
    "the archive with tools/get-data.sh cifar10 (docs/DATASETS.md).";
constexpr int kPixels = kCifarRecordBytes - 1;
// Caps checked before reading: twice a real batch (so a wrong size up to that gets the precise
// "N records" message), and far more than ten class names need.
constexpr std::uint64_t kMaxBatchFileBytes = std::uint64_t(64) << 20;
constexpr std::uint64_t kMaxMetaFileBytes = std::uint64_t(64) << 10;
const std::array<std::string, 10> kOfficialNames = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

std::string batch_name(Split split, int i) {
  return split == Split::test ? std::string("test_batch.bin")
                              : fmt::format("data_batch_{}.bin", i + 1);
}
int batch_count(Split split) {
  return split == Split::test ? 1 : 5;
}

Dataset empty_dataset(Split split, int records_per_file = kCifarRecordsPerFile) {
  Dataset d;
  d.name = "cifar10";
  d.split = std::string(split_name(split));
  d.n = batch_count(split) * records_per_file;
  d.channels = 3;
  d.height = d.width = 32;
  d.num_classes = 10;
  d.images.resize(std::size_t(d.n) * kPixels);
  d.labels.resize(std::size_t(d.n));
  d.class_names.assign(kOfficialNames.begin(), kOfficialNames.end());
  return d;
}

// Validates one batch file of `records` records (10000 in the real files) and copies it into
// records [index*records, (index+1)*records) of `out`.
void parse_batch(std::span<const std::uint8_t> bytes, const io::Origin& origin, int index,
                 Dataset& out, int records_per_file = kCifarRecordsPerFile) {
  const std::size_t want_records = std::size_t(records_per_file);
  const std::size_t file_bytes = kCifarRecordBytes * want_records;
  if (bytes.size() % kCifarRecordBytes != 0) {
    const std::size_t whole = bytes.size() / kCifarRecordBytes;
    io::fail(
        origin, static_cast<std::int64_t>(whole * kCifarRecordBytes),
        fmt::format("truncated CIFAR-10 batch: {} bytes is not a multiple of the {}-byte record "
                    "(1 label byte + 3072 pixel bytes); record {} is cut short",
                    bytes.size(), kCifarRecordBytes, whole),
        fmt::format("{} records = {} bytes", want_records, file_bytes),
        fmt::format("{} whole records and {} bytes of record {}", whole,
                    bytes.size() - whole * kCifarRecordBytes, whole));
  }
  if (bytes.size() != file_bytes) {
    const std::size_t records = bytes.size() / kCifarRecordBytes;
    io::fail(origin, static_cast<std::int64_t>(std::min(bytes.size(), file_bytes)),
             records < want_records ? "truncated CIFAR-10 batch (too few records)"
                                    : "CIFAR-10 batch has extra records",
             fmt::format("{} records = {} bytes", want_records, file_bytes),
             fmt::format("{} records = {} bytes", records, bytes.size()));
  }
  const std::size_t base = std::size_t(index) * want_records;
  for (std::size_t r = 0; r < want_records; ++r) {
    const std::uint8_t* rec = bytes.data() + r * kCifarRecordBytes;
    if (rec[0] > 9) {
      io::fail(origin, static_cast<std::int64_t>(r * kCifarRecordBytes),
               fmt::format("label out of range in record {}", r), "a label byte 0..9",
               fmt::format("{}", rec[0]));
    }
    out.labels[base + r] = rec[0];
    std::memcpy(out.images.data() + (base + r) * kPixels, rec + 1, kPixels);
  }
}

std::vector<std::string> parse_meta(std::span<const std::uint8_t> bytes, const io::Origin& origin) {
  std::vector<std::string> names;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    if (i == bytes.size() || bytes[i] == '\n') {
      std::string line(bytes.begin() + static_cast<std::ptrdiff_t>(start),
                       bytes.begin() + static_cast<std::ptrdiff_t>(i));
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) {
        if (names.size() == 10) {
          io::fail(origin, static_cast<std::int64_t>(start), "too many class names",
                   "10 lines (one class name each)", fmt::format("an 11th name '{}'", line));
        }
        names.push_back(line);
      }
      start = i + 1;
    }
  }
  if (names.size() != 10) {
    io::fail(origin, static_cast<std::int64_t>(bytes.size()), "too few class names",
             "10 lines (one class name each)", fmt::format("{} names", names.size()));
  }
  return names;
}

// The directory that holds the .bin files, if `dir` is (or holds) an unpacked batches folder.
std::optional<std::filesystem::path> bin_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& d : {dir / "cifar-10-batches-bin", dir}) {
    if (std::filesystem::exists(d / "data_batch_1.bin", ec) ||
        std::filesystem::exists(d / "test_batch.bin", ec)) {
      return d;
    }
  }
  return std::nullopt;
}

struct Want {
  bool train = false, test = false;
};

void load_from_dir(const std::filesystem::path& dir, Want want, Dataset* train, Dataset* test) {
  std::vector<std::filesystem::path> missing;
  for (Split s : {Split::train, Split::test}) {
    if (s == Split::train ? !want.train : !want.test) continue;
    for (int i = 0; i < batch_count(s); ++i) {
      std::error_code ec;
      // exists, not is_regular_file: a FIFO or directory in its place gets read_file's message.
      if (!std::filesystem::exists(dir / batch_name(s, i), ec)) {
        missing.push_back(dir / batch_name(s, i));
      }
    }
  }
  if (!missing.empty()) {
    io::fail_missing(fmt::format("CIFAR-10 batch file(s) in {}", dir.string()), missing, kHint);
  }
  std::optional<std::vector<std::string>> names;
  std::error_code ec;
  if (std::filesystem::exists(dir / "batches.meta.txt", ec)) {
    names = parse_meta(
        io::read_file(dir / "batches.meta.txt", kHint, kMaxMetaFileBytes, "CIFAR-10 class names"),
        io::Origin{dir / "batches.meta.txt", {}, false, std::string(kHint)});
  }
  for (Split s : {Split::train, Split::test}) {
    Dataset* out = s == Split::train ? train : test;
    if (!out) continue;
    *out = empty_dataset(s);
    if (names) out->class_names = *names;
    for (int i = 0; i < batch_count(s); ++i) {
      const auto file = dir / batch_name(s, i);
      parse_batch(io::read_file(file, kHint, kMaxBatchFileBytes, "a CIFAR-10 batch"),
                  io::Origin{file, {}, false, std::string(kHint)}, i, *out);
    }
  }
}

void load_from_archive(const std::filesystem::path& file, Want want, Dataset* train,
                       Dataset* test) {
  if (train) *train = empty_dataset(Split::train);
  if (test) *test = empty_dataset(Split::test);
  // Needed members by base name -> (split, index); found flags.
  struct Need {
    std::string base;
    Dataset* out;
    int index;
    bool found = false;
  };
  std::vector<Need> needs;
  if (want.train) {
    for (int i = 0; i < 5; ++i) needs.push_back({batch_name(Split::train, i), train, i});
  }
  if (want.test) needs.push_back({batch_name(Split::test, 0), test, 0});
  std::size_t remaining = needs.size();
  std::optional<std::vector<std::string>> names;

  io::ArchiveReader reader(file, std::string(kHint));
  io::ArchiveReader::Entry e;
  while (remaining > 0 && reader.next(e)) {
    if (!e.regular) continue;
    if (e.base == "batches.meta.txt" && !names) {
      names = parse_meta(reader.read(kMaxMetaFileBytes), reader.origin_of(e.path));
      continue;
    }
    for (auto& need : needs) {
      if (need.found || need.base != e.base) continue;
      const auto bytes = reader.read(kMaxBatchFileBytes);
      parse_batch(bytes, reader.origin_of(e.path), need.index, *need.out);
      need.found = true;
      --remaining;
      break;
    }
  }
  if (remaining > 0) {
    std::string missing;
    std::vector<std::string> missing_bases;
    for (const auto& need : needs) {
      if (need.found) continue;
      missing += (missing.empty() ? "" : ", ") + need.base;
      missing_bases.push_back(need.base);
    }
    const auto& seen = reader.seen();
    std::string listing;
    for (std::size_t i = 0; i < seen.size() && i < 12; ++i) listing += (i ? ", " : "") + seen[i];
    if (seen.size() > 12) listing += ", ...";
    io::fail(io::Origin{file, {}, false, std::string(kHint)}, -1,
             seen.empty() ? "empty archive" : "missing CIFAR-10 member(s) in the archive",
             fmt::format("members named {} (in any folder)", missing),
             seen.empty() ? std::string("no members")
                          : fmt::format("{} members: {}{}", seen.size(), listing,
                                        reader.not_regular_among(missing_bases)));
  }
  if (names) {
    if (train) train->class_names = *names;
    if (test) test->class_names = *names;
  }
}

void load(const std::filesystem::path& path, Want want, Dataset* train, Dataset* test) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    io::fail_missing("CIFAR-10 data", {path}, kHint);
  }
  if (std::filesystem::is_regular_file(path, ec)) {
    if (!io::is_tar_name(path)) {
      io::fail(io::Origin{path, {}, false, std::string(kHint)}, -1, "not a CIFAR-10 archive",
               "a directory or a .tar.xz/.tar.gz/.tgz/.tar archive", "another kind of file");
    }
    return load_from_archive(path, want, train, test);
  }
  // Neither a file nor a folder (a FIFO, a device): the archive reader says what it is.
  if (!std::filesystem::is_directory(path, ec)) return load_from_archive(path, want, train, test);
  if (auto d = bin_dir(path)) return load_from_dir(*d, want, train, test);
  for (const char* name : {"cifar-10-binary.tar.xz", "cifar-10-binary.tar.gz"}) {
    if (std::filesystem::is_regular_file(path / name, ec)) {
      return load_from_archive(path / name, want, train, test);
    }
  }
  io::fail_missing(
      fmt::format("CIFAR-10 data in directory {}", path.string()),
      {path / "cifar-10-batches-bin" / "data_batch_1.bin",
       path / "cifar-10-batches-bin" / "test_batch.bin", path / "data_batch_1.bin",
       path / "test_batch.bin", path / "cifar-10-binary.tar.xz", path / "cifar-10-binary.tar.gz"},
      kHint);
}

}  // namespace

Dataset parse_cifar10_batch(std::span<const std::uint8_t> bytes,
                            const std::filesystem::path& source, int records) {
  GQ_CHECK(records >= 1, "parse_cifar10_batch: records must be positive, got {}", records);
  Dataset d = empty_dataset(Split::test, records);
  parse_batch(bytes, io::Origin{source, {}, false, std::string(kHint)}, 0, d, records);
  return d;
}

std::vector<std::string> parse_cifar10_meta(std::span<const std::uint8_t> bytes,
                                            const std::filesystem::path& source) {
  return parse_meta(bytes, io::Origin{source, {}, false, std::string(kHint)});
}

Dataset load_cifar10(const std::filesystem::path& path, Split split) {
  Dataset d;
  if (split == Split::train) {
    load(path, Want{true, false}, &d, nullptr);
  } else {
    load(path, Want{false, true}, nullptr, &d);
  }
  return d;
}

TrainTest load_cifar10_all(const std::filesystem::path& path) {
  TrainTest tt;
  load(path, Want{true, true}, &tt.train, &tt.test);
  return tt;
}

}  // namespace gq::data
