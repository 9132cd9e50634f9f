#include "datasets/io.h"

#include <cerrno>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>

#include <fmt/format.h>

namespace gq::data::io {

std::string Origin::display() const {
  std::string s = file.string();
  if (!member.empty()) s += fmt::format(" [member {}]", member);
  return s;
}

std::string Origin::name() const {
  if (!member.empty()) {
    auto slash = member.find_last_of('/');
    return slash == std::string::npos ? member : member.substr(slash + 1);
  }
  return file.filename().string();
}

void fail(const Origin& origin, std::int64_t offset, std::string_view problem,
          std::string_view expected, std::string_view found) {
  std::string msg = origin.display();
  msg += ": ";
  msg += problem;
  if (offset >= 0) {
    msg += fmt::format(" at byte offset {}", offset);
    if (origin.decompressed) msg += " of the decompressed data";
  }
  if (!expected.empty()) msg += fmt::format(": expected {}", expected);
  if (!found.empty()) msg += fmt::format("{} found {}", expected.empty() ? ":" : ",", found);
  msg += ".";
  if (!origin.hint.empty()) msg += " " + origin.hint;
  throw DataError(msg, origin.file.string(), origin.member, offset);
}

void fail_missing(std::string_view what, const std::vector<std::filesystem::path>& tried,
                  std::string_view hint) {
  std::string msg = fmt::format("{} not found; looked for:", what);
  for (const auto& p : tried) msg += "\n  " + p.string();
  if (!hint.empty()) msg += fmt::format("\n{}", hint);
  throw DataError(msg, tried.empty() ? std::string() : tried.front().string());
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& file, std::string_view hint,
                                    std::uint64_t max_bytes, std::string_view what) {
  try {
    return read_input_file(file, max_bytes, what);
  } catch (const InputFileError& e) {
    fail(Origin{file, {}, false, std::string(hint)}, -1, e.problem(), e.expected(), e.found());
  }
}

bool is_gzip(std::span<const std::uint8_t> b) {
  return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

bool is_xz(std::span<const std::uint8_t> b) {
  static constexpr std::uint8_t kMagic[6] = {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00};
  return b.size() >= 6 && std::equal(kMagic, kMagic + 6, b.begin());
}

namespace {

// The gzip magic, checked before zlib sees the data so that a wrong file is named as such.
void check_gzip_magic(std::span<const std::uint8_t> in, const Origin& origin) {
  if (in.empty()) fail(origin, 0, "empty gzip file", "a gzip stream (magic 1f 8b)", "0 bytes");
  if (!is_gzip(in)) {
    fail(origin, 0, "not a gzip stream", "magic bytes 1f 8b",
         fmt::format("{:02x} {:02x}", in[0], in.size() > 1 ? in[1] : 0));
  }
}

// The output's first size: the trailer's ISIZE (size mod 2^32 of the last member) is a good
// guess. A damaged trailer can hold any value: never trust it beyond 8x the compressed size.
std::size_t first_output_size(std::span<const std::uint8_t> in, std::size_t limit) {
  std::size_t isize = 0;
  if (in.size() >= 18) {
    const auto* t = in.data() + in.size() - 4;
    isize = std::size_t(t[0]) | std::size_t(t[1]) << 8 | std::size_t(t[2]) << 16 |
            std::size_t(t[3]) << 24;
  }
  return std::min(
      std::clamp<std::size_t>(isize, 1 << 16, std::max<std::size_t>(8 * in.size(), 1 << 16)) + 1,
      limit);
}

// zlib's inflate (gzip wrapper) over buffers of any size: zlib counts in 32-bit chunks.
class Inflater {
 public:
  explicit Inflater(const Origin& origin) {
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) {
      fail(origin, -1, "zlib initialisation failed", "", "");
    }
  }
  ~Inflater() { inflateEnd(&zs_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates from in[consumed..] into out[produced..]; advances both counts by what it used.
  int step(std::span<const std::uint8_t> in, std::size_t& consumed, std::vector<std::uint8_t>& out,
           std::size_t& produced) {
    const std::size_t in_chunk = std::min<std::size_t>(in.size() - consumed, UINT_MAX);
    const std::size_t out_chunk = std::min<std::size_t>(out.size() - produced, UINT_MAX);
    zs_.next_in = const_cast<Bytef*>(in.data() + consumed);
    zs_.avail_in = static_cast<uInt>(in_chunk);
    zs_.next_out = out.data() + produced;
    zs_.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs_, Z_NO_FLUSH);
    consumed += in_chunk - zs_.avail_in;
    produced += out_chunk - zs_.avail_out;
    return rc;
  }
  void next_member() { inflateReset(&zs_); }
  bool output_full() const { return zs_.avail_out == 0; }
  const char* message() const { return zs_.msg ? zs_.msg : "?"; }

 private:
  z_stream zs_{};
};

// After a gzip member's end, at `consumed`: true if another member follows (concatenated gzip);
// false at the end of the data or of zero padding (tolerated); anything else is an error.
bool another_member(std::span<const std::uint8_t> in, std::size_t consumed,
                    const Origin& origin) {
  if (consumed == in.size()) return false;
  auto rest = in.subspan(consumed);
  if (is_gzip(rest)) return true;
  if (std::all_of(rest.begin(), rest.end(), [](std::uint8_t b) { return b == 0; })) return false;
  fail(origin, static_cast<std::int64_t>(consumed), "trailing bytes after the gzip stream",
       "end of file or another gzip member (1f 8b)",
       fmt::format("{} more bytes starting {:02x}", rest.size(), rest[0]));
}

// inflate's error `rc` (neither progress nor a member's end): the data is truncated or corrupt.
[[noreturn]] void fail_inflate(int rc, const Inflater& z, std::size_t in_size,
                               std::size_t consumed, std::size_t produced, const Origin& origin) {
  if (rc == Z_BUF_ERROR && consumed == in_size) {
    fail(origin, static_cast<std::int64_t>(consumed),
         "truncated gzip stream (the file ends inside the compressed data)",
         "more compressed data, then the 8-byte CRC-32/size trailer",
         fmt::format("end of file after {} compressed bytes ({} bytes decompressed)", consumed,
                     produced));
  }
  fail(origin, static_cast<std::int64_t>(consumed), "corrupt gzip stream",
       "valid deflate data with matching CRC-32 and size",
       fmt::format("zlib error '{}' after {} bytes decompressed", z.message(), produced));
}

}  // namespace

std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> in, const Origin& origin,
                                 std::uint64_t max_out) {
  check_gzip_magic(in, origin);
  Inflater z(origin);
  // One byte over the cap is room to notice that the stream goes on past it.
  const std::size_t limit =
      static_cast<std::size_t>(std::min<std::uint64_t>(max_out, SIZE_MAX - 1)) + 1;
  std::vector<std::uint8_t> out(first_output_size(in, limit));
  std::size_t produced = 0, consumed = 0;
  const auto too_much = [&] {
    fail(origin, static_cast<std::int64_t>(consumed), "gzip stream decompresses to too much data",
         fmt::format("at most {} decompressed", describe_bytes(max_out)),
         fmt::format("more than that after {} compressed bytes", consumed));
  };
  while (true) {
    if (produced == out.size()) {
      if (produced == limit) too_much();
      out.resize(std::min(out.size() * 2, limit));
    }
    const int rc = z.step(in, consumed, out, produced);
    if (rc == Z_STREAM_END) {
      if (!another_member(in, consumed, origin)) break;
      z.next_member();
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.output_full()) continue;  // output full: grow and go on
    fail_inflate(rc, z, in.size(), consumed, produced, origin);
  }
  if (produced > max_out) too_much();  // the stream ended in the byte past the cap
  out.resize(produced);
  out.shrink_to_fit();
  return out;
}

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(),
                    s.end() - static_cast<std::ptrdiff_t>(suffix.size()), [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    });
}

bool is_tar_name(const std::filesystem::path& file) {
  const std::string n = file.filename().string();
  for (std::string_view s : {".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2"}) {
    if (ends_with_icase(n, s)) return true;
  }
  return false;
}

ArchiveReader::ArchiveReader(const std::filesystem::path& file, std::string hint)
    : file_(file), hint_(std::move(hint)) {
  // Streamed, never held whole: no size cap, but a regular file (a FIFO would block).
  try {
    input_ = std::make_unique<InputFile>(file, UINT64_MAX, "a tar archive");
  } catch (const InputFileError& e) {
    fail(Origin{file_, {}, false, hint_}, -1, "cannot open the archive", e.expected(), e.found());
  }
  create();
  check_opened(archive_read_open_fd(ar_, input_->fd(), std::size_t(1) << 20));
}

ArchiveReader::ArchiveReader(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                             std::string hint)
    : file_(name), hint_(std::move(hint)) {
  create();
  check_opened(archive_read_open_memory(ar_, bytes.data(), bytes.size()));
}

void ArchiveReader::create() {
  ar_ = archive_read_new();
  if (!ar_) fail(Origin{file_, {}, false, hint_}, -1, "libarchive: out of memory", "", "");
  archive_read_support_filter_gzip(ar_);
  archive_read_support_filter_xz(ar_);
  archive_read_support_filter_bzip2(ar_);
  archive_read_support_format_tar(ar_);
  archive_read_support_format_empty(ar_);
}

void ArchiveReader::check_opened(int open_rc) {
  if (open_rc == ARCHIVE_OK) return;
  // A throwing constructor runs no destructor: free the reader before reporting.
  try {
    fail_stream("opening it");
  } catch (...) {
    archive_read_free(ar_);
    ar_ = nullptr;
    throw;
  }
}

ArchiveReader::~ArchiveReader() {
  if (ar_) archive_read_free(ar_);
}

void ArchiveReader::fail_stream(std::string_view while_doing) {
  const char* err = archive_error_string(ar_);
  // The archive may be fine: the decoder ran out of memory (it says so through errno).
  if (archive_errno(ar_) == ENOMEM)
    throw OutOfMemory(fmt::format("decoding {} ({}): libarchive says '{}'", file_.string(),
                                  while_doing, err ? err : "out of memory"));
  const char* filter = archive_filter_count(ar_) > 1 ? archive_filter_name(ar_, 0) : nullptr;
  if (!filter) {  // failed before the filter was set up: go by the name
    const std::string n = file_.filename().string();
    if (ends_with_icase(n, ".xz") || ends_with_icase(n, ".txz")) filter = "xz";
    if (ends_with_icase(n, ".gz") || ends_with_icase(n, ".tgz")) filter = "gzip";
  }
  const auto raw = archive_filter_bytes(ar_, -1);
  const auto unpacked = archive_filter_bytes(ar_, 0);
  Origin origin{file_, have_entry_ ? current_.path : std::string(), false, hint_};
  std::string found = fmt::format("libarchive error '{}'", err ? err : "unknown");
  if (raw >= 0) {
    found += fmt::format(" after {} compressed bytes read ({} bytes of tar stream unpacked)", raw,
                         unpacked);
  }
  const std::string expected =
      filter ? fmt::format("a complete tar archive in a valid {} stream", filter)
             : std::string("a complete tar archive (optionally gzip/xz/bzip2 compressed)");
  fail(origin, raw >= 0 ? raw : -1,
       fmt::format("corrupt or truncated archive while {}", while_doing), expected, found);
}

bool ArchiveReader::next(Entry& entry) {
  archive_entry* e = nullptr;
  const int rc = archive_read_next_header(ar_, &e);
  if (rc == ARCHIVE_EOF) {
    have_entry_ = false;
    return false;
  }
  if (rc < ARCHIVE_WARN) {
    fail_stream(seen_.empty() ? std::string("reading the first member header")
                              : fmt::format("reading the member header after {}", seen_.back()));
  }
  const char* path = archive_entry_pathname(e);
  current_.path = path ? path : "";
  std::string_view trimmed = current_.path;  // a folder's path may end with '/'
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.remove_suffix(1);
  const auto slash = trimmed.find_last_of('/');
  current_.base = std::string(slash == std::string_view::npos ? trimmed : trimmed.substr(slash + 1));
  current_.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
  current_.regular = archive_entry_filetype(e) == AE_IFREG && archive_entry_hardlink(e) == nullptr;
  current_.kind = archive_entry_hardlink(e) != nullptr            ? "hard link"
                  : archive_entry_filetype(e) == AE_IFREG ? "regular file"
                  : archive_entry_filetype(e) == AE_IFDIR ? "folder"
                  : archive_entry_filetype(e) == AE_IFLNK ? "symbolic link"
                                                          : "special file";
  if (!current_.regular) not_regular_.push_back(current_);
  have_entry_ = true;
  seen_.push_back(current_.path);
  entry = current_;
  return true;
}

std::string ArchiveReader::not_regular_among(const std::vector<std::string>& bases) const {
  std::string out;
  for (const Entry& e : not_regular_) {
    if (std::find(bases.begin(), bases.end(), e.base) == bases.end()) continue;
    out += fmt::format("{} {} is a {}", out.empty() ? ";" : ",", e.path, e.kind);
  }
  return out.empty() ? out : out + " (only regular files are read)";
}

std::vector<std::uint8_t> ArchiveReader::read(std::uint64_t max_bytes) {
  const Origin origin = origin_of(current_.path);
  const auto too_large = [&](std::string found) {
    fail(origin, -1, "archive member too large",
         fmt::format("at most {} for this member", describe_bytes(max_bytes)), found);
  };
  const bool sized = current_.size >= 0;
  if (sized && static_cast<std::uint64_t>(current_.size) > max_bytes) {
    too_large(fmt::format("{} bytes in its tar header", current_.size));
  }
  // An unsized member may hold one byte more than the cap: that byte shows it is too large.
  const std::size_t limit =
      sized ? static_cast<std::size_t>(current_.size)
            : static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, SIZE_MAX - 1)) + 1;
  std::vector<std::uint8_t> data(sized ? limit : std::min<std::size_t>(limit, 1 << 16));
  std::size_t got = 0;
  while (got < limit) {
    if (got == data.size()) data.resize(std::min(data.size() * 2, limit));
    const la_ssize_t n = archive_read_data(ar_, data.data() + got, data.size() - got);
    if (n < 0) fail_stream("reading member data");
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (!sized && got > max_bytes) too_large("more bytes than that (the member has no size)");
  if (sized && got != limit) {
    fail(origin, static_cast<std::int64_t>(got), "archive member ends early",
         fmt::format("{} bytes (tar header size)", current_.size), fmt::format("{} bytes", got));
  }
  data.resize(got);
  return data;
}

}  // namespace gq::data::io
