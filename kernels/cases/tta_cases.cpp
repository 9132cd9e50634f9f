// Test-time augmentation (kernels/tta.h) at levels 0, 1 and 2: the views of a batch sized
// [n, c, h, w] (odd and non-square planes, 2 x 2 the smallest, planes larger than a block) against
// the torch expressions (F.pad 'reflect' by 1, then a window, then .flip(-1)): they only move
// values, so exact; and the combination of the views' logits sized [n, classes] against the
// formula in double, a few roundings of its terms' weighted magnitudes. A fixed formula per
// element: the GPU gives the emulator's bits. The views' exact weights and argument checks stay
// in tests/kernels/test_tta.
#include <cmath>
#include <cstdio>

#include "kernels/cases/case_files.h"
#include "kernels/tta.h"

namespace gq::cases {
namespace {

// x reflect-padded by 1 (F.pad(x, (1, 1, 1, 1), 'reflect')) of one plane.
std::vector<float> pad1_reflect(const float* plane, int h, int w) {
  std::vector<float> p(std::size_t(h + 2) * (w + 2));
  const auto r = [](int i, int n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  for (int y = 0; y < h + 2; ++y)
    for (int x = 0; x < w + 2; ++x) p[y * (w + 2) + x] = plane[r(y - 1, h) * w + r(x - 1, w)];
  return p;
}

// View v of one plane, appended: the window [corner : corner + h, corner : corner + w] of the
// padded plane ([1:, 1:] the plane, [0:, 0:] t(-1,-1), [2:, 2:] t(+1,+1)), odd views mirrored.
void append_view(const float* plane, int h, int w, int v, std::vector<double>& out) {
  const std::vector<float> padded = pad1_reflect(plane, h, w);
  const int corner = v < 2 ? 1 : (v < 4 ? 0 : 2);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      out.push_back(padded[(y + corner) * (w + 2) + ((v & 1) ? w - 1 - x : x) + corner]);
}

KernelCase views_case(int level) {
  KernelCase c;
  char name[32];
  std::snprintf(name, sizeof name, "tta/views level %d", level);
  c.name = name;
  const int views = kernels::tta_view_count(level);
  c.prepare = [level, views](const Dims& size, std::uint64_t seed) {
    const int n = int(size[0]), ch = int(size[1]), h = int(size[2]), w = int(size[3]);
    auto b = buffers({seeded(numel(size), seed, 1)}, 1, views * numel(size));
    return PreparedCase{[b, n, ch, h, w, level] {
                          kernels::tta_make_views(b->in[0].data(), n, ch, h, w, level,
                                                  b->out[0].data());
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [views](const Dims& size, std::uint64_t seed) {
    const std::vector<float> x = seeded(numel(size), seed, 1);
    const std::size_t planes = size[0] * size[1], plane = size[2] * size[3];
    std::vector<double> out;
    for (int v = 0; v < views; ++v)
      for (std::size_t p = 0; p < planes; ++p)
        append_view(x.data() + p * plane, int(size[2]), int(size[3]), v, out);
    return Reference(std::move(out));
  };
  c.bytes_per_element = 8.0 * views;  // an input read and an output written per view
  c.sizes = {{3, 3, 32, 32}, {1, 1, 2, 2}, {5, 2, 7, 3}, {2, 4, 17, 31},
             {257, 1, 3, 5}, {4, 3, 9, 9}, {1, 1, 3, 97}};
  c.parity_sizes = {{37, 3, 32, 32}};
  c.bench_size = {500, 3, 32, 32};  // airbench94's evaluation batch
  return c;
}

KernelCase combine_case(int level) {
  KernelCase c;
  char name[32];
  std::snprintf(name, sizeof name, "tta/combine level %d", level);
  c.name = name;
  const int views = kernels::tta_view_count(level);
  c.prepare = [level, views](const Dims& size, std::uint64_t seed) {
    const int n = int(size[0]), classes = int(size[1]);
    auto b = buffers({seeded(views * numel(size), seed, 1, -5.0f, 5.0f)}, 1, numel(size));
    return PreparedCase{[b, n, classes, level] {
                          kernels::tta_combine(b->in[0].data(), n, classes, level,
                                               b->out[0].data());
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [views](const Dims& size, std::uint64_t seed) {
    const std::size_t count = numel(size);
    const std::vector<float> l = seeded(views * count, seed, 1, -5.0f, 5.0f);
    // The weights: 1; 1/2, 1/2; 1/4, 1/4 and 1/8 for each translated view.
    const double weights[3][6] = {{1}, {0.5, 0.5}, {0.25, 0.25, 0.125, 0.125, 0.125, 0.125}};
    const double* wt = weights[views == 1 ? 0 : views == 2 ? 1 : 2];
    ScaledValues out;
    for (std::size_t i = 0; i < count; ++i) {
      double value = 0, magnitude = 0;
      for (int v = 0; v < views; ++v)
        value += wt[v] * l[v * count + i], magnitude += wt[v] * std::fabs(l[v * count + i]);
      out.add(value, magnitude);
    }
    return out.reference();
  };
  c.vs_reference = {0, 5e-7};  // up to four roundings of partial sums
  c.bytes_per_element = 4.0 * views + 4;
  c.sizes = {{1, 1}, {31, 10}, {257, 17}, {4097, 3}, {65539, 1}};
  c.parity_sizes = {{1000, 10}};
  c.bench_size = {10000, 10};
  return c;
}

}  // namespace

std::vector<KernelCase> tta_cases() {
  std::vector<KernelCase> out;
  for (int level : {0, 1, 2}) out.push_back(views_case(level));
  for (int level : {0, 1, 2}) out.push_back(combine_case(level));
  return out;
}

}  // namespace gq::cases
