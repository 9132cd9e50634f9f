// The Trainer's checkpoints (trainer.h): what a checkpoint's header records, the state registry's
// sections saved and restored, the checks a resume makes (the same settings, not finished,
// --extend), --init-from's weights.
#include "runtime/train/trainer.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/step_scalars.h"
#include "runtime/error.h"
#include "runtime/train/checkpoint_dir.h"
#include "runtime/train/settings.h"

namespace gq::train {

// A new run in a folder of another run's checkpoints would mix the two runs' files, prune the
// other's and leave nothing to say which is whose: refused unless asked for (--overwrite).
void Trainer::claim_for_new_run(const std::filesystem::path& dir) const {
  const std::vector<std::filesystem::path> found = run_checkpoints(dir);
  if (found.empty()) return;
  const std::filesystem::path& newest = found.back().filename() == "last.ckpt" && found.size() > 1
                                            ? found[found.size() - 2]
                                            : found.back();
  GQ_CHECK(cfg_.overwrite,
           "--checkpoint-dir {} holds {} checkpoint(s) of another run (the newest: {}): continue "
           "that run with --resume {}, write to another folder, or add --overwrite to delete "
           "them and start over",
           dir.string(), found.size(), found.back().filename().string(), newest.string());
  std::error_code ec;
  for (const auto& path : found) std::filesystem::remove(path, ec);
  if (!cfg_.quiet)
    fmt::print("removed {} checkpoint(s) of an earlier run from {} (--overwrite)\n", found.size(),
               dir.string());
}

std::filesystem::path Trainer::save_step_checkpoint() {
  const auto path = step_checkpoint_path(cfg_.checkpoint_dir, step_);
  save(path);
  if (rank_ == 0) prune_checkpoints(cfg_.checkpoint_dir, cfg_.keep_checkpoints, step_);
  return path;
}

std::optional<std::string> Trainer::first_nonfinite() { return state_.first_nonfinite(); }

void Trainer::diverged(const std::string& what) const {
  const std::string last = last_good_checkpoint_.string();
  // Not "resume from it": a resume keeps this run's settings (others are refused), so it would
  // diverge again.
  GQ_FAIL(
      "training diverged: {} at step {}; no checkpoint is written from this state. Last good "
      "checkpoint: {}. Lower --lr or enable --clip-norm and start a new run.",
      what, step_, last.empty() ? "none (this run wrote none)" : last + " (gq-eval evaluates it)");
}

void Trainer::save(const std::filesystem::path& path) {
  sync_state_buffers();
  // A checkpoint is a promise that the run can go on from it: never one of NaNs.
  if (const auto bad = first_nonfinite()) diverged("the " + *bad + " holds NaN or infinite values");
  Checkpoint ck;
  ck.header = {{"format", 3},  // 3: model state by name (state_registry.h)
               {"model", cfg_.model},
               {"dataset", cfg_.dataset},
               {"batch_size", cfg_.batch_size},
               {"optimizer", cfg_.optimizer},
               {"gradqueue", cfg_.gradqueue},
               {"seed", cfg_.seed},
               {"step", step_},
               {"train_n", train_.n},
               {"train_subset", cfg_.train_subset},
               {"num_classes", train_.num_classes},
               {"params", model_->params().size()},
               {"tensors", tensor_list()},  // what --init-from compares
               {"tensor_offsets", tensor_offsets()},  // where each lies in "params"
               {"input", input_record()},  // what gq-export and gq-predict feed the model
               {"model_state", model_state_list()},  // with tensors: what gq-export writes
               {"loss_steps", loss_steps_},
               {"ranks", ranks_},  // informational: a resume may use another number
               {"settings", run_settings(cfg_)}};
  if (rank_ != 0) {  // every rank holds the same state; rank 0 writes it once
    last_good_checkpoint_ = path;
    return;
  }
  state_.save(ck);
  write_checkpoint(path, ck);
  last_good_checkpoint_ = path;
}

// The model's own sections: its parameters and state buffers (what gq-eval and --init-from take).
void Trainer::restore_model(Checkpoint& ck, const std::filesystem::path& path) {
  name_legacy_model_state(ck, state_, path.string());
  state_.restore(ck, path.string(), {StateRole::parameters, StateRole::model_state});
}

void Trainer::load(const std::filesystem::path& path, bool model_only) {
  Checkpoint ck = read_checkpoint(path);
  load(ck, path, model_only);
}

void Trainer::check_settings(const Checkpoint& ck, const std::filesystem::path& path) const {
  const auto& h = ck.header;
  if (!h.contains("settings") || !h["settings"].is_object())
    GQ_FAIL(
        "{}: this checkpoint (format {}) does not record its run's settings, so a resume "
        "cannot check that they match this run's; start a new run",
        path.string(), h["format"].dump());
  nlohmann::json theirs = h["settings"], mine = run_settings(cfg_);
  if (cfg_.extend)  // the run's length may change; nothing else
    for (const char* length : {"epochs", "max-steps"}) theirs.erase(length), mine.erase(length);
  const auto diff = settings_differences(theirs, mine);
  if (!diff.empty())
    GQ_FAIL(
        "{}: cannot resume: {} setting(s) differ from the run that wrote the checkpoint:\n  {}\n"
        "Resume with the same settings, or start a new run without --resume.",
        path.string(), diff.size(), fmt::format("{}", fmt::join(diff, "\n  ")));
}

void Trainer::load(Checkpoint& ck, const std::filesystem::path& path, bool model_only) {
  auto expect = [&](const char* key, const nlohmann::json& want) {
    GQ_CHECK(ck.header.contains(key) && ck.header[key] == want,
             "{}: checkpoint has {} = {}, but this run has {}; resume with the same settings",
             path.string(), key, ck.header.value(key, nlohmann::json()).dump(), want.dump());
  };
  expect("model", cfg_.model);
  expect("dataset", cfg_.dataset);
  expect("batch_size", cfg_.batch_size);
  if (!model_only) {
    expect("optimizer", cfg_.optimizer);
    expect("gradqueue", cfg_.gradqueue);
    expect("train_n", train_.n);
    check_settings(ck, path);
    const long step = ck.header["step"].get<long>();
    if (step == total_steps_)
      GQ_FAIL(
          "{}: this run already finished (step {} of {}): there is nothing to resume. "
          "Evaluate it with gq-eval {}, continue it for longer with --extend and a larger "
          "--epochs or --max-steps, or start a new run without --resume.",
          path.string(), step, total_steps_, path.string());
    if (cfg_.extend) extend_status_ = extension(ck.header["settings"], step);
    if (step > total_steps_)
      GQ_FAIL("{}: the checkpoint is at step {}, past the end of this run ({} steps)",
              path.string(), step, total_steps_);
    GQ_CHECK(ck.header["loss_steps"].get<long>() <= step,
             "{}: loss_steps {} is past the checkpoint's step {}", path.string(),
             ck.header["loss_steps"].dump(), step);
  }
  if (model_only) {
    restore_model(ck, path);
    step_ = ck.header.at("step").get<long>();
    return;
  }
  name_legacy_model_state(ck, state_, path.string());
  state_.restore(ck, path.string());
  step_ = ck.header.at("step").get<long>();
  loss_steps_ = ck.header["loss_steps"].get<long>();
  // The device's step counter continues from the checkpoint's (begin_step reads `next`).
  const kernels::StepScalars resumed{0, static_cast<std::uint64_t>(step_), 0.0f};
  scalars_.upload(std::span<const kernels::StepScalars>(&resumed, 1));
  epoch_ = static_cast<int>(step_ / steps_per_epoch_);
  if (step_ % steps_per_epoch_ != 0) begin_epoch();  // mid-epoch: rebuild this epoch's order
}

// --extend: the start-up line saying how the schedule changes ("extend      from step 96 of 96
// to 192 steps: the learning rate at step 96 is now 0.0542, the schedule over 192 steps").
std::string Trainer::extension(const nlohmann::json& theirs, long step) const {
  const double epochs = theirs.value("epochs", static_cast<double>(cfg_.epochs));
  const long max_steps = theirs.value("max-steps", cfg_.max_steps);
  const ScheduleConfig before =
      schedule_over(total_steps_for(epochs, max_steps, steps_per_epoch_));
  GQ_CHECK(total_steps_ > before.total_steps,
           "--extend: this run ({} steps) is not longer than the checkpoint's ({} steps); give "
           "a larger --epochs or --max-steps",
           total_steps_, before.total_steps);
  return fmt::format(
      "extend      from step {} of {} to {} steps: the learning rate at step {} is {:.4g} (was "
      "{:.4g}), the {} schedule stretched over {} steps",
      step, before.total_steps, total_steps_, step, learning_rate(schedule_, step),
      learning_rate(before, step), cfg_.schedule, total_steps_);
}

// --init-from: the parameters and model state of a model with the same tensors, which the
// checkpoint lists by name and shape (older checkpoints: the same model and parameter count).
void Trainer::take_weights(Checkpoint& ck, const std::filesystem::path& path) {
  const nlohmann::json mine = tensor_list();
  const std::string model = ck.header.value("model", std::string("?"));
  if (ck.header.contains("tensors")) {
    std::vector<std::string> differ;
    const nlohmann::json& theirs = ck.header["tensors"];
    for (std::size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i)
      if (i >= mine.size() || i >= theirs.size() || mine[i] != theirs[i])
        differ.push_back(fmt::format("#{}: checkpoint {}, this model {}", i,
                                     i < theirs.size() ? theirs[i].dump() : "none",
                                     i < mine.size() ? mine[i].dump() : "none"));
    GQ_CHECK(differ.empty(),
             "--init-from {}: its model ({}) does not have this model's ({}) tensors; {} differ, "
             "the first: {}",
             path.string(), model, cfg_.model, differ.size(), differ.front());
  } else {
    GQ_CHECK(model == cfg_.model, "--init-from {}: a checkpoint of model {}, this run trains {}",
             path.string(), model, cfg_.model);
  }
  restore_model(ck, path);
  init_status_ = fmt::format("init-from   the weights of {} ({}, step {})", path.string(), model,
                             ck.header.value("step", 0L));
}

// [["block1.norm1.running_mean", [64]], ...]: the model's state tensors, in the registry's order.
nlohmann::json Trainer::model_state_list() const {
  nlohmann::json out = nlohmann::json::array();
  for (const StateEntry* e : state_.float_entries({StateRole::model_state}))
    out.push_back({e->name, {e->bytes / sizeof(float)}});
  return out;
}

// [["conv1.weight", [8, 1, 3, 3]], ...]: the parameter tensors, in registration order (not the flat
// vector's: tensor_offsets says where each lies).
nlohmann::json Trainer::tensor_list() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& info : model_->params().infos()) {
    std::vector<std::int64_t> dims(info.shape.dims.begin(), info.shape.dims.begin() + info.shape.rank);
    out.push_back({info.name, dims});
  }
  return out;
}

nlohmann::json Trainer::tensor_offsets() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& info : model_->params().infos()) out.push_back(info.offset);
  return out;
}

// One sample's shape, the normalisation the step applies (kernels/augment.h) and the class names:
// enough to run the model on new data without the training set (runtime/train/checkpoint_tensors.h).
nlohmann::json Trainer::input_record() const {
  const Shape& in = model_->input_shape();
  std::vector<std::int64_t> dims(in.dims.begin(), in.dims.begin() + in.rank);
  return {{"shape", dims}, {"mean", mean_}, {"std", std_}, {"classes", train_.class_names}};
}

}  // namespace gq::train
