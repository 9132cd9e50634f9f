// The triangular learning-rate factor against airbench94's triangle() written out for a few
// totals: its three corners, linear in between, the peak at floor(0.23 * total).
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/triangular_schedule.h"

namespace gq {
namespace {

// torch: xp = [0, int(0.23 T), T], fp = [0.2, 1, 0.07]; segment = (#xp <= s) - 1, clamped to
// [0, 1]; value m[segment] * s + b[segment].
double airbench_triangle(std::uint64_t s, std::uint64_t total) {
  const double xp[3] = {0, std::floor(0.23 * double(total)), double(total)};
  const double fp[3] = {0.2, 1.0, 0.07};
  int seg = (double(s) >= xp[0]) + (double(s) >= xp[1]) + (double(s) >= xp[2]) - 1;
  seg = seg < 0 ? 0 : (seg > 1 ? 1 : seg);
  const double m = (fp[seg + 1] - fp[seg]) / (xp[seg + 1] - xp[seg]);
  return m * double(s) + (fp[seg] - m * xp[seg]);
}

TEST(TriangularSchedule, MatchesAirbenchsTriangle) {
  for (const std::uint64_t total : {10u, 97u, 490u, 1000u}) {
    for (std::uint64_t s = 0; s <= total; ++s)
      ASSERT_NEAR(triangular_lr_factor(s, total), airbench_triangle(s, total), 1e-12)
          << "step " << s << " of " << total;
    const auto peak = static_cast<std::uint64_t>(0.23 * double(total));
    EXPECT_DOUBLE_EQ(triangular_lr_factor(0, total), 0.2);
    EXPECT_DOUBLE_EQ(triangular_lr_factor(peak, total), 1.0);
    EXPECT_NEAR(triangular_lr_factor(total, total), 0.07, 1e-15);
    EXPECT_NEAR(triangular_lr_factor(total + 5, total), 0.07, 1e-15);  // past the end: the end
  }
}

TEST(TriangularSchedule, DegenerateTotals) {
  EXPECT_NEAR(triangular_lr_factor(0, 1), 1.0, 1e-15);  // peak at step 0: starts at the peak
  EXPECT_NEAR(triangular_lr_factor(1, 1), 0.07, 1e-15);
  EXPECT_DOUBLE_EQ(triangular_lr_factor(0, 0), 0.07);
  EXPECT_DOUBLE_EQ(triangular_lr_factor(3, 4), 1.0 + (0.07 - 1.0) * 3.0 / 4.0);  // floor(0.92) = 0
}

}  // namespace
}  // namespace gq
