// GQ_PORTABLE only (cmake/GqPortable.cmake), linked into every executable. The static libstdc++
// of GCC 12 built on glibc 2.36 calls arc4random (std::random_device), and the static libarchive
// arc4random_buf, which would make the binaries need GLIBC_2.36 (Debian 12) and refuse to start
// on glibc 2.35 (Ubuntu 22.04). Defined here, they bind to these getrandom-based versions instead
// (getrandom: glibc 2.25).
#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" void arc4random_buf(void* buf, std::size_t size) noexcept {
  auto* out = static_cast<unsigned char*>(buf);
  while (size > 0) {
    const ssize_t n = getrandom(out, size, 0);
    if (n > 0) {
      out += n;
      size -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      std::perror("arc4random_buf (gradqueue portable build): getrandom");
      std::abort();
    }
  }
}

extern "C" std::uint32_t arc4random() noexcept {
  std::uint32_t v = 0;
  arc4random_buf(&v, sizeof v);
  return v;
}
