// gather_rows' argument checks; its reference comparison (awkward shapes, outputs poisoned) is a
// kernel case: kernels/cases/gather_cases.cpp.
#include <gtest/gtest.h>

#include "kernels/gather.h"
#include "runtime/error.h"

namespace gq::kernels {
namespace {

TEST(GatherRowsEdges, RejectsBadArguments) {
  EXPECT_THROW(gather_rows(nullptr, nullptr, nullptr, 0, 3, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace gq::kernels
