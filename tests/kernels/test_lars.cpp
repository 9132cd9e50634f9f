// LARS: a skipped step and bad arguments. The double reference (tensors of awkward sizes, adapted
// and plain, a zero and an empty tensor) is a kernel case: kernels/cases/lars_cases.cpp.
#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "kernels/lars.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

TEST(LarsStep, ASkippedStepChangesNothing) {
  const std::vector<int> offsets = {0, 10, 25};
  auto p0 = test::random_vector(25, 1);
  auto param = test::to_device(p0);
  auto buf = test::to_device(std::vector<float>(25, 0.5f));
  auto grad = test::to_device(test::random_vector(25, 2));
  auto doffsets = DeviceBuffer<int>(std::span<const int>(offsets));
  auto trust = test::poisoned(2);
  auto apply = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(std::vector<int>{0}));
  lars_step(param.data(), grad.data(), buf.data(), 25, doffsets.data(), 2, 1, 0.1f, 0.9f, 1e-4f,
            0.001f, trust.data(), nullptr, apply.data());
  EXPECT_EQ(param.to_host(), p0);
  EXPECT_EQ(buf.to_host(), std::vector<float>(25, 0.5f));
}

TEST(LarsStep, BadArgumentsAreReported) {
  DeviceBuffer<float> p(4), g(4), b(4), t(1);
  DeviceBuffer<int> off(2);
  EXPECT_THROW(lars_step(p.data(), g.data(), b.data(), 4, off.data(), 1, 2, 0.1f, 0.9f, 0.0f,
                         0.001f, t.data()),
               Error);  // adapted > tensors
  EXPECT_THROW(lars_step(p.data(), g.data(), b.data(), 4, off.data(), 1, 1, 0.1f, 0.9f, 0.0f,
                         0.0f, t.data()),
               Error);  // eta = 0
  EXPECT_THROW(lars_step(p.data(), nullptr, b.data(), 4, off.data(), 1, 1, 0.1f, 0.9f, 0.0f,
                         0.001f, t.data()),
               Error);
}

}  // namespace
}  // namespace gq::kernels
