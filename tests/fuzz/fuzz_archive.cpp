// Archives as the CIFAR-10 and Reuters loaders stream them (libarchive: tar, plain or gzip / xz /
// bzip2 compressed): every member header, and every regular member read whole under a 1 MiB cap.
#include <cstddef>
#include <cstdint>
#include <span>

#include "datasets/io.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint64_t kCap = std::uint64_t(1) << 20;
  try {
    gq::data::io::ArchiveReader reader(std::span(data, size), "fuzz.tar.xz", "");
    gq::data::io::ArchiveReader::Entry e;
    while (reader.next(e)) {
      if (!e.regular) continue;
      const auto bytes = reader.read(kCap);
      FUZZ_CHECK(bytes.size() <= kCap);
      FUZZ_CHECK(e.size < 0 || bytes.size() == static_cast<std::uint64_t>(e.size));
    }
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
