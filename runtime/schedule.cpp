// Learning-rate schedules: linear warm-up, then constant / step / cosine / one-cycle decay.
// Computed in double and rounded once, so the rate is the same on every build.
#include "runtime/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "runtime/choices.h"
#include "runtime/error.h"
#include "runtime/triangular_schedule.h"

namespace gq {
namespace {

void validate(const ScheduleConfig& cfg) {
  GQ_CHECK(std::isfinite(cfg.base_lr) && cfg.base_lr >= 0.0f,
           "learning-rate schedule: base_lr must be finite and >= 0 (got {})", cfg.base_lr);
  GQ_CHECK(cfg.total_steps >= 1, "learning-rate schedule: total_steps must be >= 1 (got {})",
           cfg.total_steps);
  GQ_CHECK(cfg.warmup_steps >= 0, "learning-rate schedule: warmup_steps must be >= 0 (got {})",
           cfg.warmup_steps);
  GQ_CHECK(cfg.warmup_start_factor >= 0.0f,
           "learning-rate schedule: warmup_start_factor must be >= 0 (got {})",
           cfg.warmup_start_factor);
  GQ_CHECK(cfg.step_size >= 1, "learning-rate schedule: step_size must be >= 1 (got {})",
           cfg.step_size);
  GQ_CHECK(cfg.gamma > 0.0f, "learning-rate schedule: gamma must be > 0 (got {})", cfg.gamma);
  GQ_CHECK(cfg.final_lr_factor >= 0.0f,
           "learning-rate schedule: final_lr_factor must be >= 0 (got {})", cfg.final_lr_factor);
}

}  // namespace

float learning_rate(const ScheduleConfig& cfg, long step) {
  validate(cfg);
  GQ_CHECK(step >= 0, "learning_rate: step counts from 0 (got {})", step);
  const double base = cfg.base_lr;
  if (cfg.kind == ScheduleKind::triangular)  // its rise is its warm-up
    return static_cast<float>(
        base * triangular_lr_factor(static_cast<std::uint64_t>(step),
                                    static_cast<std::uint64_t>(cfg.total_steps)));
  if (step < cfg.warmup_steps) {
    const double start = cfg.warmup_start_factor;
    const double t = static_cast<double>(step) / static_cast<double>(cfg.warmup_steps);
    return static_cast<float>(base * (start + (1.0 - start) * t));
  }
  const long after = step - cfg.warmup_steps;
  const double final_lr = base * cfg.final_lr_factor;
  const long span = std::max(1L, cfg.total_steps - cfg.warmup_steps);
  const double p = std::min(1.0, static_cast<double>(after) / static_cast<double>(span));
  const double cosine = final_lr + (base - final_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
  switch (cfg.kind) {
    case ScheduleKind::constant:
      return cfg.base_lr;
    case ScheduleKind::step:
      return static_cast<float>(base * std::pow(static_cast<double>(cfg.gamma),
                                                static_cast<double>(after / cfg.step_size)));
    case ScheduleKind::cosine:
      return static_cast<float>(cosine);
    case ScheduleKind::onecycle:
      return static_cast<float>(cfg.onecycle_linear ? base + (final_lr - base) * p : cosine);
    case ScheduleKind::triangular:
      break;  // returned above
  }
  GQ_FAIL("learning_rate: unknown schedule kind {}", static_cast<int>(cfg.kind));
}

namespace {

constexpr ScheduleKind kKinds[] = {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine,
                                   ScheduleKind::onecycle, ScheduleKind::triangular};
// --schedule's choices (runtime/choices.h).
const bool kRegistered = register_choices("schedule", [] {
  std::vector<std::string> names;
  for (ScheduleKind kind : kKinds) names.emplace_back(schedule_name(kind));
  return names;
}());

}  // namespace

ScheduleKind parse_schedule(const std::string& name) {
  for (ScheduleKind kind : kKinds)
    if (name == schedule_name(kind)) return kind;
  GQ_FAIL("unknown learning-rate schedule '{}'; valid: constant, step, cosine, onecycle, triangular",
          name);
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant:
      return "constant";
    case ScheduleKind::step:
      return "step";
    case ScheduleKind::cosine:
      return "cosine";
    case ScheduleKind::onecycle:
      return "onecycle";
    case ScheduleKind::triangular:
      return "triangular";
  }
  return "unknown";
}

}  // namespace gq
