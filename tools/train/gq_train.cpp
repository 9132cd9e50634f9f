// gq-train: trains a model from the zoo on a dataset, on the GPU or the CPU emulator.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "datasets/dataset.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/host_threads.h"
#include "tools/train/trainer.h"

int main(int argc, char** argv) {
  gq::prefer_passive_openmp(argv);
  gq::train::TrainConfig cfg;
  std::string data_dir, metrics, ckpt_dir, resume;
  CLI::App app{
      "gq-train: train a CNN with gradqueue (GPU when built for it, else the CPU emulator)"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // last one wins
  // Any flag may also come from a TOML file: `batch-size = 256`, `gradqueue = true`; flags given
  // on the command line override it.
  app.set_config("--config", "", "read flags from this TOML file (key = value per line)");
  app.allow_config_extras(false);  // an unknown key in the file is an error, not ignored
  app.add_option("--model", cfg.model, "paper-cnn | airbench | mnist-cnn | mlp")
      ->capture_default_str();
  app.add_option("--dataset", cfg.dataset,
                 "cifar10 | mnist | fashion-mnist | reuters (Reuters-21578, bag of words)")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir,
                 "dataset root (default: $GQ_DATA_DIR, else ../shared/data)");
  app.add_option("--epochs", cfg.epochs, "epochs")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-steps", cfg.max_steps, "stop after this many steps (0: no cap)")
      ->capture_default_str();
  app.add_option("--batch-size", cfg.batch_size, "batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", cfg.lr, "peak learning rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--schedule", cfg.schedule, "constant | step | cosine | onecycle")
      ->capture_default_str();
  app.add_option("--warmup", cfg.warmup_fraction, "warm-up fraction of all steps")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--optimizer", cfg.optimizer, "sgd | momentum | nesterov | adamw")
      ->capture_default_str();
  app.add_option("--momentum", cfg.momentum, "momentum")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--weight-decay", cfg.weight_decay, "weight decay (conv/linear weights only)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--label-smoothing", cfg.label_smoothing, "label smoothing")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--clip-norm", cfg.clip_norm, "clip the global gradient norm (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", cfg.seed, "run seed: init, shuffling, augmentation, dropout")
      ->capture_default_str();
  app.add_option("--device", cfg.device, "auto | cuda | cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  app.add_option("--train-subset", cfg.train_subset, "use the first N training samples (0: all)")
      ->capture_default_str();
  app.add_option("--test-subset", cfg.test_subset, "use the first N test samples (0: all)")
      ->capture_default_str();
  app.add_flag("!--no-augment", cfg.augment, "disable random crop and flip");
  app.add_option("--metrics", metrics, "write JSONL metrics to this file");
  app.add_option("--checkpoint-dir", ckpt_dir, "write checkpoints here");
  app.add_option("--checkpoint-every", cfg.checkpoint_every, "checkpoint every N steps")
      ->capture_default_str();
  app.add_option("--resume", resume, "resume from this checkpoint");
  app.add_option("--log-every", cfg.log_every, "progress line every N steps")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--quiet", cfg.quiet, "only errors");
  // Grad Queue (DESIGN §3).
  std::string gq_clusters = "auto", gq_scarcity = "powtanh", gq_sigma = "cluster",
              gq_granularity = "element", gq_weight = "size", gq_renorm = "on";
  app.add_flag("--gradqueue", cfg.gradqueue, "train with Grad Queue on top of --optimizer");
  app.add_option("--gq-clusters", gq_clusters,
                 "k-means clusters per batch: auto (batch/128, 1..32) or N")
      ->capture_default_str();
  app.add_option("--gq-kmeans-iters", cfg.gq.kmeans_iters, "Lloyd iterations at most")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--gq-qmin", cfg.gq.qmin, "queue length floor (and warm-up)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--gq-qmax", cfg.gq.qmax, "queue capacity")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--gq-qlen-init", cfg.gq.qlen_init, "initial queue length (0: qmin)")
      ->capture_default_str();
  app.add_flag("--gq-fixed-qlen", cfg.gq.fixed_qlen, "keep the queue length fixed (no loss rule)");
  app.add_option("--gq-rho", cfg.gq.scarcity.rho, "bound of the scarcity weight")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e6));
  app.add_option("--gq-scarcity", gq_scarcity, "powtanh | clip | chebyshev | none")
      ->capture_default_str();
  app.add_option("--gq-sigma-scale", gq_sigma, "cluster | batch")->capture_default_str();
  app.add_option("--gq-granularity", gq_granularity, "element | cluster")->capture_default_str();
  app.add_option("--gq-cluster-weight", gq_weight, "size | uniform")->capture_default_str();
  app.add_option("--gq-renorm", gq_renorm, "on | off: rescale G* to the batch gradient's norm")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--gq-loss-ema", cfg.gq.loss_ema, "loss EMA factor of the length rule")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999999));
  app.add_option("--gq-tol", cfg.gq.tol, "relative loss change that moves the length")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999999));
  app.add_option("--gq-features", cfg.gq.features, "penultimate | input")->capture_default_str();
  app.add_option("--profile", cfg.profile_steps,
                 "profile N steps after 5 warm-up steps between cudaProfilerStart/Stop, then exit "
                 "(see docs/PROFILING.md)")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  cfg.data_dir = data_dir;
  try {
    cfg.gq.clusters = gq_clusters == "auto" ? 0 : std::stoi(gq_clusters);
  } catch (const std::exception&) {
    std::fprintf(stderr, "gq-train: --gq-clusters '%s': expected auto or a positive number\n",
                 gq_clusters.c_str());
    return 2;
  }
  cfg.metrics_path = metrics;
  cfg.checkpoint_dir = ckpt_dir;
  cfg.resume = resume;
  try {
    if (cfg.device == "cuda" && !gq::built_for_gpu())
      GQ_FAIL(
          "--device cuda: this binary was built for the CPU emulator; rebuild with "
          "GQ_CUDA=ON ./tools/setup.sh on a machine with a GPU");
    if (cfg.device == "cpu" && gq::built_for_gpu())
      GQ_FAIL(
          "--device cpu: this binary was built for the GPU; use an emulator build "
          "(GQ_CUDA=OFF ./tools/setup.sh)");
    cfg.gq.scarcity.family = gq::train::parse_scarcity(gq_scarcity);
    cfg.gq.scarcity.sigma_scale = gq::train::parse_sigma_scale(gq_sigma);
    cfg.gq.scarcity.granularity = gq::train::parse_granularity(gq_granularity);
    cfg.gq.scarcity.cluster_weight = gq::train::parse_cluster_weight(gq_weight);
    cfg.gq.scarcity.renorm = gq_renorm == "on";
    gq::train::Trainer trainer(cfg);
    if (cfg.profile_steps > 0) {
      trainer.run_profile();
      return 0;
    }
    const auto result = trainer.run();
    fmt::print("final test accuracy {:.2f}% (loss {:.4f}, {} samples)\n", 100 * result.accuracy,
               result.loss, result.n);
    return 0;
  } catch (const gq::data::DataError& e) {
    std::fprintf(stderr, "gq-train: data error: %s\n", e.what());
    return 3;
  } catch (const gq::OutOfMemory& e) {
    std::fprintf(stderr, "gq-train: %s\n", e.what());
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gq-train: %s\n", e.what());
    return 1;
  }
}
