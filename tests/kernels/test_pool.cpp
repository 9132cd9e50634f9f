// Max / average / global average pooling on odd, non-square shapes (window 2 stride 2, window 3
// stride 2 pad 1, window 3 stride 1 pad 1, ...): NaN propagation, ties, finite-difference checks
// of every backward against its forward, edge shapes. Against double references (outputs poisoned
// first) they are kernel cases (kernels/cases/pool_cases.cpp, run by gq_test_kernel_cases).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <ostream>
#include <string>

#include "kernels/pool.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {

// Readable test parameters (found by argument-dependent lookup, so outside the unnamed namespace).
void PrintTo(const PoolShape& s, std::ostream* os) {
  *os << "n" << s.n << " c" << s.c << " " << s.h << "x" << s.w << " window " << s.window
      << " stride " << s.stride << " pad " << s.pad;
}

namespace {

std::size_t in_size(const PoolShape& s) {
  return std::size_t(s.n) * s.c * s.h * s.w;
}
std::size_t out_size(const PoolShape& s) {
  return std::size_t(s.n) * s.c * s.out_h() * s.out_w();
}

// Well-separated values (a shuffled ramp with step 0.01, centred on 0): no ties, and a
// perturbation below 0.005 never changes which element of a window is the maximum.
std::vector<float> separated(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  HostRng rng(seed, 5);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(std::uint32_t(i))]);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.01f * (float(order[i]) - float(n) / 2);
  return v;
}

struct MaxRef {
  std::vector<double> y;
  std::vector<std::int32_t> argmax;
};

template <class Visit>
void for_each_window(const PoolShape& s, Visit visit) {
  for (int p = 0; p < s.n * s.c; ++p)
    for (int oh = 0; oh < s.out_h(); ++oh)
      for (int ow = 0; ow < s.out_w(); ++ow) {
        const std::size_t o = (std::size_t(p) * s.out_h() + oh) * s.out_w() + ow;
        std::vector<int> members;  // ih * w + iw of the in-bounds elements, row-major
        for (int ih = oh * s.stride - s.pad; ih < oh * s.stride - s.pad + s.window; ++ih)
          for (int iw = ow * s.stride - s.pad; iw < ow * s.stride - s.pad + s.window; ++iw)
            if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) members.push_back(ih * s.w + iw);
        visit(p, o, members);
      }
}

MaxRef maxpool_ref(const PoolShape& s, const std::vector<float>& x) {
  MaxRef r{std::vector<double>(out_size(s)), std::vector<std::int32_t>(out_size(s))};
  for_each_window(s, [&](int p, std::size_t o, const std::vector<int>& members) {
    const float* plane = x.data() + std::size_t(p) * s.h * s.w;
    int best = members.at(0);
    for (int m : members)  // the first NaN wins and stays
      if (plane[m] > plane[best] || (std::isnan(plane[m]) && !std::isnan(plane[best]))) best = m;
    r.y[o] = plane[best];
    r.argmax[o] = best;
  });
  return r;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double l = 0;
  for (std::size_t i = 0; i < a.size(); ++i) l += double(a[i]) * b[i];
  return l;
}

// Central differences of L(x) = sum forward(x) * g on a dozen random coordinates of x, against
// the analytic gradient `grad`.
template <class Forward>
void check_finite_differences(std::vector<float> x, const std::vector<float>& g,
                              const std::vector<float>& grad, Forward forward, float eps,
                              std::uint64_t seed) {
  HostRng pick(seed, 11);
  for (int t = 0; t < 12; ++t) {
    const std::size_t j = pick.below(static_cast<std::uint32_t>(x.size()));
    const float x0 = x[j];
    x[j] = x0 + eps;
    const float xp = x[j];
    const double lp = dot(forward(x), g);
    x[j] = x0 - eps;
    const float xm = x[j];
    const double lm = dot(forward(x), g);
    x[j] = x0;
    const double fd = (lp - lm) / (double(xp) - double(xm));
    EXPECT_NEAR(grad[j], fd, 1e-4 + 1e-3 * std::fabs(fd)) << "coordinate " << j;
  }
}

class Pool : public ::testing::TestWithParam<PoolShape> {};

// Max-pool forward of x, outputs poisoned first: the reference's values and argmax, exactly.
void expect_max_forward_matches_reference(const PoolShape& s, const std::vector<float>& x) {
  auto dx = test::to_device(x);
  auto y = test::poisoned(out_size(s));
  auto argmax = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, dx.data(), y.data(), argmax.data());
  const MaxRef want = maxpool_ref(s, x);
  EXPECT_TRUE(test::all_close(y.to_host(), want.y, 0, 0));
  EXPECT_EQ(argmax.to_host(), want.argmax);
}

// A NaN in a window is its maximum (the first one, if several), as in PyTorch: a NaN activation
// must not be hidden by pooling. Every third window of the plane gets NaNs at two places.
TEST_P(Pool, MaxForwardPropagatesTheFirstNaN) {
  const PoolShape s = GetParam();
  auto x = test::random_vector(in_size(s), 4 + s.h);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t i = 0; i < x.size(); i += 7) x[i] = nan;
  for (std::size_t i = 3; i < x.size(); i += 11) x[i] = nan;
  auto dx = test::to_device(x);
  auto y = test::poisoned(out_size(s));
  auto argmax = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, dx.data(), y.data(), argmax.data());
  const MaxRef want = maxpool_ref(s, x);
  EXPECT_EQ(argmax.to_host(), want.argmax);
  const auto got = y.to_host();
  for (std::size_t o = 0; o < got.size(); ++o)
    if (std::isnan(want.y[o]))
      EXPECT_TRUE(std::isnan(got[o])) << o;
    else
      EXPECT_EQ(got[o], want.y[o]) << o;
}

// Values from {-1, 0, 1}: most windows hold their max more than once, and the first of them (in
// row order) must win, also in the emulator's pair-by-pair path for 2x2 windows.
TEST_P(Pool, MaxForwardTiesPickTheFirstMaximum) {
  const PoolShape s = GetParam();
  auto x = test::random_vector(in_size(s), 9 + s.w);
  for (float& v : x) v = std::round(v);
  expect_max_forward_matches_reference(s, x);
}

// bf16 storage: the float kernel's argmax and to_bf16 of its values and gradients, bit for bit, on
// the same bf16-valued inputs (rounding makes ties common; NaNs included).
TEST_P(Pool, MaxBf16StorageGivesTheFloatKernelsBitsRounded) {
  const PoolShape s = GetParam();
  auto x = test::random_vector(in_size(s), 6 + s.h);
  for (std::size_t i = 5; i < x.size(); i += 13) x[i] = std::numeric_limits<float>::quiet_NaN();
  x = test::rounded_to_bf16(std::move(x));
  const auto g = test::rounded_to_bf16(test::random_vector(out_size(s), 7));
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(out_size(s)), dx = test::poisoned(in_size(s));
  auto argmax = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, d_x.data(), y.data(), argmax.data());
  maxpool2d_backward(s, d_g.data(), argmax.data(), dx.data());
  auto d_x16 = test::to_device_bf16(x), d_g16 = test::to_device_bf16(g);
  auto y16 = test::poisoned<bf16>(out_size(s)), dx16 = test::poisoned<bf16>(in_size(s));
  auto argmax16 = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, d_x16.data(), y16.data(), argmax16.data());
  maxpool2d_backward(s, d_g16.data(), argmax16.data(), dx16.data());
  EXPECT_EQ(argmax16.to_host(), argmax.to_host());
  const auto want_y = y.to_host(), want_dx = dx.to_host();
  const auto got_y = y16.to_host(), got_dx = dx16.to_host();
  for (std::size_t o = 0; o < got_y.size(); ++o)
    ASSERT_EQ(bits_of(got_y[o]), bits_of(to_bf16(want_y[o]))) << "y at " << o;
  for (std::size_t i = 0; i < got_dx.size(); ++i)
    ASSERT_EQ(bits_of(got_dx[i]), bits_of(to_bf16(want_dx[i]))) << "dx at " << i;
}

TEST_P(Pool, MaxBackwardMatchesFiniteDifferences) {
  const PoolShape s = GetParam();
  const auto x = separated(in_size(s), 4 + s.pad);
  const auto g = test::random_vector(out_size(s), 5);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(out_size(s)), dx = test::poisoned(in_size(s));
  auto argmax = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, d_x.data(), y.data(), argmax.data());
  maxpool2d_backward(s, d_g.data(), argmax.data(), dx.data());
  const auto forward = [&](const std::vector<float>& xs) {
    d_x.upload(xs);
    maxpool2d_forward(s, d_x.data(), y.data(), argmax.data());
    return y.to_host();
  };
  check_finite_differences(x, g, dx.to_host(), forward, 1e-3f, 6);
}

TEST_P(Pool, AvgBackwardMatchesFiniteDifferences) {
  const PoolShape s = GetParam();
  const auto x = test::random_vector(in_size(s), 9);
  const auto g = test::random_vector(out_size(s), 10);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(out_size(s)), dx = test::poisoned(in_size(s));
  avgpool2d_backward(s, d_g.data(), dx.data());
  const auto forward = [&](const std::vector<float>& xs) {
    d_x.upload(xs);
    avgpool2d_forward(s, d_x.data(), y.data());
    return y.to_host();
  };
  check_finite_differences(x, g, dx.to_host(), forward, 1e-2f, 12);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Pool,
    ::testing::Values(PoolShape{3, 5, 9, 7, 2, 2,
                                0},  // window 2 stride 2, odd sizes (drops an edge)
                      PoolShape{3, 5, 9, 7, 3, 2, 1},    // window 3 stride 2 pad 1
                      PoolShape{3, 5, 9, 7, 3, 1, 1},    // window 3 stride 1 pad 1 (same size)
                      PoolShape{2, 3, 8, 8, 2, 2, 0},    // the common even case
                      PoolShape{3, 2, 4, 150, 2, 2, 0},  // 2x2 rows longer than a 64-output chunk
                      PoolShape{1, 2, 13, 6, 3, 2, 0},   // non-square, no padding
                      PoolShape{2, 3, 5, 11, 3, 3, 1},   // stride = window with padding
                      PoolShape{2, 2, 6, 5, 4, 1, 2},    // overlapping windows, pad = window / 2
                      PoolShape{4, 1, 1, 1, 1, 1, 0},    // 1x1 planes
                      PoolShape{2, 3, 7, 7, 7, 7, 0}),   // one window over the whole plane
    [](const auto& info) {
      const PoolShape& s = info.param;
      return std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" +
             std::to_string(s.w) + "_k" + std::to_string(s.window) + "s" +
             std::to_string(s.stride) + "p" + std::to_string(s.pad);
    });

TEST(PoolEdges, TiesPickTheFirstElementAndPaddingNeverWins) {
  const PoolShape s{1, 1, 5, 5, 3, 2, 1};
  // All equal and negative: padding (never a candidate) would win if it counted as 0.
  auto x = test::to_device(std::vector<float>(25, -2.0f));
  auto y = test::poisoned(out_size(s));
  auto argmax = test::poisoned<std::int32_t>(out_size(s));
  maxpool2d_forward(s, x.data(), y.data(), argmax.data());
  for (float v : y.to_host()) EXPECT_EQ(v, -2.0f);
  // Window (oh, ow) starts at (2oh - 1, 2ow - 1); its first in-bounds element is the clamped start.
  const std::vector<std::int32_t> want = {0, 1, 3, 5, 6, 8, 15, 16, 18};
  EXPECT_EQ(argmax.to_host(), want);
}

TEST(PoolEdges, MaxBackwardWritesZerosWhereNothingWasPicked) {
  const PoolShape s{1, 1, 4, 4, 2, 2, 0};
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = float(i);  // each window picks its bottom-right element
  auto d_x = test::to_device(x);
  auto d_g = test::to_device(std::vector<float>{1, 2, 3, 4});
  auto y = test::poisoned(4), dx = test::poisoned(16);
  auto argmax = test::poisoned<std::int32_t>(4);
  maxpool2d_forward(s, d_x.data(), y.data(), argmax.data());
  maxpool2d_backward(s, d_g.data(), argmax.data(), dx.data());
  std::vector<float> want(16, 0.0f);
  want[5] = 1, want[7] = 2, want[13] = 3, want[15] = 4;
  EXPECT_EQ(dx.to_host(), want);
}

TEST(PoolEdges, AvgExcludesPaddingFromTheCount) {
  const PoolShape s{1, 1, 2, 2, 3, 1, 1};
  auto x = test::to_device(std::vector<float>{1, 2, 3, 4});
  auto y = test::poisoned(4);
  avgpool2d_forward(s, x.data(), y.data());
  // Every 3x3 window centred on a pixel of the 2x2 image covers all four pixels.
  for (float v : y.to_host()) EXPECT_EQ(v, 2.5f);
}

TEST(PoolEdges, RejectsBadShapes) {
  DeviceBuffer<float> buf(64);
  DeviceBuffer<std::int32_t> idx(64);
  const auto fwd = [&](PoolShape s) { maxpool2d_forward(s, buf.data(), buf.data(), idx.data()); };
  EXPECT_THROW(fwd({0, 1, 4, 4, 2, 2, 0}), gq::Error);   // empty batch
  EXPECT_THROW(fwd({1, 1, 4, 4, 0, 2, 0}), gq::Error);   // empty window
  EXPECT_THROW(fwd({1, 1, 4, 4, 2, 0, 0}), gq::Error);   // zero stride
  EXPECT_THROW(fwd({1, 1, 4, 4, 2, 2, -1}), gq::Error);  // negative pad
  EXPECT_THROW(fwd({1, 1, 4, 4, 3, 1, 2}), gq::Error);   // pad > window / 2
  EXPECT_THROW(fwd({1, 1, 4, 2, 3, 1, 0}), gq::Error);   // window wider than the input
  EXPECT_THROW(avgpool2d_backward({1, 1, 2, 2, 5, 1, 1}, buf.data(), buf.data()), gq::Error);
  EXPECT_THROW(global_avgpool_forward(1, 0, 4, buf.data(), buf.data()), gq::Error);
  EXPECT_THROW(global_avgpool_backward(1, 1, 0, buf.data(), buf.data()), gq::Error);
}

struct GlobalShape {
  int n, c, hw;
};

void PrintTo(const GlobalShape& s, std::ostream* os) {
  *os << "n" << s.n << " c" << s.c << " hw " << s.hw;
}

class GlobalAvgPool : public ::testing::TestWithParam<GlobalShape> {};

TEST_P(GlobalAvgPool, BackwardMatchesFiniteDifferences) {
  const auto [n, c, hw] = GetParam();
  const std::size_t planes = std::size_t(n) * c;
  const auto x = test::random_vector(planes * hw, 21);
  const auto g = test::random_vector(planes, 22);
  auto d_x = test::to_device(x), d_g = test::to_device(g);
  auto y = test::poisoned(planes), dx = test::poisoned(planes * hw);
  global_avgpool_backward(n, c, hw, d_g.data(), dx.data());
  const auto grad = dx.to_host();
  const auto forward = [&](const std::vector<float>& xs) {
    d_x.upload(xs);
    global_avgpool_forward(n, c, hw, d_x.data(), y.data());
    return y.to_host();
  };
  // The forward's float sum over hw elements has rounding ~hw * 6e-8; a wide step keeps the
  // difference quotient well above it.
  check_finite_differences(x, g, grad, forward, 0.25f, 23);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GlobalAvgPool,
                         ::testing::Values(GlobalShape{3, 5, 63}, GlobalShape{2, 3, 1},
                                           GlobalShape{1, 2, 4097}, GlobalShape{4, 7, 49},
                                           GlobalShape{5, 67, 31}),
                         [](const auto& info) {
                           const GlobalShape& s = info.param;
                           return std::to_string(s.n) + "x" + std::to_string(s.c) + "x" +
                                  std::to_string(s.hw);
                         });

}  // namespace
}  // namespace gq::kernels
