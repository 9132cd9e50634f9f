// CIFAR-10: the first byte picks the parser, the rest is the file: a batch file of 2 records (the
// real parser with a smaller record count; a 30 MB input per run would leave no time for anything
// else) or batches.meta.txt. DataError is the expected way to refuse; anything else escaping
// (std::bad_alloc, std::out_of_range) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "datasets/cifar10.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  try {
    if (data[0] & 1) {
      const auto names = gq::data::parse_cifar10_meta(bytes, "fuzz/batches.meta.txt");
      FUZZ_CHECK(names.size() == 10);
      for (const auto& n : names) FUZZ_CHECK(!n.empty());
    } else {
      const auto d = gq::data::parse_cifar10_batch(bytes, "fuzz/test_batch.bin", 2);
      FUZZ_CHECK(d.n == 2 && d.labels.size() == 2 && d.images.size() == 2 * 3072);
      for (auto l : d.labels) FUZZ_CHECK(l >= 0 && l <= 9);
    }
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
