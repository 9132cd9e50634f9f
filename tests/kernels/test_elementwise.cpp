// Elementwise kernels at their edges. Against scalar references on awkward sizes, outputs poisoned
// first, they are kernel cases (kernels/cases/elementwise_cases.cpp, run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include "kernels/elementwise.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

TEST(ElementwiseEdges, ZeroLengthTouchesNothing) {
  auto x = test::poisoned(4);
  fill(x.data(), 0, 1.0f);
  for (float v : x.to_host()) EXPECT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace gq::kernels
