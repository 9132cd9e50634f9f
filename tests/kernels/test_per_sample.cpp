// Per-sample weight gradients (kernels/per_sample.h) and the per-cluster means built on them
// (kernels/per_cluster_grad.h) on awkward shapes, outputs poisoned: against finite differences of
// each sample's own loss L_i = sum(y_i * g_i) (double reference forward), against the layer's
// ordinary weight gradient run on that sample alone (blas::gemm / dnn::Conv2d with n = 1), sums
// against the batch gradient, one cluster against the ordinary gradient over b, the chunked and
// piecewise library paths against the segmented one, strided output rows, and run-to-run
// determinism. The per-sample gradients and norms and the per-cluster means (every path) against
// double references are kernel cases (kernels/cases/per_sample_cases.cpp,
// per_cluster_grad_cases.cpp).
#include "kernels/per_sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cases/per_sample_reference.h"
#include "kernels/im2col.h"
#include "kernels/per_cluster_grad.h"
#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

using blas::Op;
using dnn::Conv2dShape;

constexpr double kAtol = 1e-4, kRtol = 1e-4;

std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

// ---- Clusterings ------------------------------------------------------------------------------

struct Clusters {
  int k;
  std::vector<int> order, offsets;
};

// Each sample goes to a random cluster other than `empty` (-1: none forced empty); samples within a
// cluster are listed in random order.
Clusters random_clusters(int b, int k, unsigned seed, int empty = -1) {
  std::mt19937 gen(seed);
  std::vector<std::vector<int>> members(k);
  for (int i = 0; i < b; ++i) {
    int c;
    do c = static_cast<int>(gen() % static_cast<unsigned>(k));
    while (c == empty && k > 1);
    members[c].push_back(i);
  }
  Clusters out{k, {}, {0}};
  for (auto& m : members) {
    std::shuffle(m.begin(), m.end(), gen);
    out.order.insert(out.order.end(), m.begin(), m.end());
    out.offsets.push_back(static_cast<int>(out.order.size()));
  }
  return out;
}

struct DeviceClusters {
  DeviceBuffer<int> order, offsets;
  int k, b;
  explicit DeviceClusters(const Clusters& cl)
      : order(std::span<const int>(cl.order)),
        offsets(std::span<const int>(cl.offsets)),
        k(cl.k),
        b(static_cast<int>(cl.order.size())) {}
  Clustering view() { return {order.data(), offsets.data(), nullptr, k, b}; }
};

const PerClusterPath kPaths[] = {PerClusterPath::segmented, PerClusterPath::library,
                                 PerClusterPath::library_conv};

std::string path_name(PerClusterPath p) {
  switch (p) {
    case PerClusterPath::segmented:
      return "segmented";
    case PerClusterPath::library:
      return "library";
    case PerClusterPath::library_conv:
      return "library_conv";
    default:
      return "automatic";
  }
}

// ---- Linear -----------------------------------------------------------------------------------

struct LinearCase {
  int b, in, out;
};

class LinearPerSample : public ::testing::TestWithParam<LinearCase> {
 protected:
  void SetUp() override {
    const auto [b, in, out] = GetParam();
    hx = test::random_vector(std::size_t(b) * in, 11);
    hdy = test::random_vector(std::size_t(b) * out, 12);
    hw = test::random_vector(std::size_t(out) * in, 13);
    hbias = test::random_vector(out, 14);
    x = test::to_device(hx);
    dy = test::to_device(hdy);
  }
  // Double-precision L_i = sum_o y_io * g_io with y_i = W x_i + bias.
  double loss(int i, const std::vector<double>& w, const std::vector<double>& bias) const {
    const auto [b, in, out] = GetParam();
    double l = 0;
    for (int o = 0; o < out; ++o) {
      double y = bias[o];
      for (int p = 0; p < in; ++p) y += w[o * in + p] * hx[std::size_t(i) * in + p];
      l += y * hdy[std::size_t(i) * out + o];
    }
    return l;
  }
  std::vector<float> hx, hdy, hw, hbias;
  DeviceBuffer<float> x, dy;
};

TEST_P(LinearPerSample, MatchesFiniteDifferencesOfEachSamplesLoss) {
  const auto [b, in, out] = GetParam();
  auto gw = test::poisoned(std::size_t(b) * out * in), gb = test::poisoned(std::size_t(b) * out);
  linear_per_sample_grads(x.data(), dy.data(), b, in, out, gw.data(), gb.data());
  const auto got_w = gw.to_host(), got_b = gb.to_host();
  std::vector<double> w = to_double(hw), bias = to_double(hbias);
  const double eps = 1e-3;
  std::vector<double> fd_w(got_w.size()), fd_b(got_b.size());
  for (int i = 0; i < b; ++i) {
    for (int e = 0; e < out * in; ++e) {
      const double keep = w[e];
      w[e] = keep + eps;
      const double up = loss(i, w, bias);
      w[e] = keep - eps;
      fd_w[std::size_t(i) * out * in + e] = (up - loss(i, w, bias)) / (2 * eps);
      w[e] = keep;
    }
    for (int o = 0; o < out; ++o) {
      const double keep = bias[o];
      bias[o] = keep + eps;
      const double up = loss(i, w, bias);
      bias[o] = keep - eps;
      fd_b[std::size_t(i) * out + o] = (up - loss(i, w, bias)) / (2 * eps);
      bias[o] = keep;
    }
  }
  EXPECT_TRUE(test::all_close(got_w, fd_w, 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(got_b, fd_b, 1e-6, 1e-5));
}

TEST_P(LinearPerSample, MatchesTheOrdinaryGradientOfEachSampleAloneAndSumsToTheBatchGradient) {
  const auto [b, in, out] = GetParam();
  auto gw = test::poisoned(std::size_t(b) * out * in);
  linear_per_sample_grads(x.data(), dy.data(), b, in, out, gw.data(), nullptr);
  const auto got = gw.to_host();
  auto one = test::poisoned(std::size_t(out) * in);
  std::vector<double> sum(std::size_t(out) * in, 0.0);
  for (int i = 0; i < b; ++i) {
    blas::gemm(Op::T, Op::N, out, in, 1, 1.0f, dy.data() + std::size_t(i) * out, out,
               x.data() + std::size_t(i) * in, in, 0.0f, one.data(), in);
    const std::span<const float> mine(got.data() + std::size_t(i) * out * in, one.size());
    EXPECT_TRUE(test::all_close(mine, one.to_host(), 0.0, 1e-6)) << "sample " << i;
    for (std::size_t e = 0; e < sum.size(); ++e) sum[e] += mine[e];
  }
  auto batch = test::poisoned(std::size_t(out) * in);
  blas::gemm(Op::T, Op::N, out, in, b, 1.0f, dy.data(), out, x.data(), in, 0.0f, batch.data(), in);
  EXPECT_TRUE(test::all_close(batch.to_host(), sum, 1e-5, 1e-5));
}

TEST_P(LinearPerSample, OneClusterIsTheOrdinaryGradientOverB) {
  const auto [b, in, out] = GetParam();
  const Clusters cl = random_clusters(b, 1, 9);
  DeviceClusters dcl(cl);
  auto batch = test::poisoned(std::size_t(out) * in);
  blas::gemm(Op::T, Op::N, out, in, b, 1.0f / b, dy.data(), out, x.data(), in, 0.0f, batch.data(),
             in);
  for (PerClusterPath path : {PerClusterPath::automatic, PerClusterPath::segmented,
                              PerClusterPath::library, PerClusterPath::library_conv}) {
    auto gw = test::poisoned(std::size_t(out) * in);
    LinearPerClusterGrad(b, in, out, 1, path)
        .compute(x.data(), dy.data(), dcl.view(),
                 MatrixView::dense(gw.data(), 1, std::size_t(out) * in), {});
    EXPECT_TRUE(test::all_close(gw.to_host(), batch.to_host(), 1e-6, 1e-5));
  }
}

TEST_P(LinearPerSample, IsDeterministic) {
  const auto [b, in, out] = GetParam();
  const Clusters cl = random_clusters(b, 3, 21);
  DeviceClusters dcl(cl);
  for (PerClusterPath path : kPaths) {
    LinearPerClusterGrad grads(b, in, out, 3, path);
    std::vector<float> runs[2];
    for (auto& r : runs) {
      auto gw = test::poisoned(std::size_t(3) * out * in), gb = test::poisoned(3 * out);
      auto sq = test::poisoned(b);
      grads.compute(x.data(), dy.data(), dcl.view(),
                    MatrixView::dense(gw.data(), 3, std::size_t(out) * in),
                    MatrixView::dense(gb.data(), 3, out));
      linear_per_sample_sq_norms(x.data(), dy.data(), b, in, out, true, sq.data());
      r = gw.to_host();
      for (float v : gb.to_host()) r.push_back(v);
      for (float v : sq.to_host()) r.push_back(v);
    }
    EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearPerSample,
                         ::testing::Values(LinearCase{7, 33, 5}, LinearCase{1, 33, 5},
                                           LinearCase{37, 70, 41}, LinearCase{29, 20, 81}),
                         [](const auto& info) {
                           return "b" + std::to_string(info.param.b) + "_in" +
                                  std::to_string(info.param.in) + "_out" +
                                  std::to_string(info.param.out);
                         });

// ---- Conv2d -----------------------------------------------------------------------------------

Conv2dShape conv_shape(int r, int stride, int pad) {
  Conv2dShape s{5, 3, 9, 7, 4, r, r};
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  return s;
}

// More than one 64-row tile of output channels (blockIdx.y > 0 on the GPU's tiles), and split
// pieces of two positions that straddle samples (63 positions each).
Conv2dShape wide_conv_shape() {
  Conv2dShape s{5, 3, 9, 7, 72, 3, 3};
  s.stride_h = s.stride_w = 1;
  s.pad_h = s.pad_w = 1;
  return s;
}

class ConvPerSample : public ::testing::TestWithParam<Conv2dShape> {
 protected:
  void SetUp() override {
    s = GetParam();
    L = s.out_h() * s.out_w();
    p = s.c * s.r * s.s;
    hx = test::random_vector(s.x_elems(), 31);
    hdy = test::random_vector(s.y_elems(), 32);
    hw = test::random_vector(s.w_elems(), 33);
    hbias = test::random_vector(s.k, 34);
    x = test::to_device(hx);
    dy = test::to_device(hdy);
    scratch = DeviceBuffer<char>(conv2d_per_sample_scratch_bytes(s));
  }
  // x[i, ch, ih, iw] or 0 in the padding.
  double xat(int i, int ch, int ih, int iw) const {
    if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0;
    return hx[((std::size_t(i) * s.c + ch) * s.h + ih) * s.w + iw];
  }
  // Double-precision L_i = sum y_i * g_i with y_i = conv(x_i, W) + bias.
  double loss(int i, const std::vector<double>& w, const std::vector<double>& bias) const {
    double l = 0;
    for (int o = 0; o < s.k; ++o)
      for (int oh = 0; oh < s.out_h(); ++oh)
        for (int ow = 0; ow < s.out_w(); ++ow) {
          double y = bias[o];
          for (int ch = 0; ch < s.c; ++ch)
            for (int rr = 0; rr < s.r; ++rr)
              for (int ss = 0; ss < s.s; ++ss)
                y += w[((std::size_t(o) * s.c + ch) * s.r + rr) * s.s + ss] *
                     xat(i, ch, oh * s.stride_h - s.pad_h + rr, ow * s.stride_w - s.pad_w + ss);
          l += y * hdy[((std::size_t(i) * s.k + o) * s.out_h() + oh) * s.out_w() + ow];
        }
    return l;
  }
  // Reference per-sample bias gradients [b, k] in double.
  std::vector<double> ref_gb() const { return cases::conv_per_sample_reference(s, hx, hdy).gb; }
  Conv2dShape s;
  int L = 0, p = 0;
  std::vector<float> hx, hdy, hw, hbias;
  DeviceBuffer<float> x, dy;
  DeviceBuffer<char> scratch;
};

TEST_P(ConvPerSample, MatchesFiniteDifferencesOfEachSamplesLoss) {
  auto gw = test::poisoned(std::size_t(s.n) * s.w_elems()),
       gb = test::poisoned(std::size_t(s.n) * s.k);
  conv2d_per_sample_grads(s, x.data(), dy.data(), gw.data(), gb.data(), scratch.data());
  std::vector<double> w = to_double(hw), bias = to_double(hbias);
  const double eps = 1e-3;
  std::vector<double> fd_w(gw.size()), fd_b(gb.size());
  for (int i = 0; i < s.n; ++i) {
    for (std::size_t e = 0; e < s.w_elems(); ++e) {
      const double keep = w[e];
      w[e] = keep + eps;
      const double up = loss(i, w, bias);
      w[e] = keep - eps;
      fd_w[i * s.w_elems() + e] = (up - loss(i, w, bias)) / (2 * eps);
      w[e] = keep;
    }
    for (int o = 0; o < s.k; ++o) {
      const double keep = bias[o];
      bias[o] = keep + eps;
      const double up = loss(i, w, bias);
      bias[o] = keep - eps;
      fd_b[std::size_t(i) * s.k + o] = (up - loss(i, w, bias)) / (2 * eps);
      bias[o] = keep;
    }
  }
  EXPECT_TRUE(test::all_close(gw.to_host(), fd_w, kAtol, kRtol));
  EXPECT_TRUE(test::all_close(gb.to_host(), fd_b, kAtol, kRtol));
}

TEST_P(ConvPerSample, MatchesTheOrdinaryGradientOfEachSampleAloneAndSumsToTheBatchGradient) {
  auto gw = test::poisoned(std::size_t(s.n) * s.w_elems()),
       gb = test::poisoned(std::size_t(s.n) * s.k);
  conv2d_per_sample_grads(s, x.data(), dy.data(), gw.data(), gb.data(), scratch.data());
  const auto got = gw.to_host(), got_b = gb.to_host();
  Conv2dShape one_shape = s;
  one_shape.n = 1;
  dnn::Conv2d one(one_shape);
  auto one_gw = test::poisoned(s.w_elems());
  std::vector<double> sum(s.w_elems(), 0.0), sum_b(s.k, 0.0);
  const std::size_t x_per = s.x_elems() / s.n, y_per = s.y_elems() / s.n;
  for (int i = 0; i < s.n; ++i) {
    one.backward_filter(x.data() + i * x_per, dy.data() + i * y_per, one_gw.data());
    const std::span<const float> mine(got.data() + i * s.w_elems(), s.w_elems());
    EXPECT_TRUE(test::all_close(mine, one_gw.to_host(), 1e-5, 1e-5)) << "sample " << i;
    for (std::size_t e = 0; e < sum.size(); ++e) sum[e] += mine[e];
    for (int o = 0; o < s.k; ++o) sum_b[o] += got_b[std::size_t(i) * s.k + o];
  }
  dnn::Conv2d batch(s);
  auto batch_gw = test::poisoned(s.w_elems());
  batch.backward_filter(x.data(), dy.data(), batch_gw.data());
  EXPECT_TRUE(test::all_close(batch_gw.to_host(), sum, 1e-4, 1e-5));
  std::vector<double> want_b(s.k, 0.0);
  const auto gbr = ref_gb();
  for (int i = 0; i < s.n; ++i)
    for (int o = 0; o < s.k; ++o) want_b[o] += gbr[std::size_t(i) * s.k + o];
  std::vector<float> sum_bf(sum_b.begin(), sum_b.end());
  EXPECT_TRUE(test::all_close(sum_bf, want_b, 1e-4, 1e-5));
}

TEST_P(ConvPerSample, OneClusterIsTheOrdinaryGradientOverB) {
  const Clusters cl = random_clusters(s.n, 1, 9);
  DeviceClusters dcl(cl);
  dnn::Conv2d batch(s);
  auto batch_gw = test::poisoned(s.w_elems());
  batch.backward_filter(x.data(), dy.data(), batch_gw.data());
  std::vector<double> want(s.w_elems());
  const auto bg = batch_gw.to_host();
  for (std::size_t e = 0; e < want.size(); ++e) want[e] = double(bg[e]) / s.n;
  for (PerClusterPath path : {PerClusterPath::automatic, PerClusterPath::segmented,
                              PerClusterPath::library, PerClusterPath::library_conv}) {
    auto gw = test::poisoned(s.w_elems());
    Conv2dPerClusterGrad(s, 1, path)
        .compute(x.data(), dy.data(), dcl.view(), MatrixView::dense(gw.data(), 1, s.w_elems()), {});
    EXPECT_TRUE(test::all_close(gw.to_host(), want, 1e-5, 1e-5));
  }
}

TEST_P(ConvPerSample, IsDeterministic) {
  const Clusters cl = random_clusters(s.n, 3, 21);
  DeviceClusters dcl(cl);
  for (PerClusterPath path : kPaths) {
    Conv2dPerClusterGrad grads(s, 3, path);
    std::vector<float> runs[2];
    for (auto& r : runs) {
      auto gw = test::poisoned(std::size_t(3) * s.w_elems()), gb = test::poisoned(3 * s.k);
      auto sq = test::poisoned(2 * s.n);
      grads.compute(x.data(), dy.data(), dcl.view(), MatrixView::dense(gw.data(), 3, s.w_elems()),
                    MatrixView::dense(gb.data(), 3, s.k));
      conv2d_per_sample_sq_norms(s, NormMethod::instantiate, x.data(), dy.data(), true, sq.data(),
                                 scratch.data());
      conv2d_per_sample_sq_norms(s, NormMethod::ghost, x.data(), dy.data(), true, sq.data() + s.n,
                                 scratch.data());
      r = gw.to_host();
      for (float v : gb.to_host()) r.push_back(v);
      for (float v : sq.to_host()) r.push_back(v);
    }
    EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvPerSample,
                         ::testing::Values(conv_shape(3, 1, 1), conv_shape(3, 2, 1),
                                           conv_shape(1, 1, 0), conv_shape(5, 1, 2),
                                           wide_conv_shape()),
                         [](const auto& info) {
                           const Conv2dShape& s = info.param;
                           return "out" + std::to_string(s.k) + "_k" + std::to_string(s.r) + "_stride" +
                                  std::to_string(s.stride_h) + "_pad" + std::to_string(s.pad_h);
                         });

TEST(ConvNormMethod, FollowsTheCostModel) {
  // 32->64 3x3 on 16x16: L(p+d) = 256*352 > p*d = 288*64: instantiate.
  Conv2dShape early{4, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1};
  EXPECT_EQ(conv2d_norm_method(early), NormMethod::instantiate);
  // 64->128 on 8x8: 64*704 < 576*128: ghost. On 4x4 even more so.
  Conv2dShape late{4, 64, 8, 8, 128, 3, 3, 1, 1, 1, 1};
  EXPECT_EQ(conv2d_norm_method(late), NormMethod::ghost);
}

// The library path processes a cluster in chunks of samples and library_conv in pieces of 32, 16,
// ..., 1 samples; clusters larger than one chunk / piece must give the segmented path's means.
TEST(ConvPerCluster, ChunkedAndPiecewiseLibraryPathsAgreeWithTheSegmentedPath) {
  const Conv2dShape s{75, 3, 9, 7, 4, 3, 3, 2, 1, 1, 1};
  const auto hx = test::random_vector(s.x_elems(), 41), hdy = test::random_vector(s.y_elems(), 42);
  auto x = test::to_device(hx), dy = test::to_device(hdy);
  const Clusters cl = random_clusters(s.n, 2, 43);
  ASSERT_GT(cl.offsets[1], 32);
  ASSERT_GT(cl.offsets[2] - cl.offsets[1], 32);
  DeviceClusters dcl(cl);
  // 3 samples per chunk: clusters of ~37 take many chunks, the last one partial.
  const std::size_t chunk_floats = std::size_t(3) * s.out_h() * s.out_w() * (s.c * 9 + s.k);
  auto want = test::poisoned(2 * s.w_elems()), wantb = test::poisoned(2 * s.k);
  Conv2dPerClusterGrad(s, 2, PerClusterPath::segmented, chunk_floats)
      .compute(x.data(), dy.data(), dcl.view(), MatrixView::dense(want.data(), 2, s.w_elems()),
               MatrixView::dense(wantb.data(), 2, s.k));
  for (PerClusterPath path : {PerClusterPath::library, PerClusterPath::library_conv}) {
    auto got = test::poisoned(2 * s.w_elems()), gotb = test::poisoned(2 * s.k);
    Conv2dPerClusterGrad(s, 2, path, chunk_floats)
        .compute(x.data(), dy.data(), dcl.view(), MatrixView::dense(got.data(), 2, s.w_elems()),
                 MatrixView::dense(gotb.data(), 2, s.k));
    EXPECT_TRUE(test::all_close(got.to_host(), want.to_host(), 1e-5, 1e-5)) << path_name(path);
    EXPECT_TRUE(test::all_close(gotb.to_host(), wantb.to_host(), 0.0, 0.0)) << path_name(path);
  }
}

// A layer writes its rows straight into its columns of the k x P matrix: strided rows must hold
// the contiguous result bit for bit and leave the columns between them untouched.
TEST(PerClusterRows, StridedRowsEqualContiguousRowsOnEveryPath) {
  const Conv2dShape s = wide_conv_shape();
  const int b = s.n, in = 33, out = 70, k = 3, pad = 5;
  auto x = test::to_device(test::random_vector(s.x_elems(), 51)),
       dy = test::to_device(test::random_vector(s.y_elems(), 52)),
       fx = test::to_device(test::random_vector(std::size_t(b) * in, 53)),
       fdy = test::to_device(test::random_vector(std::size_t(b) * out, 54));
  const Clusters cl = random_clusters(b, k, 55, /*empty=*/1);
  DeviceClusters dcl(cl);
  // Runs compute into contiguous and into strided rows (gw, then gb, in one matrix), compares.
  auto check = [&](auto& grads, const DeviceBuffer<float>& xs, const DeviceBuffer<float>& dys,
                   std::size_t wc, std::size_t bc, const std::string& what) {
    auto gw = test::poisoned(k * wc), gb = test::poisoned(k * bc);
    grads.compute(xs.data(), dys.data(), dcl.view(), MatrixView::dense(gw.data(), k, wc),
                  MatrixView::dense(gb.data(), k, bc));
    const std::size_t ld = wc + bc + pad;
    auto m = test::poisoned(k * ld);
    grads.compute(xs.data(), dys.data(), dcl.view(), MatrixView{m.data(), std::size_t(k), wc, ld},
                  MatrixView{m.data() + wc, std::size_t(k), bc, ld});
    const auto hw = gw.to_host(), hb = gb.to_host(), hm = m.to_host();
    for (int c = 0; c < k; ++c) {
      EXPECT_EQ(std::memcmp(&hm[c * ld], &hw[c * wc], wc * sizeof(float)), 0) << what << " c=" << c;
      EXPECT_EQ(std::memcmp(&hm[c * ld + wc], &hb[c * bc], bc * sizeof(float)), 0) << what;
      for (std::size_t e = c * ld + wc + bc; e < (c + 1) * ld; ++e)
        ASSERT_TRUE(std::isnan(hm[e])) << what << ": wrote past its columns at " << e;
    }
  };
  for (PerClusterPath path : kPaths) {
    Conv2dPerClusterGrad conv(s, k, path);
    check(conv, x, dy, s.w_elems(), s.k, "conv " + path_name(path));
    LinearPerClusterGrad fc(b, in, out, k, path);
    check(fc, fx, fdy, std::size_t(out) * in, out, "linear " + path_name(path));
  }
}

TEST(PerSampleArgs, BadArgumentsAreReported) {
  DeviceBuffer<float> x(4), dy(4), gw(16);
  EXPECT_THROW(linear_per_sample_grads(x.data(), dy.data(), 0, 2, 2, gw.data(), nullptr), Error);
  EXPECT_THROW(linear_per_sample_grads(nullptr, dy.data(), 1, 2, 2, gw.data(), nullptr), Error);
  std::vector<int> order = {0, 1}, bad_offsets = {0, 2, 1};
  DeviceBuffer<int> dorder{std::span<const int>(order)}, doff{std::span<const int>(bad_offsets)};
  LinearPerClusterGrad grads(2, 2, 1, 2, PerClusterPath::library);
  EXPECT_THROW(grads.compute(x.data(), dy.data(), {dorder.data(), doff.data(), nullptr, 2, 2},
                             MatrixView::dense(gw.data(), 2, 2), {}),
               Error);
}

}  // namespace
}  // namespace gq::kernels
