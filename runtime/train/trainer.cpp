// The training step, read first: step() issues one optimisation step on the device (step_front:
// the batch, forward, loss and Grad Queue's clustering; step_back: backward, Grad Queue's combine,
// clipping, the optimizer, the EMA), replay() issues it as a CUDA graph, run() drives steps to the
// end with logging, evaluation and checkpoints. The rest of the Trainer lives beside it, one
// concern per file: trainer_setup.cpp (construction, allocation, the state registry),
// trainer_checkpoint.cpp (save, load, resume checks), trainer_report.cpp (evaluation, metrics,
// progress, the start-up table), trainer_ranks.cpp (data-parallel agreement and averaging), and
// the training_data.h component (subsets, validation split, device-resident splits).
#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "kernels/augment.h"
#include "kernels/elementwise.h"
#include "kernels/gather.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "kernels/step_scalars.h"
#include "runtime/error.h"
#include "runtime/nvtx.h"
#include "runtime/profiler.h"
#include "runtime/rng.h"

namespace gq::train {

void Trainer::step() {
  NvtxRange range("train_step");
  if (static_cast<std::size_t>(step_) >= lr_table_.size()) plan_learning_rates(2 * (step_ + 1));
  if (step_ % steps_per_epoch_ == 0) {  // outside the graph: a host upload
    epoch_ = static_cast<int>(step_ / steps_per_epoch_);
    begin_epoch();
  }
  const stream_t s = stream_.get();
  const auto direct = [&] {
    step_front(s);
    step_back(s);
  };
  if (!graph_on_ || !warmed_up_) {
    // The first step runs directly: libraries set themselves up (handles, workspaces, lazily
    // loaded kernels), which a capture forbids.
    direct();
    warmed_up_ = true;
  } else {
    replay(direct);
  }
  ++step_;
  ++loss_steps_;
}

void Trainer::step_front(stream_t stream) {
  const int b = local_b_;  // this rank's share of the global batch
  const int classes = train_.num_classes;
  const models::Context ctx = train_context();
  {
    NvtxRange r("data");
    // This step's number, learning rate and samples: rank r takes positions [r b, (r + 1) b) of
    // the global batch, with their own draws.
    kernels::begin_step(scalars_.data(),
                        {lr_table_.data(), lr_table_.size(), permutation_.data(),
                         static_cast<std::uint64_t>(steps_per_epoch_), cfg_.batch_size, rank_ * b},
                        batch_indices_.data(), b, stream);
    kernels::AugmentParams aug;
    aug.pad = cfg_.augment && train_.channels == 3 ? cfg_.crop_pad : 0;
    aug.flip = cfg_.augment && train_.channels == 3;
    aug.pad_mode = cfg_.pad_mode == "reflect" ? kernels::PadMode::reflect : kernels::PadMode::zero;
    aug.flip_mode =
        cfg_.flip == "alternating" ? kernels::FlipMode::alternating : kernels::FlipMode::coin;
    aug.steps_per_epoch = static_cast<std::uint64_t>(steps_per_epoch_);
    aug.seed = cfg_.seed;
    aug.step_device = ctx.step.at;  // the step, read on the device
    aug.first = static_cast<std::uint64_t>(rank_) * b;
    gather_batch(train_dev_, batch_indices_.data(), aug, stream);
  }
  const float* logits = model_->forward(ctx, batch_x_.data());
  {
    NvtxRange r("loss");
    // The gradient of the global batch's mean loss: 1 / batch_size per sample on every rank, so
    // that the ranks' gradients add up to the one-process gradient.
    const int global_b = cfg_.batch_size;
    kernels::softmax_xent(logits, batch_y_.data(), b, classes, cfg_.label_smoothing, losses_.data(),
                          dlogits_.data(), 1.0f / global_b, stream);
    // loss_sum_[1] = this step's mean loss (Grad Queue's length rule reads it on the device),
    // loss_sum_[0] accumulates it until the next log. Data-parallel: every rank's share, summed.
    kernels::reduce_sum(losses_.data(), b, loss_sum_.data() + 1, reduce_scratch_.data(), stream);
    kernels::scale(loss_sum_.data() + 1, 1, 1.0f / global_b, stream);
    if (comm_) comm_->sum(loss_sum_.data() + 1, 1, stream);
    kernels::axpy(1, 1.0f, loss_sum_.data() + 1, loss_sum_.data(), stream);
  }
  if (grad_queue_) grad_queue_->cluster(batch_x_.data(), ctx.step, stream);
}

void Trainer::step_back(stream_t stream) {
  const models::Context ctx = train_context();
  if (grad_queue_)
    model_->backward(ctx, dlogits_.data(), grad_queue_->hook(stream));
  else
    model_->backward(ctx, dlogits_.data());
  // The gradient the optimizer takes: G* with Grad Queue (skipped on the device when not finite),
  // the batch gradient without.
  float* grads = model_->params().grads();
  if (comm_ && !grad_queue_) {
    // The batch gradient: the ranks' gradients summed in rank order (runtime/comm.h), the same
    // bits on every rank, so the ranks' parameters stay identical.
    NvtxRange r("allreduce");
    comm_start_.record(stream);
    comm_->sum(grads, model_->params().size(), stream);
    comm_stop_.record(stream);
    comm_timed_ = true;
  }
  const std::int32_t* apply = nullptr;
  if (grad_queue_) {
    if (comm_) {  // timed: the k x P sum (the features' gather ran before backward, untimed)
      NvtxRange r("allreduce");
      comm_start_.record(stream);
      grad_queue_->sum_over_ranks(stream);
      comm_stop_.record(stream);
      comm_timed_ = true;
    }
    grads = grad_queue_->combine_and_push(loss_sum_.data() + 1, stream);
    apply = grad_queue_->apply_flag();
  }
  {
    NvtxRange r("optimizer");
    auto& reg = model_->params();
    if (cfg_.clip_norm > 0)
      kernels::clip_grad_norm(grads, reg.size(), cfg_.clip_norm, grad_norm_.data(),
                              reduce_scratch_.data(), stream);
    optimizer_->step({reg.values(), grads, DeviceScalar<float>::read(&scalars_.data()->lr),
                      ctx.step, apply, stream});
  }
  // After the step: steps done = this step's number + 1; the schedule decides on the device
  // whether this step updates the EMA (and copies it into the weights).
  if (ema_) ema_->update_on_schedule(ema_schedule_, ctx.step.affine(1, 1), stream);
}

// Replays the step's graph, capturing it first if it is not yet. A capture that fails falls back to
// direct launches under --cuda-graph auto (saying so once) and is an error under on.
template <class F>
void Trainer::replay(F&& direct) {
  Graph& g = graph_;
  if (!g.ready()) {
    try {
      g.capture(stream_.get(), direct);
    } catch (const Error& e) {
      if (cfg_.cuda_graph == "on")
        GQ_FAIL("--cuda-graph on: capturing the training step failed: {}", e.what());
      graph_on_ = false;
      graph_status_ = fmt::format("off from step {}: the capture failed: {}", step_ + 1, e.what());
      if (!cfg_.quiet) fmt::print("cuda-graph  {}\n", graph_status_);
      direct();  // nothing captured ran
      return;
    }
    ++graph_captures_;
  }
  g.replay(stream_.get());
  ++graph_replays_;
}

// The step's kernels read its number, learning rate and batch from scalars_, which begin_step
// advances on the device: the same launches, with the same arguments, every step. So the step can
// be captured once as a CUDA graph and replayed (--cuda-graph), and the direct launches (data-
// parallel runs, --cuda-graph off, the first step) compute the same bits.
models::Context Trainer::train_context() {
  return {stream_.get(), true, cfg_.seed, DeviceScalar<std::uint64_t>::read(&scalars_.data()->step),
          static_cast<std::uint64_t>(rank_) * local_b_};
}

// The learning rate of steps [0, steps) on the device, computed as the log line computes it, so
// the device reads the same bits (kernels/step_scalars.h). Stepping past the table (past the
// run's end: tests do) grows it; the graphs that read the old table are captured again.
void Trainer::plan_learning_rates(long steps) {
  std::vector<float> lr(steps);
  for (long s = 0; s < steps; ++s) lr[s] = learning_rate(schedule_, s);
  graph_ = Graph();
  lr_table_ = DeviceBuffer<float>(std::span<const float>(lr));
}

// The epoch's order: a Fisher-Yates shuffle from (seed, epoch), so resuming at any epoch
// reproduces it without saving it.
void Trainer::begin_epoch() {
  std::vector<std::int32_t> perm(train_.n);
  std::iota(perm.begin(), perm.end(), 0);
  HostRng rng(cfg_.seed, 0x5eed0000ull + static_cast<std::uint64_t>(epoch_));
  for (int i = train_.n - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  permutation_.upload(perm);
}

// One batch from a device-resident split: images are cropped, flipped and normalised on the way
// (gather_augment), text rows are copied (gather_rows).
void Trainer::gather_batch(const DeviceSplit& split, const std::int32_t* indices,
                           const kernels::AugmentParams& aug, stream_t stream) {
  const int b = local_b_;  // this rank's share (training) or its evaluation batch
  const data::Dataset& shape = train_;  // every split has the training split's sample shape
  if (shape.images.empty()) {
    kernels::gather_rows(split.features.data(), split.labels.data(), indices, b,
                         shape.feature_dim, batch_x_.data(), batch_y_.data(), stream);
    return;
  }
  kernels::gather_augment(split.images.data(), split.labels.data(), indices, b, shape.channels,
                          shape.height, shape.width, mean_.data(), std_.data(), aug,
                          batch_x_.data(), batch_y_.data(), stream);
}

double Trainer::take_train_loss() {
  float sum = 0;
  copy_to_host(&sum, loss_sum_.data(), sizeof sum);
  memset_device(loss_sum_.data(), 0, sizeof(float));
  const double mean = loss_steps_ ? sum / loss_steps_ : 0.0;
  loss_steps_ = 0;
  return mean;
}

StepGraphUse Trainer::step_graph_use() const {
  return {graph_on_, graph_status_, graph_captures_, graph_replays_,
          graph_.nodes()};
}

// Why the step cannot be captured, or empty.
std::string Trainer::graph_unavailable() const {
  if (comm_)
    return fmt::format(
        "data-parallel ({} processes): the step's collectives are host calls (MPI on the emulator; "
        "the timing events and the per-step stop agreement on GPUs) that a replay would skip",
        ranks_);
  return {};
}

EvalResult Trainer::run(const std::function<int()>& stop_requested) {
  if (const int sig = stop_agreed(stop_requested))
    throw Stopped(sig, step_, {});  // no step taken: nothing to save
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const long first_step = step_;
  long logged_step = step_;
  auto t_log = t0;
  EvalResult last;
  while (step_ < total_steps_) {
    step();
    // Agreed right after the step, before anything waits for the device: on GPUs this host
    // collective is where a stopped or dead rank is caught (Communicator::set_timeout).
    const int sig = stop_agreed(stop_requested);
    const bool epoch_end = step_ % steps_per_epoch_ == 0 || step_ == total_steps_;
    const bool eval_now = epoch_end || (cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0);
    if (step_ % cfg_.log_every == 0 || eval_now) {
      const auto now = clock::now();
      log_training(step_ - logged_step, std::chrono::duration<double>(now - t_log).count(),
                   eval_now);
      t_log = now;
      logged_step = step_;
    }
    if (eval_now) {
      const auto te = clock::now();
      last = step_ == total_steps_ || cfg_.tta_every_eval ? evaluate_with_tta() : evaluate();
      log_evaluation(last);
      t_log += clock::now() - te;  // evaluation time is not training throughput
    }
    // After this step's records: a checkpoint at step S means every record up to S is written,
    // so a resume from it drops exactly the records after S and writes them again.
    const bool dir = !cfg_.checkpoint_dir.empty();
    const bool periodic = dir && cfg_.checkpoint_every > 0 && step_ % cfg_.checkpoint_every == 0;
    if (periodic) {
      const auto tc = clock::now();
      save_step_checkpoint();
      t_log += clock::now() - tc;  // nor is writing a checkpoint
    }
    if (sig != 0 && step_ < total_steps_) {
      if (!cfg_.quiet && progress_redraws_) fmt::print("\n");  // ends the redrawn line
      throw Stopped(sig, step_,
                    !dir       ? std::filesystem::path()
                    : periodic ? last_good_checkpoint_
                               : save_step_checkpoint());
    }
  }
  if (!cfg_.checkpoint_dir.empty()) save(cfg_.checkpoint_dir / "last.ckpt");
  const double total = std::chrono::duration<double>(clock::now() - t0).count();
  if (!cfg_.quiet)
    fmt::print("done: {} of {} steps in {:.1f} s{}\n", step_ - first_step, total_steps_, total,
               first_step > 0 ? fmt::format(" (resumed from step {})", first_step) : "");
  return last;
}

// Profiling run: a few warm-up steps, then the profiled steps between profiler_start/stop (what
// nsys --capture-range=cudaProfilerApi and ncu --profile-from-start off record). No evaluation.
void Trainer::run_profile(const std::function<int()>& stop_requested) {
  // A stop request holds here too: after the step in flight, with nothing to save.
  const auto step_or_stop = [&] {
    step();
    if (const int sig = stop_agreed(stop_requested)) {
      device_synchronize();
      profiler_stop();
      throw Stopped(sig, step_, {});
    }
  };
  for (int i = 0; i < kProfileWarmup; ++i) step_or_stop();
  device_synchronize();
  profiler_start();
  {
    NvtxRange range("profiled_steps");
    for (int i = 0; i < cfg_.profile_steps; ++i) step_or_stop();
    device_synchronize();
  }
  profiler_stop();
  if (!cfg_.quiet)
    fmt::print("profiled {} steps after {} warm-up steps\n", cfg_.profile_steps, kProfileWarmup);
}

// Data-parallel: a signal seen by any rank stops every rank after the same step.
int Trainer::stop_agreed(const std::function<int()>& stop_requested) const {
  const int sig = stop_requested ? stop_requested() : 0;
  return comm_ ? comm_->max(sig) : sig;
}

Stopped::Stopped(int signal, long step, std::filesystem::path checkpoint)
    : Error(fmt::format("stopped by signal {} after step {}", signal, step)),
      signal_(signal),
      step_(step),
      checkpoint_(std::move(checkpoint)) {}

}  // namespace gq::train
