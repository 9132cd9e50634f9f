// Per-sample weight gradients (kernels/per_sample.h). Linear sized [b, in, out]: the gradients
// (an outer product: one rounding) and the squared norms with and without the bias (float sums).
// Conv2d sized [n, c, h, w, k, filter, stride, pad]: the gradients and bias gradients, the bias
// gradients alone, and the squared norms with the bias by instantiation, by ghost Gram matrices
// and by the method the cost model picks; filters 1, 3 and 5, strides 1 and 2, more output
// channels than the GPU's 64-row tile. Tolerances scale with the sums of the terms' magnitudes
// (a norm's: the square of its gradient's). The devices sum in different orders (the library
// gemm): rounding-level agreement. Finite differences, the ordinary gradient of each sample alone,
// the per-cluster means and argument checks stay in tests/kernels/test_per_sample.
#include "kernels/cases/per_sample_reference.h"

#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/per_sample.h"

namespace gq::cases {

PerSampleGrads conv_per_sample_reference(const dnn::Conv2dShape& s, const std::vector<float>& x,
                                         const std::vector<float>& dy) {
  const int oh_n = s.out_h(), ow_n = s.out_w();
  const auto xat = [&](int i, int ch, int ih, int iw) {
    if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) return 0.0;
    return double(x[((std::size_t(i) * s.c + ch) * s.h + ih) * s.w + iw]);
  };
  PerSampleGrads g;
  g.gw.assign(s.n * s.w_elems(), 0.0), g.gw_scale.assign(s.n * s.w_elems(), 0.0);
  g.gb.assign(std::size_t(s.n) * s.k, 0.0), g.gb_scale.assign(std::size_t(s.n) * s.k, 0.0);
  std::size_t e = 0;
  for (int i = 0; i < s.n; ++i)
    for (int o = 0; o < s.k; ++o)
      for (int ch = 0; ch < s.c; ++ch)
        for (int rr = 0; rr < s.r; ++rr)
          for (int ss = 0; ss < s.s; ++ss, ++e)
            for (int oh = 0; oh < oh_n; ++oh)
              for (int ow = 0; ow < ow_n; ++ow) {
                const double t =
                    dy[((std::size_t(i) * s.k + o) * oh_n + oh) * ow_n + ow] *
                    xat(i, ch, oh * s.stride_h - s.pad_h + rr, ow * s.stride_w - s.pad_w + ss);
                g.gw[e] += t, g.gw_scale[e] += std::fabs(t);
              }
  const std::size_t L = std::size_t(oh_n) * ow_n;
  for (std::size_t row = 0; row < g.gb.size(); ++row)
    for (std::size_t l = 0; l < L; ++l)
      g.gb[row] += dy[row * L + l], g.gb_scale[row] += std::fabs(dy[row * L + l]);
  return g;
}

dnn::Conv2dShape conv_shape_of(const Dims& d) {
  const auto i = [&](int k) { return static_cast<int>(d[k]); };
  dnn::Conv2dShape s{i(0), i(1), i(2), i(3), i(4), i(5), i(5)};
  s.stride_h = s.stride_w = i(6);
  s.pad_h = s.pad_w = i(7);
  return s;
}

namespace {

KernelCase linear_grads_case() {
  KernelCase c;
  c.name = "per_sample/linear grads";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const int b = int(size[0]), in = int(size[1]), out = int(size[2]);
    auto buf = buffers({seeded(b * in, seed, 1), seeded(b * out, seed, 2)},
                       {numel(size), std::size_t(b) * out});
    return PreparedCase{[buf, b, in, out] {
                          kernels::linear_per_sample_grads(buf->in[0].data(), buf->in[1].data(), b,
                                                           in, out, buf->out[0].data(),
                                                           buf->out[1].data());
                        },
                        [buf] { return buf->outputs(); }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const std::size_t b = size[0], in = size[1], out = size[2];
    const std::vector<float> x = seeded(b * in, seed, 1), dy = seeded(b * out, seed, 2);
    std::vector<double> want;
    for (std::size_t i = 0; i < b; ++i)
      for (std::size_t o = 0; o < out; ++o)
        for (std::size_t p = 0; p < in; ++p)
          want.push_back(double(dy[i * out + o]) * x[i * in + p]);
    want.insert(want.end(), dy.begin(), dy.end());
    return Reference(std::move(want));
  };
  c.vs_reference = {0, 6e-8};  // one product, rounded
  c.bytes_per_element = 4;     // gw written (x and dy read once per row)
  return c;
}

// ||gw_i||^2 = ||dy_i||^2 ||x_i||^2 (+ ||dy_i||^2 with the bias).
KernelCase linear_norms_case(bool with_bias) {
  KernelCase c;
  c.name = with_bias ? "per_sample/linear sq norms with bias" : "per_sample/linear sq norms";
  c.prepare = [with_bias](const Dims& size, std::uint64_t seed) {
    const int b = int(size[0]), in = int(size[1]), out = int(size[2]);
    auto buf = buffers({seeded(b * in, seed, 1), seeded(b * out, seed, 2)}, 1, b);
    return PreparedCase{[buf, b, in, out, with_bias] {
                          kernels::linear_per_sample_sq_norms(buf->in[0].data(), buf->in[1].data(),
                                                              b, in, out, with_bias,
                                                              buf->out[0].data());
                        },
                        [buf] { return buf->outputs(); }};
  };
  c.reference = [with_bias](const Dims& size, std::uint64_t seed) {
    const std::size_t b = size[0], in = size[1], out = size[2];
    const std::vector<float> x = seeded(b * in, seed, 1), dy = seeded(b * out, seed, 2);
    std::vector<double> want(b);
    for (std::size_t i = 0; i < b; ++i) {
      double xx = 0, dd = 0;
      for (std::size_t p = 0; p < in; ++p) xx += double(x[i * in + p]) * x[i * in + p];
      for (std::size_t o = 0; o < out; ++o) dd += double(dy[i * out + o]) * dy[i * out + o];
      want[i] = dd * xx + (with_bias ? dd : 0.0);
    }
    return Reference(std::move(want));
  };
  c.vs_reference = {0, 1e-6};  // two float sums of squares and their product
  return c;
}

enum class ConvOp { grads, bias_grads, norms_instantiate, norms_ghost, norms_chosen };

void conv_launch(ConvOp op, const dnn::Conv2dShape& s, Buffers& b, void* scratch) {
  const float *x = b.in[0].data(), *dy = b.in[1].data();
  float* out = b.out[0].data();
  if (op == ConvOp::grads)
    kernels::conv2d_per_sample_grads(s, x, dy, out, b.out[1].data(), scratch);
  if (op == ConvOp::bias_grads) kernels::conv2d_per_sample_bias_grads(s, dy, out);
  if (op == ConvOp::norms_instantiate || op == ConvOp::norms_ghost)
    kernels::conv2d_per_sample_sq_norms(
        s,
        op == ConvOp::norms_ghost ? kernels::NormMethod::ghost : kernels::NormMethod::instantiate,
        x, dy, true, out, scratch);
  if (op == ConvOp::norms_chosen) kernels::conv2d_per_sample_sq_norms(s, x, dy, true, out, scratch);
}

Reference conv_reference(ConvOp op, const Dims& size, std::uint64_t seed) {
  const dnn::Conv2dShape s = conv_shape_of(size);
  const PerSampleGrads g =
      conv_per_sample_reference(s, seeded(s.x_elems(), seed, 1), seeded(s.y_elems(), seed, 2));
  ScaledValues out;
  if (op == ConvOp::grads)
    for (std::size_t e = 0; e < g.gw.size(); ++e) out.add(g.gw[e], g.gw_scale[e]);
  if (op == ConvOp::grads || op == ConvOp::bias_grads) {
    for (std::size_t e = 0; e < g.gb.size(); ++e) out.add(g.gb[e], g.gb_scale[e]);
    return out.reference();
  }
  for (int i = 0; i < s.n; ++i) {
    double sq = 0, scale = 0;
    for (std::size_t e = i * s.w_elems(); e < (i + 1) * s.w_elems(); ++e)
      sq += g.gw[e] * g.gw[e], scale += g.gw_scale[e] * g.gw_scale[e];
    for (std::size_t o = i * s.k; o < (i + 1) * std::size_t(s.k); ++o)
      sq += g.gb[o] * g.gb[o], scale += g.gb_scale[o] * g.gb_scale[o];
    out.add(sq, scale);
  }
  return out.reference();
}

KernelCase conv_case(const char* name, ConvOp op) {
  KernelCase c;
  c.name = std::string("per_sample/conv ") + name;
  c.prepare = [op](const Dims& size, std::uint64_t seed) {
    const dnn::Conv2dShape s = conv_shape_of(size);
    const std::size_t n = s.n;
    auto b = buffers({seeded(s.x_elems(), seed, 1), seeded(s.y_elems(), seed, 2)},
                     op == ConvOp::grads        ? std::vector<std::size_t>{n * s.w_elems(), n * s.k}
                     : op == ConvOp::bias_grads ? std::vector<std::size_t>{n * s.k}
                                                : std::vector<std::size_t>{n});
    auto scratch =
        std::make_shared<DeviceBuffer<char>>(kernels::conv2d_per_sample_scratch_bytes(s));
    return PreparedCase{[op, s, b, scratch] { conv_launch(op, s, *b, scratch->data()); },
                        [b] { return b->outputs(); }};
  };
  c.reference = [op](const Dims& size, std::uint64_t seed) {
    return conv_reference(op, size, seed);
  };
  c.vs_reference = {0, 2e-5};
  c.gpu_vs_emulator = {1e-5, 1e-5};
  c.sizes = {{5, 3, 9, 7, 4, 3, 1, 1}, {5, 3, 9, 7, 4, 3, 2, 1},  {5, 3, 9, 7, 4, 1, 1, 0},
             {5, 3, 9, 7, 4, 5, 1, 2}, {5, 3, 9, 7, 72, 3, 1, 1}, {1, 1, 3, 3, 1, 3, 1, 0}};
  c.parity_sizes = {{6, 5, 11, 9, 7, 3, 2, 1}};
  c.bench_size = {32, 64, 16, 16, 64, 3, 1, 1};
  // Per element of numel(size): bench_size's x, dy and outputs, over its numel.
  const dnn::Conv2dShape s = conv_shape_of(c.bench_size);
  const double written = op == ConvOp::grads ? s.n * (s.w_elems() + s.k) : s.n * s.k;
  const double read = op == ConvOp::bias_grads ? s.y_elems() : s.x_elems() + s.y_elems();
  c.bytes_per_element = 4.0 * (read + written) / numel(c.bench_size);
  return c;
}

}  // namespace

std::vector<KernelCase> per_sample_cases() {
  std::vector<KernelCase> linear = {linear_grads_case(), linear_norms_case(false),
                                    linear_norms_case(true)};
  for (KernelCase& c : linear) {
    c.sizes = {{7, 33, 5}, {1, 33, 5}, {37, 70, 41}, {29, 20, 81}, {1, 1, 1}, {257, 3, 2}};
    c.parity_sizes = {{37, 70, 41}};
    c.bench_size = {128, 256, 32};
  }
  // The norms read x and dy once and write a float per sample: per element of [b, in, out].
  linear[1].bytes_per_element = linear[2].bytes_per_element = 4.0 * (256 + 32 + 1) / (256 * 32);
  std::vector<KernelCase> out = linear;
  for (auto [name, op] : {std::pair{"grads", ConvOp::grads},
                          {"bias grads", ConvOp::bias_grads},
                          {"sq norms instantiate", ConvOp::norms_instantiate},
                          {"sq norms ghost", ConvOp::norms_ghost},
                          {"sq norms chosen method", ConvOp::norms_chosen}})
    out.push_back(conv_case(name, op));
  return out;
}

}  // namespace gq::cases
