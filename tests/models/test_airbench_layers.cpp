// airbench94's layer pieces: the registry's frozen tensors (layout, counts), BatchNorm with a
// frozen scale (training forward, running statistics with momentum 0.4 and the unbiased variance,
// eval forward, backward against a double reference and central differences, no gradient for the
// scale), and Dirac initialisation of Conv2d.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "kernels/elementwise.h"
#include "models/conv2d.h"
#include "models/norm_layers.h"
#include "models/sequential.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

TEST(FrozenParams, LaidOutAfterTheTrainableOnes) {
  ParamRegistry reg;
  const auto w1 = reg.add("a.weight", Shape{3, 2}, true, Init::ones);
  const auto b1 = reg.add("a.bias", Shape{3}, false, Init::zeros);
  const auto g = reg.add_frozen("n.weight", Shape{4}, Init::ones);
  const auto w2 = reg.add("c.weight", Shape{5}, true, Init::ones);
  const auto b2 = reg.add("c.bias", Shape{2}, false, Init::zeros);
  reg.allocate();
  EXPECT_EQ(reg.info(w1).offset, 0u);
  EXPECT_EQ(reg.info(w2).offset, 6u);
  EXPECT_EQ(reg.decayed_count(), 11u);
  EXPECT_EQ(reg.info(b1).offset, 11u);
  EXPECT_EQ(reg.info(b2).offset, 14u);
  EXPECT_EQ(reg.trainable_count(), 16u);
  EXPECT_EQ(reg.info(g).offset, 16u);
  EXPECT_TRUE(reg.info(g).frozen);
  EXPECT_FALSE(reg.info(g).decay);
  EXPECT_EQ(reg.size(), 20u);
}

TEST(FrozenParams, WithoutFrozenTensorsTheLayoutIsUnchanged) {
  ParamRegistry reg;
  reg.add("a.bias", Shape{3}, false, Init::zeros);
  reg.add("a.weight", Shape{7}, true, Init::ones);
  reg.allocate();
  EXPECT_EQ(reg.info(1).offset, 0u);
  EXPECT_EQ(reg.info(0).offset, 7u);
  EXPECT_EQ(reg.trainable_count(), reg.size());
}

// ---- BatchNorm2d with a frozen scale ------------------------------------------------------------

struct BnCase {
  int n, c, h, w;
};

struct BnRef {  // training-mode forward and backward in double, gamma = 1
  std::vector<double> y, dx, dbeta, mean, var_biased;
};

BnRef bn_reference(const BnCase& s, const std::vector<float>& x, const std::vector<float>& beta,
                   const std::vector<float>& dy, double eps) {
  const std::size_t hw = std::size_t(s.h) * s.w, count = std::size_t(s.n) * hw;
  BnRef r{std::vector<double>(x.size()), std::vector<double>(x.size()),
          std::vector<double>(s.c), std::vector<double>(s.c), std::vector<double>(s.c)};
  const auto at = [&](int i, int ch, std::size_t k) { return (std::size_t(i) * s.c + ch) * hw + k; };
  for (int ch = 0; ch < s.c; ++ch) {
    double mean = 0, var = 0, sdy = 0, sdyx = 0;
    for (int i = 0; i < s.n; ++i)
      for (std::size_t k = 0; k < hw; ++k) mean += x[at(i, ch, k)];
    mean /= double(count);
    for (int i = 0; i < s.n; ++i)
      for (std::size_t k = 0; k < hw; ++k) var += std::pow(x[at(i, ch, k)] - mean, 2);
    var /= double(count);
    const double invstd = 1.0 / std::sqrt(var + eps);
    for (int i = 0; i < s.n; ++i)
      for (std::size_t k = 0; k < hw; ++k) {
        const double xhat = (x[at(i, ch, k)] - mean) * invstd;
        r.y[at(i, ch, k)] = xhat + beta[ch];
        sdy += dy[at(i, ch, k)];
        sdyx += dy[at(i, ch, k)] * xhat;
      }
    for (int i = 0; i < s.n; ++i)
      for (std::size_t k = 0; k < hw; ++k) {
        const double xhat = (x[at(i, ch, k)] - mean) * invstd;
        r.dx[at(i, ch, k)] = invstd * (dy[at(i, ch, k)] - sdy / count - xhat * sdyx / count);
      }
    r.dbeta[ch] = sdy;
    r.mean[ch] = mean;
    r.var_biased[ch] = var;
  }
  return r;
}

struct BnLayer {
  BatchNorm2d bn{0.4f, 1e-12f, BatchNorm2d::Scale::frozen_at_one};
  ParamRegistry reg;
  explicit BnLayer(const BnCase& s) {
    bn.setup("bn", Shape{s.c, s.h, s.w}, s.n, reg);
    reg.allocate();
    reg.initialize(1);
  }
  std::vector<float> running() {  // mean then variance
    std::vector<float> out;
    for (const StateTensor& t : bn.state_tensors()) {
      const std::size_t at = out.size();
      out.resize(at + t.size);
      copy_to_host(out.data() + at, t.data, t.size * sizeof(float));
    }
    return out;
  }
};

class FrozenScaleBatchNorm : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {
 protected:
  BnCase shape() const {
    const auto [n, c, h, w] = GetParam();
    return {n, c, h, w};
  }
};

TEST_P(FrozenScaleBatchNorm, RegistersTheScaleFrozenAtOne) {
  const BnCase s = shape();
  BnLayer l(s);
  const ParamInfo& gamma = l.reg.info(0);
  EXPECT_EQ(gamma.name, "bn.weight");
  EXPECT_TRUE(gamma.frozen);
  EXPECT_FALSE(l.reg.info(1).frozen);
  EXPECT_EQ(l.reg.trainable_count(), std::size_t(s.c));  // the shift only
  std::vector<float> values(l.reg.size());
  copy_to_host(values.data(), l.reg.values(), values.size() * 4);
  for (int ch = 0; ch < s.c; ++ch) EXPECT_EQ(values[gamma.offset + ch], 1.0f);
}

TEST_P(FrozenScaleBatchNorm, ForwardBackwardAndRunningStatistics) {
  const BnCase s = shape();
  BnLayer l(s);
  const std::size_t count = std::size_t(s.n) * s.c * s.h * s.w;
  const auto hx = test::random_vector(count, 3, -2.0f, 3.0f);
  const auto hdy = test::random_vector(count, 4);
  const auto hbeta = test::random_vector(s.c, 5);
  copy_to_device(l.reg.value(1), hbeta.data(), hbeta.size() * 4);
  const auto x = test::to_device(hx), dy = test::to_device(hdy);
  auto y = test::poisoned(count), dx = test::poisoned(count);
  const Context ctx;
  l.bn.forward(ctx, x.data(), y.data());
  l.bn.backward(ctx, x.data(), y.data(), dy.data(), dx.data());
  const BnRef ref = bn_reference(s, hx, hbeta, hdy, 1e-12);
  EXPECT_TRUE(test::all_close(y.to_host(), ref.y, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(dx.to_host(), ref.dx, 1e-5, 1e-4));
  std::vector<float> grads(l.reg.size());
  copy_to_host(grads.data(), l.reg.grads(), grads.size() * 4);
  const std::size_t beta_at = l.reg.info(1).offset, gamma_at = l.reg.info(0).offset;
  EXPECT_TRUE(test::all_close({grads.data() + beta_at, std::size_t(s.c)}, ref.dbeta, 1e-4, 1e-5));
  for (int ch = 0; ch < s.c; ++ch) EXPECT_EQ(grads[gamma_at + ch], 0.0f) << "scale got a gradient";

  // running = 0.6 running + 0.4 batch, from (0, 1); the variance unbiased.
  const std::vector<float> running = l.running();
  const double m = double(s.n) * s.h * s.w;
  for (int ch = 0; ch < s.c; ++ch) {
    EXPECT_NEAR(running[ch], 0.4 * ref.mean[ch], 1e-5);
    EXPECT_NEAR(running[s.c + ch], 0.6 + 0.4 * ref.var_biased[ch] * m / (m - 1), 1e-5);
  }
  // A plain SGD step over the whole vector (what an optimizer unaware of frozen tensors does)
  // leaves the scale at 1.
  kernels::axpy(l.reg.size(), -0.5f, l.reg.grads(), l.reg.values());
  std::vector<float> after(l.reg.size());
  copy_to_host(after.data(), l.reg.values(), after.size() * 4);
  for (int ch = 0; ch < s.c; ++ch) EXPECT_EQ(after[gamma_at + ch], 1.0f);

  // Eval mode normalises with the running statistics.
  auto ye = test::poisoned(count);
  l.bn.forward(Context{nullptr, false}, x.data(), ye.data());
  std::vector<double> want(count);
  const std::size_t hw = std::size_t(s.h) * s.w;
  for (std::size_t i = 0; i < count; ++i) {
    const int ch = static_cast<int>((i / hw) % s.c);
    want[i] = (hx[i] - running[ch]) / std::sqrt(double(running[s.c + ch]) + 1e-12) +
              after[beta_at + ch];  // the shift after the step
  }
  EXPECT_TRUE(test::all_close(ye.to_host(), want, 1e-5, 1e-5));
}

// L = sum(y * g): dL/dx and dL/dbeta against central differences of the float forward.
TEST_P(FrozenScaleBatchNorm, BackwardMatchesFiniteDifferences) {
  const BnCase s = shape();
  if (std::size_t(s.n) * s.c * s.h * s.w > 5000) GTEST_SKIP() << "large case: reference only";
  BnLayer l(s);
  const std::size_t count = std::size_t(s.n) * s.c * s.h * s.w;
  auto hx = test::random_vector(count, 6, -2.0f, 2.0f);
  const auto g = test::random_vector(count, 7);
  auto x = test::to_device(hx);
  const auto dy = test::to_device(g);
  auto y = test::poisoned(count), dx = test::poisoned(count);
  const Context ctx;
  const auto loss = [&] {
    l.bn.forward(ctx, x.data(), y.data());
    const auto hy = y.to_host();
    double sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += double(hy[i]) * g[i];
    return sum;
  };
  loss();
  l.bn.backward(ctx, x.data(), y.data(), dy.data(), dx.data());
  const auto hdx = dx.to_host();
  const float h = 1e-2f;
  for (std::size_t k = 0; k < std::min<std::size_t>(count, 12); ++k) {
    const std::size_t i = (k * 7919) % count;
    const float keep = hx[i];
    hx[i] = keep + h;
    x.upload(hx);
    const double up = loss();
    hx[i] = keep - h;
    x.upload(hx);
    const double down = loss();
    hx[i] = keep;
    x.upload(hx);
    const double fd = (up - down) / (2.0 * h);
    EXPECT_NEAR(hdx[i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "x element " << i;
  }
  std::vector<float> grads(l.reg.size());
  copy_to_host(grads.data(), l.reg.grads(), grads.size() * 4);
  for (int ch = 0; ch < s.c; ++ch) {
    float* beta = l.reg.value(1) + ch;
    float b0;
    copy_to_host(&b0, beta, 4);
    const auto at = [&](float v) {
      copy_to_device(beta, &v, 4);
      const double r = loss();
      copy_to_device(beta, &b0, 4);
      return r;
    };
    const double fd = (at(b0 + h) - at(b0 - h)) / (2.0 * h);
    EXPECT_NEAR(grads[l.reg.info(1).offset + ch], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "beta " << ch;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FrozenScaleBatchNorm,
                         ::testing::Values(std::make_tuple(3, 5, 7, 9), std::make_tuple(2, 1, 1, 1),
                                           std::make_tuple(1, 3, 4, 4),
                                           std::make_tuple(5, 3, 31, 33)));

// ---- Dirac initialisation --------------------------------------------------------------------

std::vector<float> conv_weight(int in, int out, Conv2d::WeightInit init, std::uint64_t seed) {
  Sequential m;
  m.add("conv", std::make_unique<Conv2d>(out, 3, 1, 1, false, init));
  m.setup(Shape{in, 6, 5}, 2);
  m.initialize(seed);
  std::vector<float> w(m.params().size());
  copy_to_host(w.data(), m.params().values(), w.size() * 4);
  return w;
}

TEST(DiracInit, IdentityOnTheFirstChannelsDefaultInitElsewhere) {
  for (const auto& [in, out] : {std::pair{5, 7}, std::pair{5, 3}, std::pair{4, 4}, std::pair{1, 9}}) {
    const auto w = conv_weight(in, out, Conv2d::WeightInit::dirac, 11);
    const auto plain = conv_weight(in, out, Conv2d::WeightInit::fan_in_uniform, 11);
    const float bound = 1.0f / std::sqrt(float(in * 9));
    for (int o = 0; o < out; ++o)
      for (int i = 0; i < in; ++i)
        for (int k = 0; k < 9; ++k) {
          const std::size_t at = (std::size_t(o) * in + i) * 9 + k;
          if (o < std::min(in, out)) {
            ASSERT_EQ(w[at], (i == o && k == 4) ? 1.0f : 0.0f) << o << " " << i << " " << k;
          } else {
            ASSERT_EQ(w[at], plain[at]);  // PyTorch's default, the same draws as without dirac
            ASSERT_LE(std::fabs(w[at]), bound);
          }
        }
  }
}

TEST(DiracInit, TheFirstOutputChannelsCopyTheInput) {
  const int in = 3, out = 5, n = 2, h = 6, w = 5;
  Sequential m;
  m.add("conv", std::make_unique<Conv2d>(out, 3, 1, 1, false, Conv2d::WeightInit::dirac));
  m.setup(Shape{in, h, w}, n);
  m.initialize(2);
  const auto hx = test::random_vector(std::size_t(n) * in * h * w, 9);
  const auto x = test::to_device(hx);
  m.forward(Context{}, x.data());
  std::vector<float> y(std::size_t(n) * out * h * w);
  copy_to_host(y.data(), m.output(), y.size() * 4);
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < in; ++ch) {
      const std::span<const float> got(y.data() + (std::size_t(i) * out + ch) * h * w,
                                       std::size_t(h) * w);
      const std::span<const float> want(hx.data() + (std::size_t(i) * in + ch) * h * w,
                                        std::size_t(h) * w);
      EXPECT_TRUE(test::all_close(got, want, 1e-6, 0)) << "sample " << i << " channel " << ch;
    }
}

}  // namespace
}  // namespace gq::models
