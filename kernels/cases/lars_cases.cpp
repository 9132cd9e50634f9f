// One LARS step (kernels/lars.h) sized [n]: n floats in five tensors, 30% of n - 41, a single
// element, a zero tensor of 7 (trust 1), the rest but 33, and 33 (n >= 41), from seeded momentum;
// none, the first three or all five tensors adapted. Outputs: the parameters, the momentum
// buffer and the trust ratios. The norms are float sums in one chain per tensor on the emulator
// (up to 45,000 values here), and shared among 256 threads on the GPU: rounding-level agreement.
// A skipped step and bad arguments stay in tests/kernels/test_lars.
#include <cmath>
#include <cstdio>

#include "kernels/cases/case_files.h"
#include "kernels/lars.h"

namespace gq::cases {
namespace {

constexpr float kLr = 0.5f, kMomentum = 0.9f, kWd = 5e-4f, kEta = 0.02f;

std::vector<int> offsets(std::size_t n) {
  const int rest = static_cast<int>(n) - 41, third = rest * 3 / 10;
  return {0, third, third + 1, third + 8, 8 + rest, 41 + rest};
}

// param (the zero tensor's zeroed), grad, momentum.
std::vector<std::vector<float>> inputs(std::size_t n, std::uint64_t seed) {
  std::vector<float> p = seeded(n, seed, 1);
  const std::vector<int> o = offsets(n);
  for (int e = o[2]; e < o[3]; ++e) p[e] = 0.0f;
  return {p, seeded(n, seed, 2), seeded(n, seed, 3, -0.1f, 0.1f)};
}

Reference reference(std::size_t n, std::uint64_t seed, int adapted) {
  const std::vector<std::vector<float>> in = inputs(n, seed);
  const std::vector<float>&p = in[0], &g = in[1], &b = in[2];
  const std::vector<int> o = offsets(n);
  ScaledValues param, buf, trust;
  for (int t = 0; t + 1 < int(o.size()); ++t) {
    double ww = 0, gg = 0;
    for (int e = o[t]; e < o[t + 1]; ++e) ww += double(p[e]) * p[e], gg += double(g[e]) * g[e];
    const double wn = std::sqrt(ww), gn = std::sqrt(gg);
    const double ratio = t < adapted && wn > 0 && gn > 0 ? kEta * wn / (gn + kWd * wn) : 1.0;
    trust.add(ratio, ratio);
    for (int e = o[t]; e < o[t + 1]; ++e) {
      const bool adapt = t < adapted;
      const double gp = adapt ? ratio * (g[e] + double(kWd) * p[e]) : g[e];
      const double gm = adapt ? ratio * (std::fabs(g[e]) + kWd * std::fabs(p[e])) : std::fabs(g[e]);
      const double bi = kMomentum * double(b[e]) + gp, bm = kMomentum * std::fabs(b[e]) + gm;
      buf.add(bi, bm);
      param.add(p[e] - double(kLr) * bi, std::fabs(p[e]) + kLr * bm);
    }
  }
  param.append(buf);
  param.append(trust);
  return param.reference();
}

KernelCase lars_case(int adapted) {
  KernelCase c;
  char name[48];
  std::snprintf(name, sizeof name, "lars/step %d of 5 tensors adapted", adapted);
  c.name = name;
  c.prepare = [adapted](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers(inputs(n, seed), {n, n, 5});
    copy_on_device(b->out[0].data(), b->in[0].data(), n * sizeof(float));
    copy_on_device(b->out[1].data(), b->in[2].data(), n * sizeof(float));
    const std::vector<int> o = offsets(n);
    auto device_offsets = std::make_shared<DeviceBuffer<int>>(std::span<const int>(o));
    return PreparedCase{[b, device_offsets, n, adapted] {
                          kernels::lars_step(b->out[0].data(), b->in[1].data(), b->out[1].data(), n,
                                             device_offsets->data(), 5, adapted, kLr, kMomentum,
                                             kWd, kEta, b->out[2].data());
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [adapted](const Dims& size, std::uint64_t seed) {
    return reference(size[0], seed, adapted);
  };
  c.vs_reference = {0, 1e-5};  // the trust ratio's float norms, carried into every update
  c.gpu_vs_emulator = {1e-7, 1e-5};
  c.bytes_per_element = 28;                        // the norms' 8 B, the update's 20
  c.sizes = {{43}, {51}, {341}, {4097}, {70342}};  // 43: the first tensor is empty
  c.parity_sizes = {{70342}};
  return c;
}

}  // namespace

std::vector<KernelCase> lars_cases() {
  return {lars_case(0), lars_case(3), lars_case(5)};
}

}  // namespace gq::cases
