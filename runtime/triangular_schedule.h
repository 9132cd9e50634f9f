// airbench94's learning-rate schedule: a triangle over the run's steps, as a factor of the peak
// learning rate. The factor for step s (0-based: the steps taken before it; LambdaLR's index) is the
// piecewise-linear interpolation through (0, start), (floor(peak * total), 1), (total, end):
// 0.2 -> 1 over the first 23% of the steps, then 1 -> 0.07 at the end. Header-only (host).
// runtime/schedule.h uses it as --schedule triangular.
#pragma once

#include <cmath>
#include <cstdint>

namespace gq {

struct TriangularSchedule {
  double start = 0.2, peak_fraction = 0.23, end = 0.07;
};

inline double triangular_lr_factor(std::uint64_t step, std::uint64_t total,
                                   const TriangularSchedule& t = {}) {
  if (total == 0) return t.end;
  const auto peak = static_cast<std::uint64_t>(std::floor(t.peak_fraction * static_cast<double>(total)));
  const double s = static_cast<double>(step < total ? step : total);
  if (step < peak) return t.start + (1.0 - t.start) * s / static_cast<double>(peak);
  if (peak == total) return 1.0;
  return 1.0 + (t.end - 1.0) * (s - static_cast<double>(peak)) /
                   static_cast<double>(total - peak);
}

}  // namespace gq
