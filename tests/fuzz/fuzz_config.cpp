// gq-train's --config file: the input is the file's content, parsed by gq-train's own flag
// definitions and config reader (CLI11 parse_from_stream), validators included. A config error
// or a bad value is a CLI::ParseError, as in gq-train; anything else escaping is a finding. The
// settings are those of the host-only library (the Trainer's own): settings that device code
// declares (Grad Queue, optimizers) and the names models register are not linked in here.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "tests/fuzz/fuzz_check.h"
#include "tools/train/train_flags.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CLI::App app;
  const auto config = gq::train::add_train_flags(app);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  try {
    app.parse_from_stream(in);
    const gq::train::TrainConfig cfg = gq::train::train_config(app);
    // Accepted values are the validated ones.
    FUZZ_CHECK(cfg.batch_size >= 1);
    FUZZ_CHECK(cfg.lr > 0 && cfg.lr == cfg.lr);
    FUZZ_CHECK(cfg.train_subset >= 0 && cfg.max_steps >= 0);
  } catch (const CLI::ParseError& e) {
    (void)config->locate(e.what(), {});
  }
  return 0;
}
