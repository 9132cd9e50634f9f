// One Reuters-21578 SGML file through the real parser, then the text of every document through
// the entity decoder and the tokenizer (what the loader does next).
#include <cstddef>
#include <cstdint>
#include <span>

#include "datasets/reuters.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto docs = gq::data::parse_reuters_sgml(std::span(data, size), "fuzz/reut2-000.sgm");
    FUZZ_CHECK(!docs.empty());
    for (const auto& d : docs) {
      FUZZ_CHECK(d.newid > 0);
      FUZZ_CHECK(d.offset >= 0 && static_cast<std::size_t>(d.offset) < size);
      for (const auto& t : gq::data::tokenize_reuters(d.text)) FUZZ_CHECK(t.size() >= 2);
    }
  } catch (const gq::data::DataError&) {
  }
  return 0;
}
