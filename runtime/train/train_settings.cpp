// The Trainer's own settings: what it trains on, for how long, how it writes its outputs. The
// components declare theirs (optimizers/*.cpp, grad_queue.cpp); models, datasets, schedules and
// optimizers register the names --model, --dataset, --schedule and --optimizer accept.
#include <climits>
#include <cmath>
#include <cstdint>

#include "runtime/train/settings.h"

namespace gq::train {
namespace {

// Below: model, data, schedule, optimizer; outputs; execution.
std::vector<Setting> core_settings();
std::vector<Setting> output_settings();
std::vector<Setting> execution_settings();

// --epochs may be fractional (airbench94: 9.9). Recorded as an integer when it is one, so the
// checkpoints of whole-epoch runs record what they did before.
Setting epochs_setting() {
  Setting s = real({"epochs", "Schedule",
                    "epochs; fractional ones run ceil(epochs x steps per epoch) steps",
                    ResumeRule::must_match},
                   GQ_FIELD(epochs), 0, 1e6);
  s.value = [](const TrainConfig& c) {
    const double e = c.epochs;
    if (e == std::floor(e) && e <= 1e15) return nlohmann::json(static_cast<std::int64_t>(e));
    return nlohmann::json(e);
  };
  s.default_value = s.value(defaults());
  return s;
}

// The techniques of airbench94 the Trainer applies (each usable alone): augmentation, the frozen
// stem, the lookahead EMA, test-time augmentation. Newer settings: recorded only when set.
std::vector<Setting> technique_settings() {
  constexpr auto kWhenSet = ResumeRule::must_match_when_set;  // older records stay valid
  constexpr std::uint64_t kInt = INT_MAX;
  const std::string run = "Run", opt = "Optimizer", out = "Outputs";
  return {
      integer({"crop-pad", run, "random translation by up to N pixels each way (images)", kWhenSet},
              GQ_FIELD(crop_pad), 0, 16),
      choice<std::string>({"pad-mode", run,
                           "what a translation shifts in: zeros, or the image mirrored about its "
                           "edge (PyTorch's F.pad 'reflect')",
                           kWhenSet},
                          GQ_FIELD(pad_mode), {{"zero", "zero"}, {"reflect", "reflect"}}),
      choice<std::string>({"flip", run,
                           "horizontal flip: a coin per image per batch, or airbench94's "
                           "alternating flip (a coin per image once, then every other epoch)",
                           kWhenSet},
                          GQ_FIELD(flip), {{"coin", "coin"}, {"alternating", "alternating"}}),
      integer({"freeze-stem-after-epochs", opt,
               "the first layer's parameters stop training after N epochs: no step, momentum or "
               "decay (airbench94's whitening bias: 3; 0: never)",
               kWhenSet, "optimizer", {"sgd", "momentum", "nesterov"}},
              GQ_FIELD(freeze_stem_after_epochs), 0, kInt),
      flag({"lookahead-ema", opt,
            "airbench94's lookahead EMA of the parameters and normalisation statistics: every "
            "--lookahead-every steps it moves toward the weights (decay 0.95^5 (step/total)^3) "
            "and is copied into them; the weights after the last step are the EMA's",
            kWhenSet},
           GQ_FIELD(lookahead_ema)),
      integer({"lookahead-every", opt, "steps between lookahead EMA updates", kWhenSet,
               "lookahead-ema"},
              GQ_FIELD(lookahead_every), 1, 1000000),
      integer({"tta-level", out,
               "test-time augmentation of the final evaluation, reported next to the plain "
               "accuracy: 0 none, 1 mirror, 2 mirror and +-1 pixel translations (airbench94)"},
              GQ_FIELD(tta_level), 0, 2),
      flag({"tta-every-eval", out,
            "test-time augmentation at every evaluation (--eval-every, epoch ends), not only the "
            "final one: the steps to a TTA accuracy (costs the views' passes each time)",
            ResumeRule::may_change, "tta-level"},
           GQ_FIELD(tta_every_eval)),
  };
}

}  // namespace

std::vector<Setting> train_settings() {
  std::vector<Setting> all;
  for (auto part : {core_settings, output_settings, execution_settings, technique_settings})
    for (Setting& s : part()) all.push_back(std::move(s));
  return all;
}

namespace {

std::vector<Setting> core_settings() {
  constexpr auto kMatch = ResumeRule::must_match;
  constexpr std::uint64_t kInt = INT_MAX, kU64 = UINT64_MAX;
  const std::string run = "Run", schedule = "Schedule", opt = "Optimizer";
  return {
      registered({"model", run, "the model (models/zoo.cpp)", kMatch}, GQ_FIELD(model), "model"),
      registered({"dataset", run, "the dataset; reuters: Reuters-21578, bag of words", kMatch},
                 GQ_FIELD(dataset), "dataset"),
      path({"data-dir", run, "dataset root (default: $GQ_DATA_DIR, else ../shared/data)"},
           GQ_FIELD(data_dir)),
      integer({"seed", run, "run seed: init, shuffling, augmentation, dropout", kMatch},
              GQ_FIELD(seed), 0, kU64),
      integer({"train-subset", run, "use the first N training samples (0: all)", kMatch},
              GQ_FIELD(train_subset), 0, kInt),
      integer({"test-subset", run, "use the first N test samples (0: all)"},
              GQ_FIELD(test_subset), 0, kInt),
      integer({"val-size", run,
               "hold out the last N training samples (after --train-subset) as a validation "
               "split: never trained on, evaluated with the test split (0: none)",
               ResumeRule::must_match_when_set},
              GQ_FIELD(val_size), 0, kInt),
      choice<std::string>({"val-pick", run,
                           "which samples --val-size holds out: the last N, or the last "
                           "N / classes of each class (a validation split with the uniform class "
                           "mix, whatever order the file lists its samples in)",
                           ResumeRule::must_match_when_set, "val-size"},
                          GQ_FIELD(val_pick), {{"tail", "tail"}, {"balanced", "balanced"}}),
      flag({"no-augment", run, "disable random crop and flip", kMatch}, GQ_FIELD(augment),
           /*inverted=*/true),
      epochs_setting(),
      integer({"max-steps", schedule, "stop after this many steps (0: no cap)", kMatch},
              GQ_FIELD(max_steps), 0, kInt),
      integer({"batch-size", schedule, "batch size", kMatch}, GQ_FIELD(batch_size), 1, kInt),
      real({"lr", schedule, "peak learning rate", kMatch}, GQ_FIELD(lr), 0, 1e6, true),
      registered({"schedule", schedule, "learning-rate schedule", kMatch}, GQ_FIELD(schedule),
                 "schedule"),
      real({"warmup", schedule, "warm-up fraction of all steps", kMatch},
           GQ_FIELD(warmup_fraction), 0, 1),
      registered({"optimizer", opt, "the base optimizer (runtime/train/optimizers)", kMatch},
                 GQ_FIELD(optimizer), "optimizer"),
      real({"momentum", opt, "momentum (momentum, nesterov, lars)", kMatch},
           GQ_FIELD(optimizer_settings.momentum), 0, 1),
      real({"weight-decay", opt, "weight decay (conv/linear weights only)", kMatch},
           GQ_FIELD(optimizer_settings.weight_decay), 0, 1e6),
      real({"label-smoothing", opt, "label smoothing", kMatch}, GQ_FIELD(label_smoothing), 0, 1),
      real({"clip-norm", opt, "clip the global gradient norm (0: off)", kMatch},
           GQ_FIELD(clip_norm), 0, 1e6),
  };
}

// Where a run writes and what it resumes from.
std::vector<Setting> output_settings() {
  constexpr std::uint64_t kInt = INT_MAX;
  const std::string out = "Outputs";
  return {
      path({"metrics", out,
            "write JSONL metrics to this file (on --resume: records after the checkpoint's step "
            "are dropped, then new ones appended)",
            ResumeRule::may_change, "profile", {"0"}},
           GQ_FIELD(metrics_path)),
      path({"tensorboard", out,
            "write TensorBoard event files of the same records into this folder (a new file per "
            "run; a resume hides the events past its checkpoint's step)",
            ResumeRule::may_change, "profile", {"0"}},
           GQ_FIELD(tensorboard_dir)),
      path({"checkpoint-dir", out,
            "write checkpoints here (checked before training; also on SIGINT/SIGTERM)"},
           GQ_FIELD(checkpoint_dir)),
      integer({"checkpoint-every", out, "checkpoint every N steps (0: at the end and on a stop only)",
               ResumeRule::may_change, "checkpoint-dir"},
              GQ_FIELD(checkpoint_every), 0, kInt),
      integer({"keep-checkpoints", out,
               "keep the newest N step*.ckpt in --checkpoint-dir, delete older ones (0: keep all)",
               ResumeRule::may_change, "checkpoint-dir"},
              GQ_FIELD(keep_checkpoints), 0, kInt),
      flag({"overwrite", out,
            "start a new run in a --checkpoint-dir that holds another run's checkpoints, deleting "
            "them (without it such a folder is refused)",
            ResumeRule::may_change, "checkpoint-dir"},
           GQ_FIELD(overwrite)),
      path({"resume", out, "resume from this checkpoint"}, GQ_FIELD(resume)),
      flag({"extend", out,
            "with --resume: continue a run past the length it was started with (a larger --epochs "
            "or --max-steps); the learning-rate and EMA schedules are stretched over the new "
            "length from the checkpoint's step on",
            ResumeRule::may_change, "resume"},
           GQ_FIELD(extend)),
      path({"init-from", out,
            "start from the weights of this checkpoint (parameters and model state such as "
            "BatchNorm statistics; a model with the same tensors): fine-tuning, with a fresh "
            "optimizer and schedule"},
           GQ_FIELD(init_from)),
      integer({"log-every", out, "progress line every N steps"}, GQ_FIELD(log_every), 1, kInt),
      integer({"eval-every", out,
               "evaluate every N steps as well as at each epoch's end (0: epoch ends only)"},
              GQ_FIELD(eval_every), 0, kInt),
      flag({"quiet", out, "only errors"}, GQ_FIELD(quiet)),
      integer({"profile", out,
               "profile N steps after 5 warm-up steps between cudaProfilerStart/Stop, then exit "
               "(see docs/PROFILING.md)"},
              GQ_FIELD(profile_steps), 0, kInt),
  };
}

std::vector<Setting> execution_settings() {
  const std::string exec = "Execution";
  return {
      choice<std::string>({"device", exec, "where to run: the build's device, or insist on one"},
                          GQ_FIELD(device), {{"auto", "auto"}, {"cuda", "cuda"}, {"cpu", "cpu"}}),
      choice<std::string>({"cuda-graph", exec,
                           "capture the training step once as a CUDA graph and replay it (the "
                           "same bits as direct launches; auto: on except where the step cannot "
                           "be captured, e.g. under mpirun, and the start-up lines say why)"},
                          GQ_FIELD(cuda_graph), {{"auto", "auto"}, {"on", "on"}, {"off", "off"}}),
      choice<Precision>({"precision", exec,
                         "arithmetic of GEMMs and convolutions (forward and both backward "
                         "passes): fp32, or bf16: inputs rounded to bfloat16, products "
                         "accumulated in fp32 (--activations: how tensors are stored)",
                         ResumeRule::must_match_when_set},
                        GQ_FIELD(precision),
                        {{"fp32", Precision::fp32}, {"bf16", Precision::bf16}}),
      choice<Precision>({"activations", exec,
                         "how activations and their gradients are stored between layers: fp32, "
                         "or bf16 (half the memory; needs --precision bf16; a layer without bf16 "
                         "passes, named at start-up, runs in fp32 between a widening and a "
                         "rounding; Grad Queue reads widened copies)",
                         ResumeRule::must_match_when_set},
                        GQ_FIELD(activations),
                        {{"fp32", Precision::fp32}, {"bf16", Precision::bf16}}),
      real({"comm-timeout", exec,
            "under mpirun: seconds a rank waits for the others in one collective before the job "
            "ends, naming the ranks that do not answer (0: wait for ever)"},
           GQ_FIELD(comm_timeout), 0, 1e6),
  };
}

}  // namespace

}  // namespace gq::train
