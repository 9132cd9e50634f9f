// gq-eval: loads a gq-train checkpoint and reports test accuracy, per-class accuracy and the
// confusion matrix. Exit codes: 0 done; 1 an error (a bad or non-finite checkpoint); 3 a data
// error; 4 out of memory; 103..109 a bad command line.
#include <climits>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "datasets/dataset.h"
#include "runtime/error.h"
#include "runtime/host_threads.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/settings.h"
#include "runtime/train/trainer.h"
#include "tools/train/out_of_memory.h"

int main(int argc, char** argv) {
  gq::prefer_passive_openmp(argv);
  std::string checkpoint, data_dir;
  int test_subset = 0, tta_level = 0;
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  gq::tools::on_out_of_memory_say("gq-eval", "reading the checkpoint and the data, and evaluating");
  try {
    // Read once: a live run's checkpoint may be pruned (--keep-checkpoints) right after.
    const gq::train::Checkpoint ck = gq::train::read_checkpoint(checkpoint);  // fields validated
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
    const gq::train::EvalResult r = trainer.evaluate_final();
    const auto& names = trainer.test_set().class_names;
    const int classes = static_cast<int>(names.size());
    fmt::print("checkpoint  {} ({} on {}, step {})\n", checkpoint, cfg.model, cfg.dataset,
               header.at("step").get<long>());
    fmt::print("test        {} samples, loss {:.4f}, accuracy {:.2f}%\n", r.n, r.loss,
               100 * r.accuracy);
    if (r.tta_level > 0)
      fmt::print("test (TTA)  level {}: loss {:.4f}, accuracy {:.2f}%\n", r.tta_level, r.tta_loss,
                 100 * r.tta_accuracy);
    fmt::print("\n");
    fmt::print("{:<12} {:>8} {:>9}\n", "class", "samples", "accuracy");
    for (int c = 0; c < classes; ++c) {
      std::int64_t row = 0;
      for (int p = 0; p < classes; ++p) row += r.confusion[c * classes + p];
      fmt::print("{:<12} {:>8} {:>8.2f}%\n", names[c], row,
                 row ? 100.0 * r.confusion[c * classes + c] / row : 0.0);
    }
    fmt::print("\nconfusion matrix (rows: true class, columns: predicted)\n{:>12}", "");
    for (int p = 0; p < classes; ++p) fmt::print(" {:>6.6}", names[p]);
    fmt::print("\n");
    for (int c = 0; c < classes; ++c) {
      fmt::print("{:<12.12}", names[c]);
      for (int p = 0; p < classes; ++p) fmt::print(" {:>6}", r.confusion[c * classes + p]);
      fmt::print("\n");
    }
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
