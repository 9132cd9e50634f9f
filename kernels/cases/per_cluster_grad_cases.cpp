// Per-cluster mean weight gradients (kernels/per_cluster_grad.h) on every path: Linear sized
// [b, in, out, k], Conv2d sized [n, c, h, w, kout, filter, stride, pad, k]. Samples go to seeded
// clusters (the last empty when k > 2; k = b and k = 1 among the sizes), listed in a shuffled
// order within each. Outputs: the k rows of gw, then of gb (an empty cluster's are 0). Against the
// means of the per-sample gradients in double, scaled by their terms' magnitudes. The segmented
// path's GPU tiles split a cluster's sum into pieces, and the library paths sum in the library's
// order: rounding-level agreement between the devices. One cluster against the ordinary
// gradient, chunked and piecewise library paths, strided rows and the edges stay in
// tests/kernels/test_per_sample.
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/cases/per_sample_reference.h"
#include "kernels/per_cluster_grad.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

using kernels::PerClusterPath;

struct Clusters {
  std::vector<int> order, offsets;
};

Clusters clusters(int b, int k, std::uint64_t seed) {
  HostRng rng(seed, 3);
  const int used = k > 2 ? k - 1 : k;
  std::vector<std::vector<int>> members(k);
  for (int i = 0; i < b; ++i) members[k == b ? i : static_cast<int>(rng.below(used))].push_back(i);
  Clusters out{{}, {0}};
  for (std::vector<int>& m : members) {
    for (std::size_t j = m.size(); j > 1; --j) std::swap(m[j - 1], m[rng.below(j)]);
    out.order.insert(out.order.end(), m.begin(), m.end());
    out.offsets.push_back(static_cast<int>(out.order.size()));
  }
  return out;
}

// Row c of the means of rows `per_sample[i]` (width each) over cluster c's members, then the same
// of `scale` as the magnitudes.
void add_means(const std::vector<double>& per_sample, const std::vector<double>& scale,
               std::size_t width, const Clusters& cl, ScaledValues& out) {
  for (std::size_t c = 0; c + 1 < cl.offsets.size(); ++c) {
    std::vector<double> v(width, 0.0), m(width, 0.0);
    const int n = cl.offsets[c + 1] - cl.offsets[c];
    for (int j = cl.offsets[c]; j < cl.offsets[c + 1]; ++j)
      for (std::size_t e = 0; e < width; ++e)
        v[e] += per_sample[cl.order[j] * width + e] / n, m[e] += scale[cl.order[j] * width + e] / n;
    for (std::size_t e = 0; e < width; ++e) out.add(v[e], m[e]);
  }
}

// The layer's sizes: samples, gw's and gb's row widths, clusters; and x's and dy's lengths.
struct Layer {
  bool conv;
  dnn::Conv2dShape s{};
  int b, k;
  std::size_t w_width, b_width, x_len, dy_len;
  Layer(const Dims& d, bool conv_) : conv(conv_), k(static_cast<int>(d.back())) {
    if (conv) s = conv_shape_of(d);
    b = conv ? s.n : static_cast<int>(d[0]);
    w_width = conv ? s.w_elems() : d[1] * d[2];
    b_width = conv ? std::size_t(s.k) : d[2];
    x_len = conv ? s.x_elems() : d[0] * d[1];
    dy_len = conv ? s.y_elems() : d[0] * d[2];
  }
};

Reference reference(const Layer& l, std::uint64_t seed) {
  const std::vector<float> x = seeded(l.x_len, seed, 1), dy = seeded(l.dy_len, seed, 2);
  PerSampleGrads g;
  if (l.conv) {
    g = conv_per_sample_reference(l.s, x, dy);
  } else {
    const std::size_t in = l.x_len / l.b, out = l.b_width;
    for (int i = 0; i < l.b; ++i)
      for (std::size_t o = 0; o < out; ++o)
        for (std::size_t p = 0; p < in; ++p) {
          g.gw.push_back(double(dy[i * out + o]) * x[i * in + p]);
          g.gw_scale.push_back(std::fabs(g.gw.back()));
        }
    g.gb.assign(dy.begin(), dy.end());
    for (double v : g.gb) g.gb_scale.push_back(std::fabs(v));
  }
  const Clusters cl = clusters(l.b, l.k, seed);
  ScaledValues out;
  add_means(g.gw, g.gw_scale, l.w_width, cl, out);
  add_means(g.gb, g.gb_scale, l.b_width, cl, out);
  return out.reference();
}

KernelCase per_cluster_case(bool conv, PerClusterPath path, const char* name) {
  KernelCase c;
  c.name = std::string(conv ? "per_cluster_grad/conv " : "per_cluster_grad/linear ") + name;
  c.prepare = [conv, path](const Dims& size, std::uint64_t seed) {
    const Layer l(size, conv);
    const Clusters cl = clusters(l.b, l.k, seed);
    auto b = buffers({seeded(l.x_len, seed, 1), seeded(l.dy_len, seed, 2)},
                     {l.k * l.w_width, l.k * l.b_width});
    auto index = std::make_shared<std::vector<DeviceBuffer<int>>>();
    index->emplace_back(std::span<const int>(cl.order));
    index->emplace_back(std::span<const int>(cl.offsets));
    std::shared_ptr<kernels::LinearPerClusterGrad> linear;
    std::shared_ptr<kernels::Conv2dPerClusterGrad> convolution;
    if (conv)
      convolution = std::make_shared<kernels::Conv2dPerClusterGrad>(l.s, l.k, path);
    else
      linear = std::make_shared<kernels::LinearPerClusterGrad>(l.b, int(l.x_len / l.b),
                                                               int(l.b_width), l.k, path);
    return PreparedCase{
        [=] {
          const kernels::Clustering view{(*index)[0].data(), (*index)[1].data(), nullptr, l.k, l.b};
          const MatrixView gw = MatrixView::dense(b->out[0].data(), l.k, l.w_width),
                           gb = MatrixView::dense(b->out[1].data(), l.k, l.b_width);
          if (conv)
            convolution->compute(b->in[0].data(), b->in[1].data(), view, gw, gb);
          else
            linear->compute(b->in[0].data(), b->in[1].data(), view, gw, gb);
        },
        [b] { return b->outputs(); }};
  };
  c.reference = [conv](const Dims& size, std::uint64_t seed) {
    return reference(Layer(size, conv), seed);
  };
  c.vs_reference = {0, 2e-5};
  c.gpu_vs_emulator = {1e-5, 1e-5};
  if (conv) {
    c.sizes = {{5, 3, 9, 7, 4, 3, 1, 1, 3},
               {5, 3, 9, 7, 4, 3, 2, 1, 1},
               {5, 3, 9, 7, 4, 1, 1, 0, 5},
               {5, 3, 9, 7, 72, 3, 1, 1, 4},
               {6, 5, 11, 9, 7, 3, 2, 1, 2}};
    c.parity_sizes = {{6, 5, 11, 9, 7, 3, 2, 1, 3}};
    c.bench_size = {64, 32, 16, 16, 64, 3, 1, 1, 4};
  } else {
    c.sizes = {{7, 33, 5, 3}, {1, 33, 5, 1}, {37, 70, 41, 4}, {29, 20, 81, 2}, {7, 3, 2, 7}};
    c.parity_sizes = {{37, 70, 41, 4}};
    c.bench_size = {512, 256, 128, 4};
  }
  // Per element of numel(size), from the benchmark's size: x and dy read, k rows written.
  const Layer l(c.bench_size, conv);
  c.bytes_per_element =
      4.0 * (l.x_len + l.dy_len + l.k * (l.w_width + l.b_width)) / numel(c.bench_size);
  return c;
}

}  // namespace

std::vector<KernelCase> per_cluster_grad_cases() {
  return {per_cluster_case(false, PerClusterPath::segmented, "segmented"),
          per_cluster_case(false, PerClusterPath::library, "library"),
          per_cluster_case(true, PerClusterPath::segmented, "segmented"),
          per_cluster_case(true, PerClusterPath::library, "library"),
          per_cluster_case(true, PerClusterPath::library_conv, "library_conv")};
}

}  // namespace gq::cases
