// Row maps over strided matrices (kernels/matrix_rows.h): one launch whatever the row count,
// scale_rows' bits, empty and bad shapes. The reference comparison (awkward shapes, padding left
// untouched, poisoned outputs) is a kernel case: kernels/cases/matrix_rows_cases.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

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

// What the kernel cases (kernels/cases/matrix_rows_cases.cpp) cannot say: one launch whatever the
// row count, and scale_rows gives kernels::scale's bits on each row.
class MatrixRows : public ::testing::TestWithParam<int> {};

TEST_P(MatrixRows, ScaleRowsIsOneLaunchWithTheBitsOfScale) {
  const int rows = GetParam();
  const std::size_t cols = 257, ld = cols + 5, n = rows * ld;
  const auto h = test::random_vector(n, 7 + rows);
  auto m = test::to_device(h), per_row = test::to_device(h);
  const LaunchCounters before = launch_counters();
  scale_rows({m.data(), std::size_t(rows), cols, ld}, 512.0f / 3.0f);
  EXPECT_EQ((launch_counters() - before).total(), 1u) << "one launch for " << rows << " rows";
  for (int r = 0; r < rows; ++r) scale(per_row.data() + r * ld, cols, 512.0f / 3.0f);
  const auto got = m.to_host(), want = per_row.to_host();
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(bits(got[i]), bits(want[i])) << "row " << i / ld << " col " << i % ld;
}

TEST_P(MatrixRows, BroadcastRowIsOneLaunch) {
  const int rows = GetParam();
  const auto d_src = test::to_device(test::random_vector(31, 3));
  auto m = test::poisoned(std::size_t(rows) * 31);
  const LaunchCounters before = launch_counters();
  broadcast_row(d_src.data(), MatrixView::dense(m.data(), rows, 31));
  EXPECT_EQ((launch_counters() - before).total(), 1u) << "one launch for " << rows << " rows";
}

INSTANTIATE_TEST_SUITE_P(RowCounts, MatrixRows, ::testing::Values(1, 7, 64));

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
