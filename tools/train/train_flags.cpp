#include "tools/train/train_flags.h"

#include <climits>
#include <cstdint>

#include "kernels/kmeans.h"
#include "tools/train/flag_checks.h"

namespace gq::train {

std::shared_ptr<ConfigFile> add_train_flags(CLI::App& app, TrainFlags& f) {
  TrainConfig& cfg = f.cfg;
  const auto count = integer_in(0, INT_MAX);     // 0 has a meaning (off, all, none)
  const auto positive = integer_in(1, INT_MAX);  // at least one
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // last one wins
  // Any flag may also come from a TOML file: `batch-size = 256`, `gradqueue = true`; flags given
  // on the command line override it. The file is checked when the flag is parsed, before CLI11
  // opens it (trigger_on_parse), so a FIFO or /dev/zero is refused instead of read.
  auto config = std::make_shared<ConfigFile>(
      [&app](const std::string& key) { return app.get_option_no_throw("--" + key) != nullptr; });
  app.config_formatter(config);
  app.set_config("--config", "", "read flags from this TOML file (key = value per line)")
      ->trigger_on_parse()
      ->check(
          CLI::Validator([config](std::string& file) { return config->check_file(file); }, "FILE"));
  app.allow_config_extras(false);  // an unknown key in the file is an error, not ignored
  app.add_option("--model", cfg.model, "paper-cnn | airbench | mnist-cnn | mlp")
      ->capture_default_str();
  app.add_option("--dataset", cfg.dataset,
                 "cifar10 | mnist | fashion-mnist | reuters (Reuters-21578, bag of words)")
      ->capture_default_str();
  app.add_option("--data-dir", f.data_dir,
                 "dataset root (default: $GQ_DATA_DIR, else ../shared/data)");
  app.add_option("--epochs", cfg.epochs, "epochs")->capture_default_str()->check(count);
  app.add_option("--max-steps", cfg.max_steps, "stop after this many steps (0: no cap)")
      ->capture_default_str()
      ->check(count);
  app.add_option("--batch-size", cfg.batch_size, "batch size")
      ->capture_default_str()
      ->check(positive);
  app.add_option("--lr", cfg.lr, "peak learning rate")
      ->capture_default_str()
      ->check(real_in(0, 1e6, /*lo_open=*/true));
  app.add_option("--schedule", cfg.schedule, "constant | step | cosine | onecycle")
      ->capture_default_str();
  app.add_option("--warmup", cfg.warmup_fraction, "warm-up fraction of all steps")
      ->capture_default_str()
      ->check(real_in(0, 1));
  app.add_option("--optimizer", cfg.optimizer, "sgd | momentum | nesterov | adamw | lars")
      ->capture_default_str();
  app.add_option("--momentum", cfg.optimizer_settings.momentum, "momentum (momentum, nesterov, lars)")
      ->capture_default_str()
      ->check(real_in(0, 1));
  app.add_option("--weight-decay", cfg.optimizer_settings.weight_decay,
                 "weight decay (conv/linear weights only)")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  app.add_option("--lars-eta", cfg.optimizer_settings.lars_eta,
                 "LARS trust coefficient: a weight tensor steps by eta ||w|| / (||g|| + wd ||w||)")
      ->capture_default_str()
      ->check(real_in(0, 1e6, /*lo_open=*/true));
  app.add_option("--label-smoothing", cfg.label_smoothing, "label smoothing")
      ->capture_default_str()
      ->check(real_in(0, 1));
  app.add_option("--clip-norm", cfg.clip_norm, "clip the global gradient norm (0: off)")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  app.add_option("--seed", cfg.seed, "run seed: init, shuffling, augmentation, dropout")
      ->capture_default_str()
      ->check(integer_in(0, UINT64_MAX));
  app.add_option("--device", cfg.device, "auto | cuda | cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  app.add_option("--train-subset", cfg.train_subset, "use the first N training samples (0: all)")
      ->capture_default_str()
      ->check(count);
  app.add_option("--test-subset", cfg.test_subset, "use the first N test samples (0: all)")
      ->capture_default_str()
      ->check(count);
  app.add_option("--val-size", cfg.val_size,
                 "hold out the last N training samples (after --train-subset) as a validation "
                 "split: never trained on, evaluated with the test split (0: none)")
      ->capture_default_str()
      ->check(count);
  app.add_option("--eval-every", cfg.eval_every,
                 "evaluate every N steps as well as at each epoch's end (0: epoch ends only)")
      ->capture_default_str()
      ->check(count);
  app.add_flag("!--no-augment", cfg.augment, "disable random crop and flip");
  app.add_option("--metrics", f.metrics,
                 "write JSONL metrics to this file (on --resume: records after the checkpoint's "
                 "step are dropped, then new ones appended)");
  app.add_option("--checkpoint-dir", f.checkpoint_dir,
                 "write checkpoints here (checked before training; also on SIGINT/SIGTERM)");
  app.add_option("--checkpoint-every", cfg.checkpoint_every,
                 "checkpoint every N steps (0: at the end and on a stop only)")
      ->capture_default_str()
      ->check(count);
  app.add_option(
         "--keep-checkpoints", cfg.keep_checkpoints,
         "keep the newest N step*.ckpt in --checkpoint-dir, delete older ones (0: keep all)")
      ->capture_default_str()
      ->check(count);
  app.add_option("--resume", f.resume, "resume from this checkpoint");
  app.add_option("--log-every", cfg.log_every, "progress line every N steps")
      ->capture_default_str()
      ->check(positive);
  app.add_flag("--quiet", cfg.quiet, "only errors");
  app.add_option("--cuda-graph", cfg.cuda_graph,
                 "auto | on | off: capture the training step once as a CUDA graph and replay it "
                 "(the same bits as direct launches; auto: on except where the step cannot be "
                 "captured, e.g. under mpirun, and the start-up lines say why)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--comm-timeout", f.comm_timeout,
                 "under mpirun: seconds a rank waits for the others in one collective before "
                 "the job ends, naming the ranks that do not answer (0: wait for ever)")
      ->capture_default_str()
      ->check(real_in(0, 1e6));
  // Grad Queue: docs/GRADQUEUE.md §6 lists every flag's meaning, default and range.
  app.add_flag("--gradqueue", cfg.gradqueue, "train with Grad Queue on top of --optimizer");
  app.add_option("--gq-clusters", f.gq_clusters,
                 "k-means clusters per batch: auto (batch/128, 1..32) or N")
      ->capture_default_str()
      ->check(CLI::Validator(
          [count_ok = integer_in(1, kernels::kKMeansMaxClusters)](std::string& s) mutable {
            if (s == "auto" || count_ok(s).empty()) return std::string();
            return "expected auto or an integer 1.." + std::to_string(kernels::kKMeansMaxClusters) +
                   ", found '" + s + "'";
          },
          "auto|N"));
  app.add_option("--gq-kmeans-iters", cfg.gq.kmeans_iters, "Lloyd iterations at most")
      ->capture_default_str()
      ->check(integer_in(0, 1000));
  app.add_option("--gq-qmin", cfg.gq.qmin, "queue length floor (and warm-up)")
      ->capture_default_str()
      ->check(positive);
  app.add_option("--gq-qmax", cfg.gq.qmax, "queue capacity")
      ->capture_default_str()
      ->check(positive);
  app.add_option("--gq-qlen-init", cfg.gq.qlen_init, "initial queue length (0: qmin)")
      ->capture_default_str()
      ->check(count);
  app.add_flag("--gq-fixed-qlen", cfg.gq.fixed_qlen, "keep the queue length fixed (no loss rule)");
  app.add_option("--gq-rho", cfg.gq.scarcity.rho, "bound of the scarcity weight")
      ->capture_default_str()
      ->check(real_in(1, 1e6));
  app.add_option("--gq-scarcity", f.gq_scarcity, "powtanh | clip | chebyshev | none")
      ->capture_default_str();
  app.add_option("--gq-sigma-scale", f.gq_sigma, "cluster | batch")->capture_default_str();
  app.add_option("--gq-granularity", f.gq_granularity, "element | cluster")->capture_default_str();
  app.add_option("--gq-cluster-weight", f.gq_weight, "size | uniform")->capture_default_str();
  app.add_option("--gq-renorm", f.gq_renorm, "on | off: rescale G* to the batch gradient's norm")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--gq-loss-ema", cfg.gq.loss_ema, "loss EMA factor of the length rule")
      ->capture_default_str()
      ->check(real_in(0, 0.999999));
  app.add_option("--gq-tol", cfg.gq.tol, "relative loss change that moves the length")
      ->capture_default_str()
      ->check(real_in(0, 0.999999));
  app.add_option("--gq-features", cfg.gq.features, "penultimate | input")->capture_default_str();
  app.add_option("--profile", cfg.profile_steps,
                 "profile N steps after 5 warm-up steps between cudaProfilerStart/Stop, then exit "
                 "(see docs/PROFILING.md)")
      ->check(count);
  return config;
}

}  // namespace gq::train
