// Checkpoint files. The input is everything but the closing checksum, which the target appends:
// a fuzzer cannot forge FNV-1a by mutation, and without it every input would stop at the checksum
// check. What parse_checkpoint accepts, the tools read without further checks: so the header
// fields they use must have their types and ranges.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/error.h"
#include "tests/fuzz/fuzz_check.h"
#include "runtime/train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  const std::uint64_t sum = gq::train::checkpoint_checksum(bytes);
  bytes.resize(size + sizeof sum);
  std::memcpy(bytes.data() + size, &sum, sizeof sum);
  try {
    const auto ck = gq::train::parse_checkpoint(bytes, "fuzz.ckpt");
    const auto& h = ck.header;
    FUZZ_CHECK(h.at("step").get<long>() >= 0);
    FUZZ_CHECK(h.at("batch_size").get<int>() >= 1);
    FUZZ_CHECK(!h.at("model").get<std::string>().empty());
    (void)h.at("seed").get<std::uint64_t>();
    (void)h.at("gradqueue").get<bool>();
    std::size_t values = 0;
    for (const auto& [name, v] : ck.sections) values += v.size();
    FUZZ_CHECK(values * sizeof(float) <= size);
  } catch (const gq::Error&) {
  }
  return 0;
}
