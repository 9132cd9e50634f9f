// The layers whose arithmetic is a GEMM or a convolution (conv2d, linear, whitening), set up in
// bf16 (Layer::set_precision) against the same layer in fp32, same parameters and inputs:
// forward output, input gradient and parameter gradients within the bound bf16 rounding allows,
// and not equal to fp32 (the precision reaches the library). Bound: each input of a product is
// rounded to bf16 (8 significant bits, at most 2^-8 relative), so each product moves by less than
// 2^-7 of |product|; the sums of products differ by at most 2^-7 sum|products| plus the two fp32
// accumulations' 1e-5 sum|products| each. Bias terms and their gradients are fp32 in both: equal.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "models/conv2d.h"
#include "models/linear.h"
#include "models/whitening.h"
#include "models/zoo.h"
#include "tests/runtime/conv_reference.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

constexpr double kRel = 1.0 / 128 + 2e-5, kAbs = 2e-6;

// Checks |bf16 - fp32| <= kAbs + kRel * mag elementwise, and that the two are not identical.
void expect_bf16_close(const std::vector<float>& bf, const std::vector<float>& fp,
                       const std::vector<double>& mag, const char* what) {
  ASSERT_EQ(bf.size(), fp.size());
  ASSERT_EQ(bf.size(), mag.size());
  int bad = 0;
  for (std::size_t i = 0; i < bf.size(); ++i)
    if (!(std::fabs(bf[i] - fp[i]) <= kAbs + kRel * mag[i]) && ++bad <= 3)
      ADD_FAILURE() << what << "[" << i << "]: bf16 " << bf[i] << ", fp32 " << fp[i] << ", bound "
                    << kAbs + kRel * mag[i];
  EXPECT_EQ(bad, 0) << what;
  EXPECT_NE(std::memcmp(bf.data(), fp.data(), bf.size() * sizeof(float)), 0)
      << what << ": bf16 gave fp32's bits";
}

// One layer set up alone, in a precision, with parameters from a fixed seed.
struct Single {
  std::unique_ptr<Layer> layer;
  ParamRegistry reg;
  Shape out;
  Single(std::unique_ptr<Layer> l, const Shape& in, int n, Precision p) : layer(std::move(l)) {
    layer->set_precision(p);
    out = layer->setup("layer", in, n, reg);
    reg.allocate();
    reg.initialize(7);
  }
  std::vector<float> grad(ParamRegistry::Id id) {
    std::vector<float> g(reg.info(id).numel());
    copy_to_host(g.data(), reg.grad(id), g.size() * sizeof(float));
    return g;
  }
  std::vector<float> value(ParamRegistry::Id id) {
    std::vector<float> v(reg.info(id).numel());
    copy_to_host(v.data(), reg.value(id), v.size() * sizeof(float));
    return v;
  }
};

struct Results {
  std::vector<float> y, dx;
};
Results forward_backward(Single& l, const std::vector<float>& x, const std::vector<float>& dy) {
  const auto dx_in = test::to_device(x), ddy = test::to_device(dy);
  auto y = test::poisoned<float>(dy.size()), dx = test::poisoned<float>(x.size());
  const Context ctx;
  l.layer->forward(ctx, dx_in.data(), y.data());
  l.layer->backward(ctx, dx_in.data(), y.data(), ddy.data(), dx.data());
  return {y.to_host(), dx.to_host()};
}

TEST(Bf16Layers, Conv2dForwardAndBackward) {
  const int n = 3;
  const Shape in{8, 9, 7};
  auto make = [] { return std::make_unique<Conv2d>(16, 3, 1, 1, /*bias=*/true); };
  Single f(make(), in, n, Precision::fp32), b(make(), in, n, Precision::bf16);
  const auto x = test::random_vector(std::size_t(n) * in.numel(), 1);
  const auto dy = test::random_vector(std::size_t(n) * f.out.numel(), 2);
  const Results rf = forward_backward(f, x, dy), rb = forward_backward(b, x, dy);
  auto& conv = static_cast<Conv2d&>(*f.layer);
  const dnn::Conv2dShape& s = conv.shape();
  const auto w = f.value(conv.weight_id());
  expect_bf16_close(rb.y, rf.y, conv_reference::ref_forward(s, x, w).mag, "y");
  expect_bf16_close(rb.dx, rf.dx, conv_reference::ref_backward_data(s, dy, w).mag, "dx");
  expect_bf16_close(b.grad(conv.weight_id()), f.grad(conv.weight_id()),
                    conv_reference::ref_backward_filter(s, x, dy).mag, "dw");
  EXPECT_EQ(b.grad(conv.bias_id()), f.grad(conv.bias_id())) << "the bias gradient is fp32";
}

TEST(Bf16Layers, WhiteningForwardAndInputGradient) {
  const int n = 2;
  const Shape in{3, 8, 7};
  Single f(std::make_unique<Whitening>(2), in, n, Precision::fp32),
      b(std::make_unique<Whitening>(2), in, n, Precision::bf16);
  auto& wf = static_cast<Whitening&>(*f.layer);
  const auto filters = test::random_vector(24 * 12, 3);
  wf.set_filters(filters);
  static_cast<Whitening&>(*b.layer).set_filters(filters);
  const auto x = test::random_vector(std::size_t(n) * in.numel(), 1);
  const auto dy = test::random_vector(std::size_t(n) * f.out.numel(), 2);
  const Results rf = forward_backward(f, x, dy), rb = forward_backward(b, x, dy);
  const dnn::Conv2dShape s{n, 3, 8, 7, 24, 2, 2};
  expect_bf16_close(rb.y, rf.y, conv_reference::ref_forward(s, x, filters).mag, "y");
  expect_bf16_close(rb.dx, rf.dx, conv_reference::ref_backward_data(s, dy, filters).mag, "dx");
}

// y = s (x W^T + b): the magnitudes of the three GEMMs' sums, scaled by s.
struct LinearMags {
  std::vector<double> y, dx, dw;
};
LinearMags linear_mags(int n, int in, int out, float s, const std::vector<float>& x,
                       const std::vector<float>& w, const std::vector<float>& dy) {
  LinearMags m{std::vector<double>(std::size_t(n) * out), std::vector<double>(std::size_t(n) * in),
               std::vector<double>(std::size_t(out) * in)};
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o)
      for (int j = 0; j < in; ++j) {
        const double xw = std::fabs(double(x[i * in + j]) * w[o * in + j]) * std::fabs(s);
        const double gw = std::fabs(double(dy[i * out + o]) * w[o * in + j]) * std::fabs(s);
        const double gx = std::fabs(double(dy[i * out + o]) * x[i * in + j]) * std::fabs(s);
        m.y[i * out + o] += xw;
        m.dx[i * in + j] += gw;
        m.dw[o * in + j] += gx;
      }
  return m;
}

TEST(Bf16Layers, LinearForwardAndBackwardWithOutputScale) {
  const int n = 12, in = 40, out = 10;
  const float scale = 1.0f / 9;
  auto make = [&] { return std::make_unique<Linear>(out, /*bias=*/true, scale); };
  Single f(make(), Shape{in}, n, Precision::fp32), b(make(), Shape{in}, n, Precision::bf16);
  const auto x = test::random_vector(std::size_t(n) * in, 1);
  const auto dy = test::random_vector(std::size_t(n) * out, 2);
  const Results rf = forward_backward(f, x, dy), rb = forward_backward(b, x, dy);
  auto& lin = static_cast<Linear&>(*f.layer);
  const LinearMags m = linear_mags(n, in, out, scale, x, f.value(lin.weight_id()), dy);
  expect_bf16_close(rb.y, rf.y, m.y, "y");
  expect_bf16_close(rb.dx, rf.dx, m.dx, "dx");
  expect_bf16_close(b.grad(lin.weight_id()), f.grad(lin.weight_id()), m.dw, "dw");
  EXPECT_EQ(b.grad(lin.bias_id()), f.grad(lin.bias_id())) << "the bias gradient is fp32";
}


// What a run's start-up line lists: each plan's library choice, once, from the model's own plans
// (no process-wide note: two models in one process report their own).
TEST(Bf16Layers, TheModelNamesWhatItsPlansRunOn) {
  const Shape in{3, 32, 32};
  auto bf16 = build_model("airbench94", in, 10);
  bf16->setup(in, 4, Precision::bf16);
  const LibraryChoices chosen = bf16->library_choices();
  ASSERT_FALSE(chosen.convolutions.empty());
  ASSERT_FALSE(chosen.gemms.empty());
  for (std::size_t i = 0; i < chosen.convolutions.size(); ++i)
    for (std::size_t j = i + 1; j < chosen.convolutions.size(); ++j)
      EXPECT_NE(chosen.convolutions[i], chosen.convolutions[j]);
  auto fp32 = build_model("airbench94", in, 10);
  fp32->setup(in, 4, Precision::fp32);
  EXPECT_EQ(fp32->library_choices().gemms, std::vector<std::string>{"blas::gemm"});
}

}  // namespace
}  // namespace gq::models
