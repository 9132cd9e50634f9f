// Learning-rate schedules (host-only): a pure function of the step, so a resumed run reproduces
// the same rates. Every kind starts with an optional linear warm-up from
// base_lr * warmup_start_factor to base_lr over warmup_steps steps.
#pragma once

#include <string>

namespace gq {

enum class ScheduleKind { constant, step, cosine, onecycle, triangular };

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::constant;
  float base_lr = 0.1f;
  long total_steps = 1;
  long warmup_steps = 0;  // linear warm-up from base_lr*warmup_start_factor to base_lr (all kinds)
  float warmup_start_factor = 0.0f;
  long step_size = 1;  // step: lr *= gamma every step_size steps after warm-up
  float gamma = 0.1f;
  float final_lr_factor = 0.0f;  // cosine/onecycle: decay to base_lr*final_lr_factor at total_steps
  bool onecycle_linear = true;   // onecycle: warm-up then linear (or cosine) decay
};

// The learning rate for `step` (counted from 0). After warm-up:
//  constant: base_lr;
//  step:     base_lr * gamma^floor((step - warmup_steps) / step_size);
//  cosine:   final + (base - final) * (1 + cos(pi * p)) / 2,
//  onecycle: base + (final - base) * p (or the cosine curve when !onecycle_linear),
// with p = (step - warmup_steps) / (total_steps - warmup_steps) clamped to [0, 1] and
// final = base_lr * final_lr_factor (steps past total_steps stay at final);
//  triangular: base_lr * triangular_lr_factor(step, total_steps) (runtime/triangular_schedule.h:
//            airbench94's 0.2 -> 1 at floor(0.23 total) -> 0.07), with no warm-up of its own.
// Throws gq::Error for an invalid config or a negative step.
float learning_rate(const ScheduleConfig& cfg, long step);

// "constant" | "step" | "cosine" | "onecycle" | "triangular"; gq::Error naming the valid values otherwise.
ScheduleKind parse_schedule(const std::string& name);

// The name parse_schedule accepts for `kind`.
const char* schedule_name(ScheduleKind kind);

}  // namespace gq
