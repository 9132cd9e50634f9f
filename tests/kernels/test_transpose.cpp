// The batched transpose's refusal of bad sizes. Against the index reference on awkward shapes it is
// a kernel case (kernels/cases/transpose_cases.cpp, run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include "kernels/transpose.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

TEST(TransposeEdges, RejectsNegativeSizes) {
  EXPECT_THROW(transpose(nullptr, nullptr, -1, 3), Error);
}

}  // namespace
}  // namespace gq::kernels
