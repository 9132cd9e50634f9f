// Internal helpers of the dataset readers: reading files and archives, and raising DataError with a
// uniform message. Not part of the public API.
#pragma once

#include <archive.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.h"
#include "runtime/input_file.h"

namespace gq::data::io {

// Where some bytes came from: a file on disk, or a member of an archive file.
struct Origin {
  std::filesystem::path file;
  std::string member;         // empty: the file itself
  bool decompressed = false;  // offsets count bytes of the decompressed (gunzipped) file
  std::string hint;           // what to do about a failure (re-download, ...)

  // "path" or "path [member m]"; with decompressed, says offsets are into the decompressed data.
  std::string display() const;
  // The member's base name, or the file's name: what readers match on and messages lead with.
  std::string name() const;
};

// Throws DataError: "<origin>: <problem> at byte offset <offset>: expected <expected>, found
// <found>. <hint>". offset < 0 omits the offset; empty expected/found omit those parts.
[[noreturn]] void fail(const Origin& origin, std::int64_t offset, std::string_view problem,
                       std::string_view expected, std::string_view found);

// Throws DataError for a file or directory that was not found, listing every candidate tried.
[[noreturn]] void fail_missing(std::string_view what,
                               const std::vector<std::filesystem::path>& tried,
                               std::string_view hint);

// Reads a whole file, which must be a regular file of at most max_bytes (checked before anything
// is allocated; a FIFO or device is refused without blocking). `what` names the kind of file in
// messages ("an IDX file"). DataError when it cannot be opened or read.
std::vector<std::uint8_t> read_file(const std::filesystem::path& file, std::string_view hint,
                                    std::uint64_t max_bytes, std::string_view what);

bool is_gzip(std::span<const std::uint8_t> bytes);  // 1f 8b
bool is_xz(std::span<const std::uint8_t> bytes);    // fd 37 7a 58 5a 00

// Inflates a gzip file (one or more members) with zlib, checking every member's CRC-32 and size.
// Offsets in errors count compressed bytes of `origin.file`. More than max_out decompressed bytes
// (a gzip bomb, or a stream far larger than the data it should hold) is an error, raised before
// the buffer grows past the cap.
std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> compressed, const Origin& origin,
                                 std::uint64_t max_out);

// Case-insensitive suffix test on a file name.
bool ends_with_icase(std::string_view s, std::string_view suffix);
// True for names of tar archives we read: .tar, .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2.
bool is_tar_name(const std::filesystem::path& file);

// Streams through the members of a tar archive (plain, gzip, xz or bzip2 compressed) in order,
// with libarchive; nothing is written to disk. Stream errors (corrupt/truncated compression, bad
// tar headers) raise DataError naming the archive, the member being read and the compressed byte
// offset.
class ArchiveReader {
 public:
  struct Entry {
    std::string path;       // member path inside the archive
    std::string base;       // last path component
    std::int64_t size = 0;  // bytes, from the tar header
    bool regular = false;   // a regular file (not a directory, link, ...)
    const char* kind = "";  // "regular file", "folder", "symbolic link", "hard link", ...
  };

  // Reads the archive file (a regular file; checked without blocking).
  ArchiveReader(const std::filesystem::path& file, std::string hint);
  // Reads an archive held in memory; `name` stands for the file in messages. `bytes` must outlive
  // the reader.
  ArchiveReader(std::span<const std::uint8_t> bytes, const std::filesystem::path& name,
                std::string hint);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  // Advances to the next member; false at the end of the archive. Unread data of the previous
  // member is skipped (still decompressed for a compressed stream, but not copied).
  bool next(Entry& entry);
  // Reads the current member whole; DataError when it ends before the header's size, or when it is
  // larger than max_bytes (checked against the header's size before allocating, and while reading
  // a member without a size).
  std::vector<std::uint8_t> read(std::uint64_t max_bytes);
  // Number of members seen so far and their paths (for "missing member" messages).
  const std::vector<std::string>& seen() const { return seen_; }
  // For a "missing member" message: the members seen so far named one of `bases` that were not
  // read because they are not regular files, as "; a/b.bin is a symbolic link, ... (only regular
  // files are read)", or "" when there are none.
  std::string not_regular_among(const std::vector<std::string>& bases) const;
  const std::filesystem::path& file() const { return file_; }
  Origin origin_of(const std::string& member) const { return Origin{file_, member, false, hint_}; }

 private:
  [[noreturn]] void fail_stream(std::string_view while_doing);
  void create();                   // ar_ with the filters and formats we read
  void check_opened(int open_rc);  // raises (and frees ar_) when opening failed

  std::filesystem::path file_;
  std::unique_ptr<InputFile> input_;  // the open archive file (absent for an in-memory archive)
  std::string hint_;
  archive* ar_ = nullptr;
  Entry current_;
  bool have_entry_ = false;
  std::vector<std::string> seen_;
  std::vector<Entry> not_regular_;  // members skipped by every reader: folders, links, devices
};

}  // namespace gq::data::io
