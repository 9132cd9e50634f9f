// Decoded-dataset cache files (datasets/decoded_cache.h) as gq-train reads them from the cache
// folder: what parse_decoded accepts has its header's shapes, labels in range and the bytes its
// header promises, and encodes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "datasets/decoded_cache.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const gq::data::TrainTest tt = gq::data::parse_decoded(std::span(data, size), "fuzz.gqdata");
    for (const gq::data::Dataset* d : {&tt.train, &tt.test}) {
      FUZZ_CHECK(d->images.size() == std::size_t(d->n) * d->sample_size());
      FUZZ_CHECK(d->labels.size() == std::size_t(d->n));
      for (std::int32_t l : d->labels) FUZZ_CHECK(l >= 0 && l < d->num_classes);
    }
    FUZZ_CHECK(tt.train.images.size() + tt.test.images.size() <= size);
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
