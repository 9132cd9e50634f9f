// dnn::Conv2d in bf16 (mixed precision): each pass against a host reference that rounds its two
// inputs to bf16 (runtime/bf16.h) and accumulates in double, within fp32 accumulation's
// tolerance; against the fp32 path within the bound bf16 rounding allows; different from fp32
// (the precision is not ignored); bit-identical reruns; activations stored in bf16 against the
// float passes, bit for bit.
//
// Tolerances. A bf16 has 8 significant bits: rounding to nearest moves a value by at most
// u = 2^-8 of itself. Products of bf16 values are exact in fp32 (8 + 8 significant bits), so a
// bf16 pass differs from the exact sum of the rounded products only by fp32 accumulation, the
// fp32 tests' 1e-6 + 1e-5 sum|x w|. Against the fp32 pass, each product x~ w~ = x w (1 + d1)(1 +
// d2) moves by at most (2u + u^2) |x w| < 2^-7 |x w|, so |y_bf16 - y_fp32| <= 2^-7 sum|x w| plus
// both accumulations' error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/bf16.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "tests/runtime/conv_reference.h"
#include "tests/test_util.h"

namespace gq {
namespace {

using dnn::Conv2d;
using dnn::Conv2dShape;
using namespace conv_reference;

constexpr double kFp32Rel = 1e-5, kAbs = 1e-6;
constexpr double kBf16Rel = 1.0 / 128;  // 2^-7: one product's bound, see above

// Elements with |got - want| > abs + rel * magnitude.
int count_outside(const std::vector<float>& got, const Ref& want, double rel) {
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want.val[i]) <= kAbs + rel * want.mag[i])) ++bad;
  return bad;
}

struct Passes {
  std::vector<float> y, dx, dw;
};
Passes run(Conv2d& conv, const std::vector<float>& x, const std::vector<float>& w,
           const std::vector<float>& g) {
  const Conv2dShape& s = conv.shape();
  auto dx_in = test::to_device(x), dw_in = test::to_device(w), dg = test::to_device(g);
  auto y = test::poisoned<float>(s.y_elems()), dx = test::poisoned<float>(s.x_elems()),
       dw = test::poisoned<float>(s.w_elems());
  conv.forward(dx_in.data(), dw_in.data(), y.data());
  conv.backward_data(dg.data(), dw_in.data(), dx.data());
  conv.backward_filter(dx_in.data(), dg.data(), dw.data());
  return {y.to_host(), dx.to_host(), dw.to_host()};
}

class ConvBf16 : public ::testing::TestWithParam<Conv2dShape> {
 protected:
  Conv2dShape s = GetParam();
  std::vector<float> x = test::random_vector(s.x_elems(), 1);
  std::vector<float> w = test::random_vector(s.w_elems(), 2);
  std::vector<float> g = test::random_vector(s.y_elems(), 3);
};

TEST_P(ConvBf16, EachPassIsTheRoundedInputsAccumulatedInFp32) {
  Conv2d conv(s, Precision::bf16);
  EXPECT_EQ(conv.precision(), Precision::bf16);
  const Passes got = run(conv, x, w, g);
  const std::vector<float> xr = test::rounded_to_bf16(x), wr = test::rounded_to_bf16(w),
                           gr = test::rounded_to_bf16(g);
  EXPECT_EQ(count_outside(got.y, ref_forward(s, xr, wr), kFp32Rel), 0) << "y";
  EXPECT_EQ(count_outside(got.dx, ref_backward_data(s, gr, wr), kFp32Rel), 0) << "dx";
  EXPECT_EQ(count_outside(got.dw, ref_backward_filter(s, xr, gr), kFp32Rel), 0) << "dw";
}

TEST_P(ConvBf16, CloseToFp32WithinBf16RoundingAndNotEqual) {
  Conv2d bf16(s, Precision::bf16), fp32(s);
  const Passes b = run(bf16, x, w, g), f = run(fp32, x, w, g);
  const Ref y = ref_forward(s, x, w), dx = ref_backward_data(s, g, w),
            dw = ref_backward_filter(s, x, g);
  // Within the bound against the exact result (which holds fp32 within its own tolerance).
  EXPECT_EQ(count_outside(b.y, y, kBf16Rel + kFp32Rel), 0) << "y";
  EXPECT_EQ(count_outside(b.dx, dx, kBf16Rel + kFp32Rel), 0) << "dx";
  EXPECT_EQ(count_outside(b.dw, dw, kBf16Rel + kFp32Rel), 0) << "dw";
  // And measurably not fp32: bf16's rounding puts outputs outside fp32's tolerance.
  EXPECT_GT(count_outside(b.y, y, kFp32Rel), 0) << "y: bf16 gave fp32's accuracy";
  EXPECT_GT(count_outside(b.dx, dx, kFp32Rel), 0) << "dx: bf16 gave fp32's accuracy";
  EXPECT_GT(count_outside(b.dw, dw, kFp32Rel), 0) << "dw: bf16 gave fp32's accuracy";
  EXPECT_EQ(count_outside(f.y, y, kFp32Rel), 0) << "fp32 y";
}

TEST_P(ConvBf16, BitIdenticalReruns) {
  Conv2d conv(s, Precision::bf16);
  const Passes a = run(conv, x, w, g), b = run(conv, x, w, g);
  EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), a.y.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.dw.data(), b.dw.data(), a.dw.size() * sizeof(float)), 0);
}

// bf16 activations (x, y, dy, dx stored in bf16; where the build has them): the float passes'
// results on the same bf16-valued x and dy, rounded to bf16, bit for bit (dw: the float pass's
// own bits, and accumulated). The library rounds a subnormal result to zero, which these inputs
// cannot produce (checked).
TEST_P(ConvBf16, Bf16ActivationsGiveTheFloatPassesBitsRounded) {
  Conv2d conv(s, Precision::bf16);
  if (!conv.bf16_activations()) GTEST_SKIP() << "no bf16 activations on this build";
  const std::vector<float> xr = test::rounded_to_bf16(x), gr = test::rounded_to_bf16(g);
  const Passes want = run(conv, xr, w, gr);
  auto dx_in = test::to_device_bf16(xr), dg = test::to_device_bf16(gr);
  auto dw_in = test::to_device(w);
  auto y = test::poisoned<bf16>(s.y_elems()), dx = test::poisoned<bf16>(s.x_elems());
  auto dw = test::to_device(std::vector<float>(s.w_elems(), 0.5f));
  conv.forward(dx_in.data(), dw_in.data(), y.data());
  conv.backward_data(dg.data(), dw_in.data(), dx.data());
  conv.backward_filter(dx_in.data(), dg.data(), dw.data(), /*accumulate=*/true);
  const auto expect_rounded = [](const std::vector<bf16>& got, const std::vector<float>& f,
                                 const char* what) {
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_FALSE(std::fpclassify(f[i]) == FP_SUBNORMAL) << what << " " << i;
      ASSERT_EQ(bits_of(got[i]), bits_of(to_bf16(f[i]))) << what << " at " << i;
    }
  };
  expect_rounded(y.to_host(), want.y, "y");
  expect_rounded(dx.to_host(), want.dx, "dx");
  const std::vector<float> got_dw = dw.to_host();
  for (std::size_t i = 0; i < got_dw.size(); ++i)
    ASSERT_EQ(got_dw[i], 0.5f + want.dw[i]) << "dw at " << i;
}

TEST(ConvBf16Plan, Bf16ActivationsNeedABf16Plan) {
  Conv2d conv(Conv2dShape{2, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1});
  if (!Conv2d(conv.shape(), Precision::bf16).bf16_activations()) GTEST_SKIP() << "GPU build";
  DeviceBuffer<bf16> x(conv.shape().x_elems()), y(conv.shape().y_elems());
  DeviceBuffer<float> w(conv.shape().w_elems());
  EXPECT_FALSE(conv.bf16_activations());
  EXPECT_THROW(conv.forward(x.data(), w.data(), y.data()), Error);
}

TEST(ConvBf16Plan, NamesItsImplementation) {
  const Conv2dShape s{4, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1};
  Conv2d conv(s, Precision::bf16);
  EXPECT_NE(conv.implementation().find("forward "), std::string::npos) << conv.implementation();
  ASSERT_FALSE(conv.implementation_names().empty());
  for (const std::string& name : conv.implementation_names())
    EXPECT_NE(conv.implementation().find(name), std::string::npos) << name;
}

Conv2dShape shape(int n, int c, int h, int k, int r, int stride, int pad) {
  return {n, c, h, h + 1, k, r, r, stride, stride, pad, pad};
}

// A first layer (c = 3, plain layouts for backward data), blocked layouts (16 and 32 channels),
// stride 2, a 1x1, a 4x widening (plain layouts for backward weights: the gemm-based kernel) and
// airbench's whitening stem (2x2, no padding).
INSTANTIATE_TEST_SUITE_P(Shapes, ConvBf16,
                         ::testing::Values(shape(2, 3, 9, 8, 3, 1, 1), shape(2, 16, 8, 16, 3, 1, 1),
                                           shape(3, 32, 7, 24, 3, 2, 1), shape(2, 16, 6, 32, 1, 1, 0),
                                           shape(3, 8, 7, 32, 3, 1, 1), shape(2, 3, 8, 24, 2, 1, 0)));

}  // namespace
}  // namespace gq
