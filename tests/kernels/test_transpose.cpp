// Batched transpose against a direct index reference; exact (it only moves values).
#include <gtest/gtest.h>

#include <tuple>

#include "kernels/transpose.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

class Transpose : public ::testing::TestWithParam<std::tuple<int, int, int>> {};

TEST_P(Transpose, MatchesReference) {
  const auto [rows, cols, batch] = GetParam();
  const std::size_t n = std::size_t(rows) * cols * batch;
  const auto h = test::random_vector(n, rows * 131 + cols);
  auto in = test::to_device(h);
  auto out = test::poisoned(n);
  transpose(in.data(), out.data(), rows, cols, batch);
  const auto got = out.to_host();
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        ASSERT_EQ(got[(std::size_t(b) * cols + j) * rows + i],
                  h[(std::size_t(b) * rows + i) * cols + j])
            << "b=" << b << " i=" << i << " j=" << j;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Transpose,
                         ::testing::Values(std::tuple{1, 1, 1}, std::tuple{1, 257, 1},
                                           std::tuple{257, 1, 1}, std::tuple{31, 33, 1},
                                           std::tuple{65, 97, 3}, std::tuple{128, 64, 2},
                                           std::tuple{300, 41, 1}));

TEST(TransposeEdges, RejectsNegativeSizes) {
  EXPECT_THROW(transpose(nullptr, nullptr, -1, 3), Error);
}

}  // namespace
}  // namespace gq::kernels
