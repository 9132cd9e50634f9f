// gq-eval: loads a gq-train checkpoint and reports test accuracy, per-class accuracy and the
// confusion matrix, as text or (--json) as one JSON object. Exit codes: 0 done; 1 an error (a bad
// or non-finite checkpoint); 3 a data error; 4 out of memory; 103..109 a bad command line.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "runtime/error.h"
#include "runtime/output_file.h"
#include "runtime/host_threads.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/settings.h"
#include "runtime/train/trainer.h"
#include "tools/train/out_of_memory.h"

namespace {

struct Report {
  std::string checkpoint, model, dataset;
  long step = 0;
  std::vector<std::string> classes;
  gq::train::EvalResult result;
  std::int64_t cell(int true_class, int predicted) const {
    return result.confusion[static_cast<std::size_t>(true_class) * classes.size() + predicted];
  }
  std::int64_t samples(int c) const {
    std::int64_t row = 0;
    for (std::size_t p = 0; p < classes.size(); ++p) row += cell(c, static_cast<int>(p));
    return row;
  }
};

void print_text(const Report& r) {
  const gq::train::EvalResult& e = r.result;
  const int classes = static_cast<int>(r.classes.size());
  fmt::print("checkpoint  {} ({} on {}, step {})\n", r.checkpoint, r.model, r.dataset, r.step);
  fmt::print("test        {} samples, loss {:.4f}, accuracy {:.2f}%\n", e.n, e.loss,
             100 * e.accuracy);
  if (e.tta_level > 0)
    fmt::print("test (TTA)  level {}: loss {:.4f}, accuracy {:.2f}%\n", e.tta_level, e.tta_loss,
               100 * e.tta_accuracy);
  fmt::print("\n");
  fmt::print("{:<12} {:>8} {:>9}\n", "class", "samples", "accuracy");
  for (int c = 0; c < classes; ++c) {
    const std::int64_t row = r.samples(c);
    fmt::print("{:<12} {:>8} {:>8.2f}%\n", r.classes[c], row,
               row ? 100.0 * r.cell(c, c) / row : 0.0);
  }
  fmt::print("\nconfusion matrix (rows: true class, columns: predicted)\n{:>12}", "");
  for (int p = 0; p < classes; ++p) fmt::print(" {:>6.6}", r.classes[p]);
  fmt::print("\n");
  for (int c = 0; c < classes; ++c) {
    fmt::print("{:<12.12}", r.classes[c]);
    for (int p = 0; p < classes; ++p) fmt::print(" {:>6}", r.cell(c, p));
    fmt::print("\n");
  }
}

// --json: one object on stdout, for scripts and tools/plot.py --confusion. A class without test
// samples has accuracy null.
void print_json(const Report& r) {
  const gq::train::EvalResult& e = r.result;
  const int classes = static_cast<int>(r.classes.size());
  nlohmann::json per_class = nlohmann::json::array(), confusion = nlohmann::json::array();
  for (int c = 0; c < classes; ++c) {
    const std::int64_t row = r.samples(c);
    per_class.push_back({{"class", r.classes[c]},
                         {"samples", row},
                         {"accuracy", row ? nlohmann::json(double(r.cell(c, c)) / row) : nullptr}});
    nlohmann::json counts = nlohmann::json::array();
    for (int p = 0; p < classes; ++p) counts.push_back(r.cell(c, p));
    confusion.push_back(std::move(counts));
  }
  nlohmann::json out{{"checkpoint", r.checkpoint}, {"model", r.model},   {"dataset", r.dataset},
                     {"step", r.step},             {"n", e.n},           {"loss", e.loss},
                     {"accuracy", e.accuracy},     {"classes", r.classes}, {"per_class", per_class},
                     {"confusion", confusion}};
  if (e.tta_level > 0)
    out["tta"] = {{"level", e.tta_level}, {"loss", e.tta_loss}, {"accuracy", e.tta_accuracy}};
  fmt::print("{}\n", out.dump(2));
}

// NumPy's .npy format (version 1.0): float32 little-endian, C order, shape (n, classes); what
// numpy.load reads (tests/tools/test_export.sh compares it with onnxruntime's logits).
std::string npy_bytes(const std::vector<float>& values, std::size_t rows, std::size_t cols) {
  std::string header = fmt::format(
      "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  header.append(63 - (10 + header.size()) % 64, ' ');  // the data starts 64-byte aligned
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return out;
}

// Reads the checkpoint once (a live run may prune it, --keep-checkpoints, right after) and
// evaluates its model on the test split.
Report evaluate(const std::string& checkpoint, const std::string& data_dir, int test_subset,
                int tta_level) {
  gq::train::Checkpoint ck = gq::train::read_checkpoint(checkpoint);  // fields validated
  const auto& header = ck.header;
  gq::train::TrainConfig cfg;
  cfg.model = header.at("model").get<std::string>();
  cfg.dataset = header.at("dataset").get<std::string>();
  cfg.batch_size = header.at("batch_size").get<int>();
  cfg.optimizer = header.at("optimizer").get<std::string>();
  cfg.train_subset = header.value("train_subset", 0);
  cfg.data_dir = data_dir;
  cfg.test_subset = test_subset;
  cfg.tta_level = tta_level;
  cfg.quiet = true;
  gq::train::Trainer trainer(cfg);
  trainer.load(ck, checkpoint, /*model_only=*/true);
  // A model of NaNs would "evaluate" to chance accuracy with a NaN loss: load() refuses any
  // non-finite value, naming the section.
  return {checkpoint, cfg.model, cfg.dataset, header.at("step").get<long>(),
          trainer.test_set().class_names, trainer.evaluate_with_tta()};
}

}  // namespace

int main(int argc, char** argv) {
  gq::prefer_passive_openmp(argv);
  std::string checkpoint, data_dir;
  int test_subset = 0, tta_level = 0;
  bool json = false;
  std::string logits_path;
  CLI::App app{"gq-eval: test accuracy, per-class accuracy and confusion matrix of a checkpoint"};
  app.add_option("checkpoint", checkpoint, "checkpoint written by gq-train")->required();
  app.add_option("--data-dir", data_dir,
                 "dataset root (default: $GQ_DATA_DIR, else ../shared/data)");
  app.add_option("--test-subset", test_subset, "evaluate the first N test samples (0: all)")
      ->check(CLI::Validator(
          [](std::string& text) { return gq::train::check_integer(text, 0, INT_MAX); },
          gq::train::integer_range(0, INT_MAX)));
  app.add_option("--tta-level", tta_level,
                 "also evaluate with test-time augmentation: 1 mirror, 2 mirror and +-1 pixel "
                 "translations (airbench94)")
      ->check(CLI::Validator([](std::string& text) { return gq::train::check_integer(text, 0, 2); },
                             "0..2"));
  app.add_flag("--json", json,
               "print one JSON object (accuracy, loss, n, per-class accuracy, confusion matrix, "
               "TTA) instead of the text report");
  app.add_option("--logits", logits_path,
                 "also write the test samples' logits (without TTA) to this file as a NumPy .npy "
                 "array [n, classes], for comparing with another runtime (an ONNX export)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  gq::tools::on_out_of_memory_say("gq-eval", "reading the checkpoint and the data, and evaluating");
  try {
    const Report report = evaluate(checkpoint, data_dir, test_subset, tta_level);
    if (!logits_path.empty())
      gq::write_file_atomically(
          logits_path, npy_bytes(report.result.logits, report.result.n, report.classes.size()),
          "logits file");
    if (json)
      print_json(report);
    else
      print_text(report);
    return 0;
  } catch (const gq::data::DataError& e) {
    std::fprintf(stderr, "gq-eval: data error: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    gq::tools::exit_if_out_of_memory(e);  // exit 4
    std::fprintf(stderr, "gq-eval: %s\n", e.what());
    return 1;
  }
}
