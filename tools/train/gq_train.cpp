// gq-train: trains a model from the zoo on a dataset, on the GPU or the CPU emulator.
//
// Exit codes: 0 finished; 1 an error (settings, checkpoint, divergence, a failed write); 3 a data
// error; 4 out of (device) memory; 103..110 a bad command line or config file (CLI11's codes: 105
// a bad flag value, 109 an unknown flag, 110 a config file error, 103 a missing config file);
// 129 / 130 / 141 / 143 stopped by SIGHUP / SIGINT / SIGPIPE / SIGTERM (128 + the signal) after
//   writing a checkpoint.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "datasets/dataset.h"
#include "runtime/comm.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/host_threads.h"
#include "tools/train/out_of_memory.h"
#include "tools/train/stop_signal.h"
#include "tools/train/train_flags.h"
#include "runtime/train/trainer.h"

namespace {

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_./=:,+-@%") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// This run's command line with --resume pointing at `checkpoint` (any earlier --resume dropped),
// and the data root it read when that came from $GQ_DATA_DIR.
std::string resume_command(int argc, char** argv, const std::filesystem::path& checkpoint) {
  bool data_dir_flag = false;
  for (int i = 1; i < argc; ++i) data_dir_flag |= std::string(argv[i]).rfind("--data-dir", 0) == 0;
  const char* env = std::getenv("GQ_DATA_DIR");
  std::string cmd = !data_dir_flag && env && *env ? "GQ_DATA_DIR=" + shell_quote(env) + " " : "";
  cmd += shell_quote(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--resume") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--resume=", 0) == 0) continue;
    cmd += " " + shell_quote(a);
  }
  return cmd + " --resume " + shell_quote(checkpoint.string());
}

int report_stop(const gq::train::Stopped& s, bool profiling, int argc, char** argv) {
  const char* name = gq::train::signal_name(s.signal());
  if (s.checkpoint().empty()) {
    fmt::print(stderr, "gq-train: stopped by {} after step {}; {}\n", name, s.step(),
               s.step() == 0 ? "no step was taken, nothing to save"
               : profiling   ? "--profile saves no checkpoint"
                             : "no --checkpoint-dir was given, so nothing was saved");
  } else {
    char cwd[4096];
    fmt::print(stderr,
               "gq-train: stopped by {} after step {}.\ncheckpoint  {}\nto resume, run (from {}):\n"
               "  {}\n",
               name, s.step(), s.checkpoint().string(), getcwd(cwd, sizeof cwd) ? cwd : ".",
               resume_command(argc, argv, s.checkpoint()));
  }
  return 128 + s.signal();
}

void check_device_flag(const std::string& device) {
  if (device == "cuda" && !gq::built_for_gpu())
    GQ_FAIL(
        "--device cuda: this binary was built for the CPU emulator; rebuild with "
        "GQ_CUDA=ON ./tools/setup.sh on a machine with a GPU");
  if (device == "cpu" && gq::built_for_gpu())
    GQ_FAIL(
        "--device cpu: this binary was built for the GPU; use an emulator build "
        "(GQ_CUDA=OFF ./tools/setup.sh)");
}

}  // namespace

int main(int argc, char** argv) {
  gq::tools::on_out_of_memory_say("gq-train", "starting");
  gq::prefer_passive_openmp(argv);
  CLI::App app{
      "gq-train: train a CNN with gradqueue (GPU when built for it, else the CPU emulator)"};
  const auto config = gq::train::add_train_flags(app);
  gq::train::TrainConfig cfg;
  try {
    app.parse(argc, argv);
    cfg = gq::train::train_config(app);  // every value checked before any data is read
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    const std::vector<std::string> args(argv + 1, argv + argc);
    // Where a bad value came from when it was read from the config file; a mistyped flag's
    // nearest name.
    const std::string where = config->locate(e.what(), args) + gq::train::suggest_flag(app, args);
    std::fprintf(stderr, "gq-train: %s%s\nRun gq-train --help for the flags and their ranges.\n",
                 e.what(), where.c_str());
    return e.get_exit_code();
  }
  // Data-parallel under mpirun (one process per GPU); a plain start is one process.
  std::unique_ptr<gq::Communicator> comm;
  try {
    comm = gq::Communicator::world(&argc, &argv);
    comm->set_timeout(cfg.comm_timeout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gq-train: %s\n", e.what());
    return 1;
  }
  // An error one process hits (a bad file, a failed write, a dead peer) ends every process of the
  // job with its exit code, naming the rank, instead of leaving the others waiting in a collective.
  const auto fail = [&](int code, const std::string& what) {
    if (!comm->distributed()) {
      std::fprintf(stderr, "gq-train: %s\n", what.c_str());
      return code;
    }
    std::fprintf(stderr, "gq-train: rank %d of %d: %s\n", comm->rank(), comm->size(),
                 what.c_str());
    comm->abort(code);
  };
  try {
    check_device_flag(cfg.device);
    gq::train::install_stop_handlers();
    gq::tools::on_out_of_memory_say("gq-train", "loading the data and setting up the run");
    gq::train::Trainer trainer(cfg, comm.get());
    gq::tools::on_out_of_memory_say("gq-train", "training");
    if (cfg.profile_steps > 0) {
      trainer.run_profile(gq::train::stop_signal);
      return 0;
    }
    const auto result = trainer.run(gq::train::stop_signal);
    if (comm->rank() == 0)
      fmt::print("final test accuracy {:.2f}% (loss {:.4f}, {} samples){}\n", 100 * result.accuracy,
                 result.loss, result.n,
                 result.tta_level > 0
                     ? fmt::format("; with TTA level {}: {:.2f}% (loss {:.4f})", result.tta_level,
                                   100 * result.tta_accuracy, result.tta_loss)
                     : std::string());
    return 0;
  } catch (const gq::train::Stopped& s) {
    // Every rank stops after the same step (the Trainer agrees on it); rank 0 reports.
    if (comm->rank() != 0) return 128 + s.signal();
    return report_stop(s, cfg.profile_steps > 0, argc, argv);
  } catch (const gq::data::DataError& e) {
    return fail(3, std::string("data error: ") + e.what());
  } catch (const gq::OutOfMemory& e) {
    if (!comm->distributed()) gq::tools::exit_if_out_of_memory(e);  // exit 4 at once
    return fail(4, e.what());
  } catch (const std::bad_alloc& e) {
    if (!comm->distributed()) gq::tools::exit_if_out_of_memory(e);
    return fail(4, "out of host memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
