// TTA: the combination's weights (1/4 for the plain and mirrored views, 1/8 for each translated
// one) on one-hot logits, and argument checks. The views against the torch expressions and the
// combination against its formula in double are kernel cases (kernels/cases/tta_cases.cpp).
#include <gtest/gtest.h>

#include <vector>

#include "kernels/tta.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

TEST(TtaCombine, WeightsOfTheViews) {
  const double expected[3][6] = {{1, 0, 0, 0, 0, 0},
                                 {0.5, 0.5, 0, 0, 0, 0},
                                 {0.25, 0.25, 0.125, 0.125, 0.125, 0.125}};
  for (const int level : {0, 1, 2}) {
    const int views = tta_view_count(level);
    for (int v = 0; v < views; ++v) {
      std::vector<float> one_hot(views, 0.0f);
      one_hot[v] = 1.0f;
      const auto l = test::to_device(one_hot);
      auto out = test::poisoned(1);
      tta_combine(l.data(), 1, 1, level, out.data());
      EXPECT_EQ(out.to_host()[0], expected[level][v]) << "level " << level << " view " << v;
    }
  }
}

TEST(Tta, RejectsBadArguments) {
  DeviceBuffer<float> a(64), b(6 * 64);
  EXPECT_THROW(tta_view_count(3), gq::Error);
  EXPECT_THROW(tta_make_views(a.data(), 1, 1, 8, 8, -1, b.data()), gq::Error);
  EXPECT_THROW(tta_make_views(a.data(), 1, 1, 1, 8, 2, b.data()), gq::Error);  // h < 2
  EXPECT_THROW(tta_make_views(a.data(), 1, 1, 8, 8, 2, a.data()), gq::Error);  // aliased
  EXPECT_THROW(tta_combine(b.data(), 0, 10, 2, a.data()), gq::Error);
  EXPECT_THROW(tta_combine(b.data(), 1, 10, 4, a.data()), gq::Error);
}

}  // namespace
}  // namespace gq::kernels
