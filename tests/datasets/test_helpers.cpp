#include "tests/datasets/test_helpers.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace gq::data::test {

void write_file(const std::filesystem::path& file, const Bytes& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

Bytes read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Bytes gzip(const Bytes& raw) {
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  Bytes out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void write_tar(const std::filesystem::path& file, const std::string& filter,
               const std::vector<std::pair<std::string, Bytes>>& members) {
  archive* a = archive_write_new();
  if (filter == "xz") {
    archive_write_add_filter_xz(a);
    archive_write_set_filter_option(a, "xz", "compression-level", "1");
  } else if (filter == "gzip") {
    archive_write_add_filter_gzip(a);
    archive_write_set_filter_option(a, "gzip", "compression-level", "1");
  }
  archive_write_set_format_pax_restricted(a);
  if (archive_write_open_filename(a, file.c_str()) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(a));
  }
  for (const auto& [name, bytes] : members) {
    archive_entry* e = archive_entry_new();
    const bool link = name.rfind("symlink:", 0) == 0, dir = name.rfind("dir:", 0) == 0;
    archive_entry_set_pathname(e, name.substr(link ? 8 : dir ? 4 : 0).c_str());
    archive_entry_set_perm(e, 0644);
    if (link) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, std::string(bytes.begin(), bytes.end()).c_str());
    } else {
      archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
      archive_entry_set_size(e, dir ? 0 : static_cast<la_int64_t>(bytes.size()));
    }
    archive_write_header(a, e);
    if (!link && !dir) archive_write_data(a, bytes.data(), bytes.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

Bytes idx(std::uint32_t magic, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes out;
  auto put = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
  };
  put(magic);
  for (auto d : dims) put(d);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes cifar_batch(int records) {
  Bytes out(std::size_t(records) * 3073);
  for (int r = 0; r < records; ++r) {
    std::uint8_t* rec = out.data() + std::size_t(r) * 3073;
    rec[0] = static_cast<std::uint8_t>((r * 7) % 10);
    for (int i = 0; i < 3072; ++i) rec[1 + i] = static_cast<std::uint8_t>((r + i) % 251);
  }
  return out;
}

std::filesystem::path data_dir() {
  const char* env = std::getenv("GQ_DATA_DIR");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path();
}

}  // namespace gq::data::test
