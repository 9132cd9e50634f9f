// gq-export: a checkpoint's model as a file other frameworks load. Reads nothing but the
// checkpoint (no data, no device).
//   gq-export CHECKPOINT OUTPUT.safetensors
// Exit codes: 0 written; 1 the checkpoint is unreadable or cannot be exported, or the output cannot
// be written (the message says which and why); CLI11's for bad arguments (105 a bad value, 106 a
// missing one), as gq-train and gq-eval.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "runtime/output_file.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/safetensors_export.h"

int main(int argc, char** argv) {
  std::string checkpoint, output;
  CLI::App app{
      "gq-export: write a checkpoint's model (parameters and state such as BatchNorm's running "
      "statistics, by name) as safetensors, which PyTorch, JAX and Hugging Face tools load"};
  app.add_option("checkpoint", checkpoint, "checkpoint written by gq-train")->required();
  app.add_option("output", output, "the file to write (.safetensors)")
      ->required()
      ->check([](const std::string& path) -> std::string {
        return path.size() > 12 && path.ends_with(".safetensors")
                   ? ""
                   : "expected a file name ending in .safetensors, found '" + path + "'";
      });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    const gq::train::Checkpoint ck = gq::train::read_checkpoint(checkpoint);
    const std::string bytes = gq::train::safetensors_bytes(ck, checkpoint);
    gq::write_file_atomically(output, bytes, "safetensors file");
    fmt::print("wrote {} ({}, step {}, {:.1f} MiB)\n", output, ck.header.value("model", "?"),
               ck.header.value("step", 0L), bytes.size() / 1048576.0);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gq-export: %s\n", e.what());
    return 1;
  }
}
