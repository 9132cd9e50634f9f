// What a training run is told: the settings of gq-train's flags, as the Trainer and Grad Queue
// read them. Plain data, no device code (the flag parser and its fuzzer include it). Each field is
// declared as a setting once, by the component that reads it (runtime/train/settings.h).
#pragma once

#include <any>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/scarcity.h"
#include "runtime/precision.h"

namespace gq::train {

// Values of settings that live with the one component that declares and reads them (--lars-eta:
// optimizers/lars.cpp) instead of in a field here, so that adding one touches that file alone.
class SettingSlots {
 public:
  // The value of `name`; `fallback` (its declared default) until one is set. Reading a config
  // creates the slot, hence const.
  template <class T>
  T& get(const std::string& name, T fallback) const {
    return std::any_cast<T&>(slots_.try_emplace(name, std::move(fallback)).first->second);
  }

 private:
  mutable std::map<std::string, std::any> slots_;
};

// The optimizer's hyper-parameters; each optimizer reads those it uses.
struct OptimizerSettings {
  float momentum = 0.9f;
  float weight_decay = 5e-4f;  // the decayed parameter group only (conv and linear weights)
  // --decay-biases: biases and normalisation parameters take weight_decay too (divided by their
  // learning-rate scale, so that they decay as much per step as the weights).
  bool decay_biases = false;
  float norm_lr_scale = 1.0f;  // --norm-bias-lr-scale: normalisation parameters' lr factor
  // Not a setting: filled by the Trainer from --freeze-stem-after-epochs. These tensors (registry
  // ids) are updated at steps < until_step only (0: always).
  std::vector<int> stem_tensors;
  std::uint64_t stem_until_step = 0;
  SettingSlots slots;  // an optimizer's own settings (--lars-eta)
};

struct GradQueueConfig {
  int clusters = 0;  // 0: auto = clamp(batch / 128, 1, 32)
  int kmeans_iters = 10;
  int qmin = 4, qmax = 32;
  int qlen_init = 0;  // 0: qmin
  bool fixed_qlen = false;
  float loss_ema = 0.9f;
  float tol = 1e-3f;
  std::string features = "penultimate";  // penultimate | input
  kernels::ScarcityOptions scarcity;
  SettingSlots slots;  // options declared in grad_queue.cpp alone
};

struct TrainConfig {
  std::string model = "paper-cnn";
  std::string dataset = "cifar10";
  std::filesystem::path data_dir;  // empty: $GQ_DATA_DIR or ../shared/data
  // Fractional: the run is ceil(epochs * steps per epoch) steps (airbench94: 9.9 epochs).
  double epochs = 1;
  long max_steps = 0;  // 0: no cap
  int batch_size = 128;
  float lr = 0.1f;
  std::string schedule = "onecycle";
  float warmup_fraction = 0.1f;
  std::string optimizer = "nesterov";  // a name of runtime/train/optimizer.cpp's registry
  OptimizerSettings optimizer_settings;
  float label_smoothing = 0.0f;
  float clip_norm = 0.0f;  // 0: off
  std::uint64_t seed = 0;
  std::string device = "auto";
  int train_subset = 0;  // 0: all
  int test_subset = 0;   // 0: all
  int val_size = 0;      // N training samples (after train_subset) held out; 0: none
  std::string val_pick = "tail";  // which: the last N, or "balanced" (the last N/classes per class)
  int eval_every = 0;    // steps between evaluations; 0: at each epoch's end only
  bool augment = true;
  int crop_pad = 4;                // random translation by up to this many pixels
  std::string pad_mode = "zero";   // what a translation shifts in: zero | reflect
  std::string flip = "coin";       // coin (per image per batch) | alternating (airbench94)
  int freeze_stem_after_epochs = 0;  // the first layer's parameters stop training (0: never)
  bool lookahead_ema = false;      // airbench94's lookahead EMA (kernels/weight_average.h)
  int lookahead_every = 5;         // steps between its updates
  int tta_level = 0;               // test-time augmentation of the final evaluation: 0, 1, 2
  bool tta_every_eval = false;     // and at every evaluation, not only the final one
  int whiten_images = 5000;        // training images whose patches set a whitening stem
  double whiten_eps = 5e-4;        // added to the patch covariance's eigenvalues
  std::string recipe = "none";     // a named set of settings (runtime/train/recipes.h)
  std::filesystem::path metrics_path;
  std::filesystem::path tensorboard_dir;  // event files (runtime/train/tensorboard_writer.h)
  std::filesystem::path checkpoint_dir;
  int checkpoint_every = 0;  // steps; 0: only at the end (and on a stop) when checkpoint_dir is set
  std::filesystem::path init_from;  // start from these weights (fine-tuning); not with resume
  bool extend = false;      // a resume may lengthen the run (--epochs, --max-steps)
  bool overwrite = false;    // a new run may delete the checkpoints of another in checkpoint_dir
  int keep_checkpoints = 3;  // newest step*.ckpt kept in checkpoint_dir; 0: all
  std::filesystem::path resume;
  int log_every = 20;
  int profile_steps = 0;  // > 0: warm up, run this many steps inside profiler_start/stop, exit
  // The step as CUDA graphs (Trainer): auto (on where the step can be captured), on, off. Not a
  // run setting: the results are the same bits either way, so a resume may change it.
  std::string cuda_graph = "auto";
  // The arithmetic of GEMMs and convolutions: fp32, or bf16 inputs with fp32 accumulation
  // (runtime/precision.h).
  Precision precision = Precision::fp32;
  // How the model stores its activations and their gradients between layers (--activations;
  // models/sequential_bf16.cpp); bf16 needs precision bf16.
  Precision activations = Precision::fp32;
  bool gradqueue = false;  // Grad Queue on top of the base optimizer
  GradQueueConfig gq;
  bool quiet = false;
  double comm_timeout = 600;  // seconds (runtime/comm.h: Communicator::set_timeout)
};

}  // namespace gq::train
