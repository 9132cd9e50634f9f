// TTA: every view of awkward shapes against a reference written from the torch expressions
// (F.pad 'reflect' then a window, .flip(-1)); the combination against the formula in double, with
// its weights (1/4 for the plain and mirrored views, 1/8 for each translated one) checked
// separately on one-hot logits; poisoned outputs; argument checks.
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "kernels/tta.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

// x reflect-padded by 1 (F.pad(x, (1, 1, 1, 1), 'reflect')) of one plane.
std::vector<float> pad1_reflect(const float* plane, int h, int w) {
  std::vector<float> p(std::size_t(h + 2) * (w + 2));
  const auto r = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  for (int y = 0; y < h + 2; ++y)
    for (int x = 0; x < w + 2; ++x) p[y * (w + 2) + x] = plane[r(y - 1, h) * w + r(x - 1, w)];
  return p;
}

// One view of one plane, as the torch code builds it.
std::vector<float> view_ref(const float* plane, int h, int w, int v) {
  std::vector<float> out(std::size_t(h) * w);
  const std::vector<float> padded = pad1_reflect(plane, h, w);
  const int corner = v < 2 ? 1 : (v < 4 ? 0 : 2);  // [0:h, 0:w] is t(-1,-1), [2:, 2:] t(+1,+1)
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int xs = (v & 1) ? w - 1 - x : x;  // .flip(-1) of the window
      out[y * w + x] = padded[(y + corner) * (w + 2) + xs + corner];
    }
  return out;
}

class TtaViews : public ::testing::TestWithParam<std::tuple<int, int, int, int, int>> {};

TEST_P(TtaViews, EveryViewIsTheTorchExpression) {
  const auto [n, c, h, w, level] = GetParam();
  const std::size_t plane = std::size_t(h) * w, count = std::size_t(n) * c * plane;
  const auto hx = test::random_vector(count, 7 + n + h);
  const auto x = test::to_device(hx);
  const int views = tta_view_count(level);
  auto out = test::poisoned(views * count);
  tta_make_views(x.data(), n, c, h, w, level, out.data());
  const auto got = out.to_host();
  for (int v = 0; v < views; ++v)
    for (std::size_t p = 0; p < std::size_t(n) * c; ++p) {
      const auto want = view_ref(hx.data() + p * plane, h, w, v);
      const float* g = got.data() + (v * std::size_t(n) * c + p) * plane;
      ASSERT_TRUE(std::equal(want.begin(), want.end(), g)) << "view " << v << " plane " << p;
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, TtaViews,
                         ::testing::Values(std::make_tuple(3, 3, 32, 32, 2),
                                           std::make_tuple(1, 1, 2, 2, 2),
                                           std::make_tuple(5, 2, 7, 3, 2),
                                           std::make_tuple(2, 4, 17, 31, 1),
                                           std::make_tuple(257, 1, 3, 5, 2),
                                           std::make_tuple(4, 3, 9, 9, 0)));

TEST(TtaCombine, MatchesTheFormulaInDouble) {
  for (const int level : {0, 1, 2})
    for (const auto& [n, classes] : {std::pair{1, 1}, std::pair{31, 10}, std::pair{257, 17},
                                    std::pair{4097, 3}}) {
      const int views = tta_view_count(level);
      const std::size_t count = std::size_t(n) * classes;
      const auto hl = test::random_vector(views * count, 11 + level, -5.0f, 5.0f);
      const auto l = test::to_device(hl);
      auto out = test::poisoned(count);
      tta_combine(l.data(), n, classes, level, out.data());
      std::vector<double> want(count);
      for (std::size_t i = 0; i < count; ++i) {
        const auto f = [&](int v) { return double(hl[v * count + i]); };
        if (level == 0) want[i] = f(0);
        if (level == 1) want[i] = 0.5 * f(0) + 0.5 * f(1);
        if (level == 2) {
          const double mirror = 0.5 * f(0) + 0.5 * f(1);
          const double translated = 0.5 * ((0.5 * f(2) + 0.5 * f(3)) + (0.5 * f(4) + 0.5 * f(5)));
          want[i] = 0.5 * mirror + 0.5 * translated;
        }
      }
      EXPECT_TRUE(test::all_close(out.to_host(), want, 1e-6, 1e-6))
          << "level " << level << " n " << n << " classes " << classes;
    }
}

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
