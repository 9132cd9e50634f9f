#include "runtime/output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/error.h"

namespace gq {

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           std::string_view what, std::string_view tmp_suffix) {
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) GQ_FAIL("cannot create the {} folder {}: {}", what, dir.string(), ec.message());
  const std::filesystem::path tmp = path.string() + std::string(tmp_suffix);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) GQ_FAIL("cannot write {} {}: {}", what, tmp.string(), std::strerror(errno));
  int err = 0;
  for (std::size_t done = 0; done < bytes.size() && err == 0;) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      err = errno;
    else
      done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    std::filesystem::remove(tmp, ec);
    GQ_FAIL("writing {} {} failed: {}", what, path.string(), std::strerror(err));
  }
}

}  // namespace gq
