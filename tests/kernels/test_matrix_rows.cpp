// Row maps over strided matrices (kernels/matrix_rows.h) against a CPU reference: every row of
// awkward widths and counts (k not a power of two, widths not multiples of the block), strided
// rows whose padding must stay untouched, poisoned outputs, one launch whatever the row count.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>

#include "kernels/elementwise.h"
#include "kernels/matrix_rows.h"
#include "runtime/launch_counters.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

std::uint32_t bits(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

// (rows, cols, padding of each row beyond cols)
class MatrixRows : public ::testing::TestWithParam<std::tuple<int, std::size_t, std::size_t>> {};

TEST_P(MatrixRows, ScaleRowsScalesEveryRowAsScaleDoesAndLeavesThePadding) {
  const auto [rows, cols, pad] = GetParam();
  const std::size_t ld = cols + pad, n = rows * ld;
  const auto h = test::random_vector(n, 7 + rows);
  auto m = test::to_device(h), per_row = test::to_device(h);
  const LaunchCounters before = launch_counters();
  scale_rows({m.data(), std::size_t(rows), cols, ld}, 512.0f / 3.0f);
  EXPECT_EQ((launch_counters() - before).total(), 1u) << "one launch for " << rows << " rows";
  for (int r = 0; r < rows; ++r) scale(per_row.data() + r * ld, cols, 512.0f / 3.0f);
  const auto got = m.to_host(), want = per_row.to_host();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = i % ld;
    const double ref =
        c < cols ? static_cast<double>(h[i]) * static_cast<float>(512.0 / 3.0) : h[i];
    ASSERT_NEAR(got[i], ref, 1e-6 * std::fabs(ref)) << "row " << i / ld << " col " << c;
    ASSERT_EQ(bits(got[i]), bits(want[i]))
        << "row " << i / ld << " col " << c << ": not the bits of kernels::scale";
  }
}

TEST_P(MatrixRows, BroadcastRowFillsEveryRowAndLeavesThePadding) {
  const auto [rows, cols, pad] = GetParam();
  const std::size_t ld = cols + pad, n = rows * ld;
  const auto src = test::random_vector(cols, 3 + rows);
  const auto d_src = test::to_device(src);
  auto m = test::poisoned(n);
  const LaunchCounters before = launch_counters();
  broadcast_row(d_src.data(), {m.data(), std::size_t(rows), cols, ld});
  EXPECT_EQ((launch_counters() - before).total(), 1u) << "one launch for " << rows << " rows";
  const auto got = m.to_host();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = i % ld;
    if (c < cols)
      ASSERT_EQ(bits(got[i]), bits(src[c])) << "row " << i / ld << " col " << c;
    else
      ASSERT_EQ(bits(got[i]), 0xFFFFFFFFu) << "padding written at row " << i / ld << " col " << c;
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardShapes, MatrixRows,
                         ::testing::Combine(::testing::Values(1, 3, 7, 64),
                                            ::testing::Values(1, 31, 257, 4097, 65539),
                                            ::testing::Values(0, 5)));

TEST(MatrixRowsEdges, EmptyMatricesLaunchNothing) {
  auto m = test::poisoned(4);
  const LaunchCounters before = launch_counters();
  scale_rows({m.data(), 0, 4, 4}, 2.0f);
  broadcast_row(m.data(), {m.data(), 3, 0, 0});
  EXPECT_EQ((launch_counters() - before).total(), 0u);
  for (float v : m.to_host()) EXPECT_TRUE(std::isnan(v));
}

TEST(MatrixRowsEdges, BadShapesAreRejected) {
  auto m = test::poisoned(8);
  EXPECT_THROW(scale_rows({m.data(), 2, 4, 3}, 2.0f), Error);        // ld < cols
  EXPECT_THROW(broadcast_row(nullptr, {m.data(), 2, 4, 4}), Error);  // no source
  EXPECT_THROW(scale_rows({nullptr, 2, 4, 4}, 2.0f), Error);         // no matrix
  EXPECT_THROW(scale_rows({m.data(), 70000, 1, 1}, 2.0f), Error);    // grid y limit
}

}  // namespace
}  // namespace gq::kernels
