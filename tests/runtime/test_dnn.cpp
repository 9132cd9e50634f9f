// gq::dnn::Conv2d against naive double-precision loops: forward, backward_data and
// backward_filter (accumulate on/off) for strides 1/2, padding 0/1/2, 1x1/3x3/5x5 and non-square
// kernels, non-square and odd inputs; finite-difference checks of both backward passes against
// forward; bit-identical reruns; invalid shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "tests/runtime/conv_reference.h"

namespace gq {
namespace {

using dnn::Conv2d;
using dnn::Conv2dShape;
using namespace conv_reference;

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

DeviceBuffer<float> to_device(const std::vector<float>& host) {
  return DeviceBuffer<float>(std::span<const float>(host));
}

DeviceBuffer<float> poisoned(std::size_t n) {
  DeviceBuffer<float> b(n);
  b.fill_bytes(0xFF);
  return b;
}

std::string describe(const Conv2dShape& s) {
  std::string out;
  const std::pair<const char*, int> parts[] = {
      {"n", s.n},        {"c", s.c},        {"h", s.h},    {"w", s.w},
      {"k", s.k},        {"r", s.r},        {"s", s.s},    {"_st", s.stride_h},
      {"x", s.stride_w}, {"_pad", s.pad_h}, {"x", s.pad_w}};
  for (const auto& [name, value] : parts) {
    out += name;
    out += std::to_string(value);
  }
  return out;
}

// |got - want| <= atol + 1e-5 * magnitude (fp32 sums of up to a few thousand terms), with
// `base` added to the reference (accumulate).
void expect_close(const std::vector<float>& got, const Ref& want, const char* what,
                  const std::vector<float>* base = nullptr) {
  ASSERT_EQ(got.size(), want.val.size());
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    double v = want.val[i], m = want.mag[i];
    if (base) {
      v += (*base)[i];
      m += std::fabs((*base)[i]);
    }
    const double tol = 1e-6 + 1e-5 * m;
    if (!(std::fabs(got[i] - v) <= tol) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", want " << v << " (tol " << tol
                    << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " differ";
}

class ConvTest : public ::testing::TestWithParam<Conv2dShape> {};

TEST_P(ConvTest, ForwardMatchesReference) {
  const Conv2dShape s = GetParam();
  Conv2d conv(s);
  const std::vector<float> x = random_vector(s.x_elems(), 1), w = random_vector(s.w_elems(), 2);
  DeviceBuffer<float> dx = to_device(x), dw = to_device(w), dy = poisoned(s.y_elems());
  conv.forward(dx.data(), dw.data(), dy.data());
  expect_close(dy.to_host(), ref_forward(s, x, w), "y");
}

TEST_P(ConvTest, BackwardDataMatchesReference) {
  const Conv2dShape s = GetParam();
  Conv2d conv(s);
  const std::vector<float> g = random_vector(s.y_elems(), 3), w = random_vector(s.w_elems(), 2);
  DeviceBuffer<float> dg = to_device(g), dw = to_device(w), dx = poisoned(s.x_elems());
  conv.backward_data(dg.data(), dw.data(), dx.data());
  expect_close(dx.to_host(), ref_backward_data(s, g, w), "dx");
}

TEST_P(ConvTest, BackwardFilterMatchesReference) {
  const Conv2dShape s = GetParam();
  Conv2d conv(s);
  const std::vector<float> x = random_vector(s.x_elems(), 1), g = random_vector(s.y_elems(), 3);
  DeviceBuffer<float> dx = to_device(x), dg = to_device(g), dw = poisoned(s.w_elems());
  const Ref want = ref_backward_filter(s, x, g);
  conv.backward_filter(dx.data(), dg.data(), dw.data());
  expect_close(dw.to_host(), want, "dw");

  // accumulate = true adds onto what is there.
  const std::vector<float> base = random_vector(s.w_elems(), 4);
  dw.upload(base);
  conv.backward_filter(dx.data(), dg.data(), dw.data(), /*accumulate=*/true);
  expect_close(dw.to_host(), want, "dw (accumulate)", &base);
}

// L(x, w) = sum(y * g) accumulated in double. Because the convolution is linear in x and in w,
// a central difference is exact up to rounding, so a large step keeps rounding noise small.
double loss(Conv2d& conv, const std::vector<float>& x, const std::vector<float>& w,
            const std::vector<float>& g) {
  const Conv2dShape& s = conv.shape();
  DeviceBuffer<float> dx = to_device(x), dw = to_device(w), dy = poisoned(s.y_elems());
  conv.forward(dx.data(), dw.data(), dy.data());
  const std::vector<float> y = dy.to_host();
  double sum = 0;
  for (std::size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y[i]) * g[i];
  return sum;
}

TEST_P(ConvTest, GradientsMatchFiniteDifferences) {
  const Conv2dShape s = GetParam();
  Conv2d conv(s);
  std::vector<float> x = random_vector(s.x_elems(), 1), w = random_vector(s.w_elems(), 2);
  const std::vector<float> g = random_vector(s.y_elems(), 3);
  DeviceBuffer<float> d_x = to_device(x), d_w = to_device(w), d_g = to_device(g);
  DeviceBuffer<float> d_dx = poisoned(s.x_elems()), d_dw = poisoned(s.w_elems());
  conv.backward_data(d_g.data(), d_w.data(), d_dx.data());
  conv.backward_filter(d_x.data(), d_g.data(), d_dw.data());
  const std::vector<float> gx = d_dx.to_host(), gw = d_dw.to_host();

  const float eps = 0.25f;
  std::mt19937 gen(5);
  auto check = [&](std::vector<float>& v, const std::vector<float>& grad, const char* what) {
    std::uniform_int_distribution<std::size_t> pick(0, v.size() - 1);
    for (int t = 0; t < 12; ++t) {
      const std::size_t i = t == 0 ? 0 : t == 1 ? v.size() - 1 : pick(gen);  // include corners
      const float orig = v[i];
      v[i] = orig + eps;
      const double lp = loss(conv, x, w, g);
      v[i] = orig - eps;
      const double lm = loss(conv, x, w, g);
      v[i] = orig;
      const double fd = (lp - lm) / (2.0 * eps);
      EXPECT_NEAR(grad[i], fd, 1e-3 + 1e-3 * std::fabs(fd)) << what << "[" << i << "]";
    }
  };
  check(x, gx, "dL/dx");
  check(w, gw, "dL/dw");
}

TEST_P(ConvTest, BitIdenticalReruns) {
  const Conv2dShape s = GetParam();
  Conv2d conv(s);
  DeviceBuffer<float> x = to_device(random_vector(s.x_elems(), 1));
  DeviceBuffer<float> w = to_device(random_vector(s.w_elems(), 2));
  DeviceBuffer<float> g = to_device(random_vector(s.y_elems(), 3));
  auto run = [&] {
    DeviceBuffer<float> y = poisoned(s.y_elems()), dx = poisoned(s.x_elems()),
                        dw = poisoned(s.w_elems());
    conv.forward(x.data(), w.data(), y.data());
    conv.backward_data(g.data(), w.data(), dx.data());
    conv.backward_filter(x.data(), g.data(), dw.data());
    std::vector<float> all = y.to_host(), hx = dx.to_host(), hw = dw.to_host();
    all.insert(all.end(), hx.begin(), hx.end());
    all.insert(all.end(), hw.begin(), hw.end());
    return all;
  };
  const std::vector<float> a = run(), b = run();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

std::vector<Conv2dShape> shapes() {
  auto mk = [](int n, int c, int h, int w, int k, int r, int s, int sh, int sw, int ph, int pw) {
    Conv2dShape x{n, c, h, w, k, r, s};
    x.stride_h = sh;
    x.stride_w = sw;
    x.pad_h = ph;
    x.pad_w = pw;
    return x;
  };
  return {
      mk(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1),      // 3x3 same
      mk(3, 5, 9, 7, 4, 3, 3, 1, 1, 0, 0),      // odd, non-square, valid
      mk(3, 5, 9, 7, 4, 3, 3, 2, 2, 1, 1),      // stride 2
      mk(2, 4, 10, 10, 6, 5, 5, 2, 2, 2, 2),    // 5x5 stride 2, last padded row unused
      mk(2, 4, 11, 8, 3, 5, 5, 1, 1, 2, 2),     // 5x5 same, non-square
      mk(2, 3, 6, 11, 5, 1, 1, 1, 1, 0, 0),     // 1x1
      mk(2, 3, 7, 6, 5, 1, 1, 2, 2, 0, 0),      // 1x1 stride 2 (downsampling shortcut)
      mk(2, 3, 11, 9, 2, 5, 3, 2, 1, 2, 1),     // non-square kernel and strides
      mk(1, 16, 12, 12, 32, 3, 3, 1, 1, 1, 1),  // channel counts that fill SIMD blocks
      mk(4, 32, 8, 8, 64, 3, 3, 2, 2, 1, 1),    // CIFAR-like downsampling
      mk(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),      // smallest
  };
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest, ::testing::ValuesIn(shapes()),
                         [](const auto& info) { return describe(info.param); });

TEST(Conv2d, ShapeHelpers) {
  Conv2dShape s{128, 64, 32, 32, 64, 3, 3};
  s.pad_h = s.pad_w = 1;
  EXPECT_EQ(s.out_h(), 32);
  EXPECT_EQ(s.out_w(), 32);
  EXPECT_DOUBLE_EQ(s.flops_forward(), 2.0 * 128 * 64 * 32 * 32 * 64 * 9);
  s.stride_h = 2;
  s.stride_w = 2;
  EXPECT_EQ(s.out_h(), 16);
  Conv2d conv(s);
  EXPECT_EQ(conv.shape().stride_h, 2);
  (void)conv.workspace_bytes();
}

TEST(Conv2d, MovedPlanStillWorks) {
  Conv2dShape s{2, 3, 5, 5, 2, 3, 3};
  Conv2d a(s);
  Conv2d b(std::move(a));
  const std::vector<float> x = random_vector(s.x_elems(), 1), w = random_vector(s.w_elems(), 2);
  DeviceBuffer<float> dx = to_device(x), dw = to_device(w), dy = poisoned(s.y_elems());
  b.forward(dx.data(), dw.data(), dy.data());
  expect_close(dy.to_host(), ref_forward(s, x, w), "y");
  Conv2d c(Conv2dShape{1, 1, 3, 3, 1, 1, 1});
  c = std::move(b);
  EXPECT_EQ(c.shape().c, 3);
}

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected gq::Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Conv2d, InvalidShapesThrow) {
  auto plan = [](Conv2dShape s) { return [s] { Conv2d conv(s); }; };
  const Conv2dShape ok{2, 3, 8, 8, 4, 3, 3};
  auto with = [&](auto edit) {
    Conv2dShape s = ok;
    edit(s);
    return s;
  };
  expect_error(plan(with([](Conv2dShape& s) { s.n = 0; })), "n=0");
  expect_error(plan(with([](Conv2dShape& s) { s.c = -2; })), "c=-2");
  expect_error(plan(with([](Conv2dShape& s) { s.w = 0; })), "w=0");
  expect_error(plan(with([](Conv2dShape& s) { s.k = 0; })), "k=0");
  expect_error(plan(with([](Conv2dShape& s) { s.s = -1; })), "s=-1");
  expect_error(plan(with([](Conv2dShape& s) { s.stride_w = 0; })), "stride_w=0");
  expect_error(plan(with([](Conv2dShape& s) { s.pad_h = -1; })), "pad_h=-1");
  expect_error(plan(with([](Conv2dShape& s) { s.r = 9; })), "output size must be positive");
  expect_error(plan(with([](Conv2dShape& s) {
                 s.h = 2;
                 s.r = 5;
                 s.pad_h = 1;
               })),
               "output size must be positive");
  expect_error(plan(with([](Conv2dShape& s) { s.pad_w = 3; })), "pad_w=3");
}

TEST(Conv2d, NullPointersThrow) {
  Conv2d conv(Conv2dShape{1, 1, 3, 3, 1, 1, 1});
  DeviceBuffer<float> b(9);
  expect_error([&] { conv.forward(nullptr, b.data(), b.data()); }, "null pointer");
  expect_error([&] { conv.backward_data(b.data(), nullptr, b.data()); }, "null pointer");
  expect_error([&] { conv.backward_filter(b.data(), b.data(), nullptr); }, "null pointer");
}

}  // namespace
}  // namespace gq
