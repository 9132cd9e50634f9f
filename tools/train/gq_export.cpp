// gq-export: a checkpoint's model as a file other frameworks load. Reads nothing but the
// checkpoint (no data).
//   gq-export CHECKPOINT OUTPUT.safetensors   parameters and model state by name
//   gq-export CHECKPOINT OUTPUT.onnx          the inference graph with its weights (the model is
//                                             rebuilt on the device to describe its layers)
// --format onnx|safetensors overrides the output name's extension.
// Exit codes: 0 written; 1 the checkpoint is unreadable or cannot be exported, or the output cannot
// be written (the message says which and why); 4 out of memory; CLI11's for bad arguments (105 a
// bad value, 106 a missing one), as gq-train and gq-eval.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "runtime/output_file.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/checkpoint_model.h"
#include "runtime/train/onnx_export.h"
#include "runtime/train/safetensors_export.h"
#include "tools/train/out_of_memory.h"

namespace {

// The format an output name asks for, or "" for neither extension.
std::string format_of(const std::string& path) {
  if (path.size() > 12 && path.ends_with(".safetensors")) return "safetensors";
  if (path.size() > 5 && path.ends_with(".onnx")) return "onnx";
  return "";
}

std::string export_bytes(const std::string& format, const gq::train::Checkpoint& ck,
                         const std::string& checkpoint) {
  if (format == "safetensors") return gq::train::safetensors_bytes(ck, checkpoint);
  gq::train::CheckpointModel model(ck, checkpoint, /*batch=*/1);
  return gq::train::onnx_bytes(model, ck.header.value("step", 0L));
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint, output, format;
  CLI::App app{
      "gq-export: write a checkpoint's model as safetensors (parameters and state such as "
      "BatchNorm's running statistics, by name: PyTorch, JAX and Hugging Face tools load it) or "
      "as ONNX (the inference graph: onnxruntime and serving stacks run it)"};
  app.add_option("checkpoint", checkpoint, "checkpoint written by gq-train")->required();
  app.add_option("output", output, "the file to write (.safetensors or .onnx)")->required();
  app.add_option("--format", format, "onnx or safetensors (default: from the output's extension)")
      ->check(CLI::IsMember({"onnx", "safetensors"}));
  try {
    app.parse(argc, argv);
    if (format.empty()) format = format_of(output);
    if (format.empty())
      throw CLI::ValidationError("output", "expected a file name ending in .safetensors or "
                                           ".onnx (or --format), found '" + output + "'");
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  gq::tools::on_out_of_memory_say("gq-export", "reading the checkpoint and building its model");
  try {
    const gq::train::Checkpoint ck = gq::train::read_checkpoint(checkpoint);
    const std::string bytes = export_bytes(format, ck, checkpoint);
    gq::write_file_atomically(output, bytes, format + " file");
    fmt::print("wrote {} ({}, step {}, {}, {:.1f} MiB)\n", output, ck.header.value("model", "?"),
               ck.header.value("step", 0L), format, bytes.size() / 1048576.0);
    return 0;
  } catch (const std::exception& e) {
    gq::tools::exit_if_out_of_memory(e);  // exit 4
    std::fprintf(stderr, "gq-export: %s\n", e.what());
    return 1;
  }
}
