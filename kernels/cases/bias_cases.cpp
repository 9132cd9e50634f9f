// The per-channel bias (kernels/bias.h) on [n, channels, inner] tensors: add (in place), and the
// gradient (the sum of dy over n and inner per channel), written and accumulated. Conv-like shapes
// (a block per channel) and linear ones (inner 1: a thread per channel). The add is exact between
// the devices; the gradient's sums are split among threads differently: rounding level.
#include <cmath>

#include "kernels/bias.h"
#include "kernels/cases/case_files.h"

namespace gq::cases {
namespace {

struct Shape3 {
  int n, channels, inner;
  explicit Shape3(const Dims& d)
      : n(static_cast<int>(d[0])), channels(static_cast<int>(d[1])), inner(static_cast<int>(d[2])) {}
};

KernelCase add_case() {
  KernelCase c;
  c.name = "bias/add";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const Shape3 s(size);
    auto b = buffers({seeded(numel(size), seed, 1), seeded(s.channels, seed, 2)}, 1, numel(size));
    copy_on_device(b->out[0].data(), b->in[0].data(), numel(size) * sizeof(float));
    return PreparedCase{
        [b, s] { kernels::bias_add(b->out[0].data(), b->in[1].data(), s.n, s.channels, s.inner); },
        [b] { return b->outputs(); }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const Shape3 s(size);
    const std::vector<float> y = seeded(numel(size), seed, 1), bias = seeded(s.channels, seed, 2);
    std::vector<double> want(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) want[i] = double(y[i]) + bias[(i / s.inner) % s.channels];
    return Reference(std::move(want));
  };
  c.vs_reference = {1e-7, 1e-7};
  c.bytes_per_element = 8;
  return c;
}

// db = sum over n and inner of dy (plus db's previous values when accumulating).
KernelCase grad_case(bool accumulate) {
  KernelCase c;
  c.name = accumulate ? "bias/grad accumulated" : "bias/grad";
  c.prepare = [accumulate](const Dims& size, std::uint64_t seed) {
    const Shape3 s(size);
    auto b = buffers({seeded(numel(size), seed, 1), seeded(s.channels, seed, 2)}, 1, s.channels);
    if (accumulate) copy_on_device(b->out[0].data(), b->in[1].data(), s.channels * sizeof(float));
    return PreparedCase{[b, s, accumulate] {
                          kernels::bias_grad(b->in[0].data(), b->out[0].data(), s.n, s.channels,
                                             s.inner, accumulate);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [accumulate](const Dims& size, std::uint64_t seed) {
    const Shape3 s(size);
    const std::vector<float> dy = seeded(numel(size), seed, 1), start = seeded(s.channels, seed, 2);
    std::vector<double> db(s.channels), magnitude(s.channels);
    for (std::size_t i = 0; i < dy.size(); ++i) {
      const std::size_t ch = (i / s.inner) % s.channels;
      db[ch] += dy[i];
      magnitude[ch] += std::fabs(dy[i]);
    }
    for (int ch = 0; accumulate && ch < s.channels; ++ch) {
      db[ch] += start[ch];
      magnitude[ch] += std::fabs(start[ch]);
    }
    return Reference(std::move(db), std::move(magnitude));
  };
  c.vs_reference = {1e-7, 1e-6};
  c.gpu_vs_emulator = {1e-5, 1e-5};
  c.bytes_per_element = 4;
  return c;
}

}  // namespace

std::vector<KernelCase> bias_cases() {
  std::vector<KernelCase> out = {add_case(), grad_case(false), grad_case(true)};
  for (KernelCase& c : out) {
    c.sizes = {{3, 5, 63}, {2, 3, 4097}, {7, 33, 1}, {1, 257, 1}, {3, 5, 31}, {129, 10, 1}, {1, 1, 1}};
    c.parity_sizes = {{16, 37, 63}, {33, 1000, 1}};
    c.bench_size = {128, 64, 1024};
  }
  return out;
}

}  // namespace gq::cases
