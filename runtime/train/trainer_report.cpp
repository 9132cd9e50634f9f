// What the Trainer reports (trainer.h): the start-up configuration and memory plan, evaluation
// (plain and test-time augmented), the progress line, JSONL metrics and TensorBoard records.
#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/loss.h"
#include "runtime/device.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/gemm_plan.h"
#include "runtime/nvtx.h"
#include "runtime/train/settings.h"
#include "runtime/train/tensorboard_writer.h"

namespace gq::train {
namespace {

std::string mib(std::size_t bytes) {
  return fmt::format("{:8.1f} MiB", bytes / 1048576.0);
}

nlohmann::json to_json(const GradQueueDiagnostics& d) {
  return {{"qlen", d.qlen},
          {"queue_count", d.queue_count},
          {"mean_delta", d.mean_delta},
          {"frac_delta_gt1", d.frac_delta_gt1},
          {"cos_gstar_gbar", d.cos_gstar_gbar},
          {"norm_gbar", d.norm_gbar},
          {"noise_scale", d.noise_scale},
          {"k_effective", d.k_effective},
          {"kmeans_iterations", d.kmeans_iterations},
          {"cluster_sizes", d.cluster_sizes},
          {"skipped_steps", d.skipped_steps}};
}

// The start-up line `precision`: in bf16, what the libraries chose for the model's plans and, with
// bf16 storage, the layers that run in fp32 between a widening and a rounding.
std::string precision_status(Precision precision, const models::Sequential& model) {
  if (precision == Precision::fp32) return "fp32 compute and storage";
  const models::LibraryChoices choices = model.library_choices();
  const std::string conv = fmt::format("{}", fmt::join(choices.convolutions, ", "));
  const std::string gemm = fmt::format("{}", fmt::join(choices.gemms, ", "));
  std::string chosen = conv.empty() ? "" : "convolutions " + conv;
  if (!gemm.empty()) chosen += (chosen.empty() ? "GEMMs " : "; GEMMs ") + gemm;
  if (model.storage() == Precision::fp32)
    return fmt::format("bf16 compute, fp32 storage ({}: {})", dnn::library_version(), chosen);
  const std::vector<std::string> widened = model.widened_kinds();
  return fmt::format("bf16 compute, bf16 storage ({}: {}; {})", dnn::library_version(), chosen,
                     widened.empty() ? std::string("every layer stores bf16 itself")
                                     : fmt::format("widened to fp32 around their passes: {}",
                                                   fmt::join(widened, ", ")));
}

}  // namespace

void Trainer::print_configuration(const Shape& input) const {
  fmt::print("settings    {}\n", changed_settings(cfg_));
  fmt::print("device      {}\n", device_info().name);
  if (comm_)
    fmt::print("processes   {} (data-parallel, {} samples each; {:.2f} MiB sent per step by each)\n",
               ranks_, local_b_, comm_bytes_per_step_ / 1048576.0);
  fmt::print("data        {} train / {}{} test samples of {}, {} classes\n", train_.n,
             val_.n > 0 ? fmt::format("{} validation / ", val_.n) : "", test_.n, input.str(),
             train_.num_classes);
  fmt::print("schedule    {} steps ({} per epoch), {} lr {} warm-up {} steps\n", total_steps_,
             steps_per_epoch_, cfg_.schedule, cfg_.lr, schedule_.warmup_steps);
  fmt::print("cuda-graph  {}\n", graph_status_);
  fmt::print("precision   {}\n", precision_status(cfg_.precision, *model_));
  if (!init_status_.empty()) fmt::print("{}\n", init_status_);
  if (!extend_status_.empty()) fmt::print("{}\n", extend_status_);
  if (ema_)
    fmt::print("lookahead   EMA of {} values, every {} steps, decay {} (s/{})^3, final copy\n",
               ema_->state().size(), ema_schedule_.every, ema_schedule_.base,
               ema_schedule_.total_steps);
  if (tta_) fmt::print("tta         level {} ({} views) at the final evaluation\n", tta_->level(), tta_->views());
  const auto& reg = model_->params();
  fmt::print("optimizer   {}, weight decay {} on {} of {} parameters{}\n", optimizer_->describe(),
             cfg_.optimizer_settings.weight_decay, reg.decayed_count(), reg.size(),
             cfg_.clip_norm > 0 ? fmt::format(", clip norm {}", cfg_.clip_norm) : "");
  if (grad_queue_) {
    fmt::print("gradqueue   k={} features={} kmeans-iters={} qmin={} qmax={} rho={} {} ring={}\n",
               grad_queue_->clusters(), cfg_.gq.features, cfg_.gq.kmeans_iters, cfg_.gq.qmin,
               cfg_.gq.qmax, cfg_.gq.scarcity.rho, cfg_.gq.scarcity.renorm ? "renorm" : "no-renorm",
               name(ring_precision(cfg_.gq)));
    for (const std::string& layer : grad_queue_->fallback_layers())
      fmt::print(
          "gradqueue   {} has no per-cluster gradient: its batch gradient is used for every "
          "cluster\n",
          layer);
  }
  fmt::print("\n{}\n{}\n", model_->summary(), memory_plan());
}

std::string Trainer::memory_plan() const {
  std::string s = "memory plan (allocated once, before the first step)\n";
  std::size_t total = 0;
  for (const auto& [row, bytes] : state_.memory_rows()) {
    s += fmt::format("  {:<24} {}\n", row, mib(bytes));
    total += bytes;
  }
  return s + fmt::format("  {:<24} {}\n", "total", mib(total));
}

EvalResult Trainer::evaluate_with_tta() {
  EvalResult r = evaluate();
  if (!tta_) return r;
  const EvalResult t = evaluate(false, tta_->level());
  r.tta_level = t.tta_level;
  r.tta_loss = t.loss;
  r.tta_accuracy = t.accuracy;
  return r;
}

EvalResult Trainer::evaluate(bool validation, int tta_level) {
  GQ_CHECK(tta_level == 0 || (tta_ && tta_->level() == tta_level),
           "evaluate: test-time augmentation level {} was not set up (--tta-level {})", tta_level,
           cfg_.tta_level);
  NvtxRange range("evaluate");
  sync_state_buffers();
  const data::Dataset& split = validation ? val_ : test_;
  const DeviceSplit& dev = validation ? val_dev_ : test_dev_;
  GQ_CHECK(split.n > 0, "evaluate: the {} split is empty", validation ? "validation" : "test");
  // Every rank evaluates the whole split (identical parameters: identical results), in batches
  // of its training share.
  const int b = local_b_, classes = split.num_classes;
  models::Context ctx{nullptr, false, cfg_.seed, 0, 0};
  EvalResult res;
  res.confusion.assign(static_cast<std::size_t>(classes) * classes, 0);
  if (tta_level == 0) res.logits.reserve(static_cast<std::size_t>(split.n) * classes);
  std::vector<float> logits(static_cast<std::size_t>(b) * classes), losses(b);
  double loss_sum = 0;
  std::int64_t correct = 0;
  kernels::AugmentParams plain;
  for (int start = 0; start < split.n; start += b) {
    gather_batch(dev, dev.eval_order.data() + start, plain, ctx.stream);
    const float* out = nullptr;
    if (tta_level > 0) {
      tta_->logits([&](const float* x) { return model_->forward(ctx, x); }, batch_x_.data(),
                   tta_logits_.data(), ctx.stream);
      out = tta_logits_.data();
    } else {
      out = model_->forward(ctx, batch_x_.data());
    }
    kernels::softmax_xent(out, batch_y_.data(), b, classes, 0.0f, losses_.data(), nullptr, 1.0f,
                          ctx.stream);
    copy_to_host(logits.data(), out, logits.size() * sizeof(float));
    copy_to_host(losses.data(), losses_.data(), losses.size() * sizeof(float));
    const int valid = std::min(b, split.n - start);
    if (tta_level == 0)
      res.logits.insert(res.logits.end(), logits.begin(),
                        logits.begin() + static_cast<std::ptrdiff_t>(valid) * classes);
    for (int i = 0; i < valid; ++i) {
      const float* row = logits.data() + static_cast<std::size_t>(i) * classes;
      const int pred = static_cast<int>(std::max_element(row, row + classes) - row);
      const int label = split.labels[start + i];
      correct += pred == label;
      ++res.confusion[static_cast<std::size_t>(label) * classes + pred];
      loss_sum += losses[i];
    }
  }
  res.n = split.n;
  res.loss = loss_sum / split.n;
  res.accuracy = static_cast<double>(correct) / split.n;
  res.tta_level = tta_level;
  return res;
}

// One "eval" record: the test split, and the validation split when there is one.
void Trainer::log_evaluation(const EvalResult& test) {
  nlohmann::json record{{"type", "eval"},
                        {"step", step_},
                        {"epoch", epoch_ + 1},
                        {"test_loss", test.loss},
                        {"test_accuracy", test.accuracy}};
  std::string val_text;
  if (test.tta_level > 0) {
    record["tta_level"] = test.tta_level;
    record["test_loss_tta"] = test.tta_loss;
    record["test_accuracy_tta"] = test.tta_accuracy;
    val_text = fmt::format(" with TTA level {}: loss {:.4f} accuracy {:.2f}%", test.tta_level,
                           test.tta_loss, 100 * test.tta_accuracy);
  }
  if (val_.n > 0) {
    const EvalResult val = evaluate(/*validation=*/true);
    record["val_loss"] = val.loss;
    record["val_accuracy"] = val.accuracy;
    val_text +=
        fmt::format(" validation loss {:.4f} accuracy {:.2f}%", val.loss, 100 * val.accuracy);
  }
  if (!cfg_.quiet)
    fmt::print("eval  step {:>6} epoch {:>3} test loss {:.4f} test accuracy {:.2f}%{}\n", step_,
               epoch_ + 1, test.loss, 100 * test.accuracy, val_text);
  log_metrics(std::move(record));
}

// Every record goes out here, stamped with the wall-clock time (Unix seconds) and the seconds
// since this segment's run header (the first record written), to both sinks: the JSONL and
// TensorBoard.
void Trainer::log_metrics(nlohmann::json record) {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  if (!records_started_) records_started_ = now;
  const auto millis = [](double s) { return std::round(s * 1000) / 1000; };
  record["time"] = millis(duration<double>(system_clock::now().time_since_epoch()).count());
  record["elapsed_s"] = millis(duration<double>(now - *records_started_).count());
  metrics_.write(record.dump());
  if (tensorboard_) tensorboard_->write(record);
}

// One "train" record and progress line for the `steps` steps since the last, which took `secs`.
void Trainer::log_training(long steps, double secs, bool eval_now) {
  const double loss = take_train_loss();
  const double ips = steps * cfg_.batch_size / std::max(secs, 1e-9);
  const double eta = (total_steps_ - step_) * cfg_.batch_size / std::max(ips, 1e-9);
  const float lr = learning_rate(schedule_, step_ - 1);
  if (!std::isfinite(loss)) {
    const auto bad = first_nonfinite();
    diverged(fmt::format("the mean training loss is {} (lr {}){}", loss, lr,
                         bad ? "; the first non-finite tensor is the " + *bad : std::string()));
  }
  nlohmann::json record{{"type", "train"}, {"step", step_}, {"epoch", epoch_ + 1},
                        {"loss", loss},    {"lr", lr},      {"images_per_s", ips}};
  std::string comm_status;
  if (comm_) {
    const double ms = last_step_comm_ms();
    record["ranks"] = ranks_;
    record["comm_ms"] = ms;
    record["comm_bytes"] = comm_bytes_per_step_;
    comm_status = fmt::format(" comm {:.1f} ms", ms);
  }
  std::string gq_status;
  if (grad_queue_) {
    const GradQueueDiagnostics d = grad_queue_->diagnostics();  // throws after repeated skips
    record["gradqueue"] = to_json(d);
    gq_status = fmt::format(" qlen {:>2} mean-delta {:.3f} cos {:.3f}", d.qlen, d.mean_delta,
                            d.cos_gstar_gbar);
  }
  print_progress(fmt::format("step {:>6}/{} epoch {:>3} loss {:.4f} lr {:.4f}{}{} {:>7.0f} img/s "
                             "ETA {:>5.0f}s",
                             step_, total_steps_, epoch_ + 1, loss, lr, gq_status, comm_status, ips,
                             eta),
                 eval_now);
  log_metrics(std::move(record));
}

// On a terminal the progress line redraws itself (\r) until an evaluation ends it; in a file or a
// pipe (a log, CI) each interval is a line of its own.
void Trainer::print_progress(const std::string& line, bool end_line) const {
  if (cfg_.quiet) return;
  if (progress_redraws_)
    fmt::print("\r{}   {}", line, end_line ? "\n" : "");
  else
    fmt::print("{}\n", line);
  std::fflush(stdout);
}

}  // namespace gq::train
