// IDX files as the MNIST loader reads them: raw, or gzip (chosen by the 1f 8b magic, as in
// read_idx). An accepted file must hold exactly the bytes its header promises.
#include <cstddef>
#include <cstdint>
#include <span>

#include "datasets/mnist.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto a = gq::data::decode_idx_file(std::span(data, size), "fuzz/train-images-idx3-ubyte");
    FUZZ_CHECK(!a.dims.empty() && a.dims.size() <= 4);
    unsigned __int128 total = 1;
    for (auto d : a.dims) total *= d;
    FUZZ_CHECK(total == a.data.size());
    FUZZ_CHECK(a.data.size() <= gq::data::kIdxMaxBytes);
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
