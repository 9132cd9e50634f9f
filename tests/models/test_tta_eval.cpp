// TestTimeAugmentation around a real model (conv + pooling + linear): levels 0, 1 and 2 against
// the same model run on views built on the host from the torch expressions, combined in double;
// the output poisoned first; level 0 equals the plain forward bit for bit.
#include <gtest/gtest.h>

#include <vector>

#include "models/conv2d.h"
#include "models/linear.h"
#include "models/sequential.h"
#include "models/simple_layers.h"
#include "models/tta_eval.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

constexpr int kN = 5, kC = 3, kH = 8, kW = 7, kClasses = 4;

std::unique_ptr<Sequential> small_model() {
  auto m = std::make_unique<Sequential>();
  m->add("conv", std::make_unique<Conv2d>(6, 3, 1, 1));
  m->add("gap", std::make_unique<GlobalAvgPool>());
  m->add("fc", std::make_unique<Linear>(kClasses));
  m->setup(Shape{kC, kH, kW}, kN);
  m->initialize(17);
  return m;
}

// View v of every plane: reflect-pad by 1, window at corner (1, 0 or 2), optionally mirrored.
std::vector<float> host_view(const std::vector<float>& x, int v) {
  std::vector<float> out(x.size());
  const int corner = v < 2 ? 1 : (v < 4 ? 0 : 2);
  const auto r = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  for (std::size_t p = 0; p < x.size() / (kH * kW); ++p)
    for (int y = 0; y < kH; ++y)
      for (int xo = 0; xo < kW; ++xo) {
        const int xs = (v & 1) ? kW - 1 - xo : xo;
        out[p * kH * kW + y * kW + xo] =
            x[p * kH * kW + r(y + corner - 1, kH) * kW + r(xs + corner - 1, kW)];
      }
  return out;
}

std::vector<float> run(Sequential& m, const std::vector<float>& x) {
  const auto d = test::to_device(x);
  m.forward(Context{nullptr, false}, d.data());
  std::vector<float> out(kN * kClasses);
  copy_to_host(out.data(), m.output(), out.size() * 4);
  return out;
}

TEST(TestTimeAugmentation, LevelsZeroOneTwoAgainstHostViews) {
  auto m = small_model();
  const auto hx = test::random_vector(std::size_t(kN) * kC * kH * kW, 3);
  const auto x = test::to_device(hx);
  std::vector<std::vector<float>> f;  // the model on each host-made view
  for (int v = 0; v < 6; ++v) f.push_back(run(*m, host_view(hx, v)));
  const TestTimeAugmentation::Forward forward = [&](const float* in) {
    return m->forward(Context{nullptr, false}, in);
  };
  for (const int level : {0, 1, 2}) {
    TestTimeAugmentation tta(kN, Shape{kC, kH, kW}, kClasses, level);
    auto out = test::poisoned(kN * kClasses);
    tta.logits(forward, x.data(), out.data());
    std::vector<double> want(kN * kClasses);
    for (std::size_t i = 0; i < want.size(); ++i) {
      const auto mirror = [&](int v) { return 0.5 * f[v][i] + 0.5 * f[v + 1][i]; };
      want[i] = level == 0 ? f[0][i]
                : level == 1 ? mirror(0)
                             : 0.5 * mirror(0) + 0.5 * (0.5 * (mirror(2) + mirror(4)));
    }
    EXPECT_TRUE(test::all_close(out.to_host(), want, 1e-5, 1e-5)) << "level " << level;
    if (level == 0) {
      EXPECT_EQ(out.to_host(), f[0]);
    }
    EXPECT_EQ(tta.views(), level == 0 ? 1 : (level == 1 ? 2 : 6));
  }
}

}  // namespace
}  // namespace gq::models
