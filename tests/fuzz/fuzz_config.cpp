// gq-train's --config file: the input is the file's content, parsed by gq-train's own flag
// definitions and config reader (CLI11 parse_from_stream), validators included. A config error
// or a bad value is a CLI::ParseError, as in gq-train; anything else escaping is a finding.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "tests/fuzz/fuzz_check.h"
#include "tools/train/train_flags.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CLI::App app;
  gq::train::TrainFlags flags;
  const auto config = gq::train::add_train_flags(app, flags);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    app.parse_from_stream(in);
    // Accepted values are the validated ones.
    FUZZ_CHECK(flags.cfg.batch_size >= 1);
    FUZZ_CHECK(flags.cfg.lr > 0 && flags.cfg.lr == flags.cfg.lr);
    FUZZ_CHECK(flags.cfg.train_subset >= 0 && flags.cfg.max_steps >= 0);
  } catch (const CLI::ParseError& e) {
    (void)config->locate(e.what(), {});
  }
  return 0;
}
