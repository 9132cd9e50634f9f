// The optimizer kernels (kernels/optim.h) on flat vectors of n: one SGD step (plain, with coupled
// L2, with momentum, Nesterov) and one AdamW step (the third: bias-corrected) from seeded state,
// parameters and state updated in place; global-norm clipping above its limit (the norm and the
// scaled gradient); the non-finite detector on a finite vector (+-FLT_MAX included) and on one with
// an infinity in its last element. A value's scale is its formula evaluated on magnitudes (no
// cancellation). SGD and AdamW are explicit fmaf: the GPU gives the emulator's bits; the norm is a
// reduction the devices share among threads differently. The skip flag, clipping below the limit
// (bits unchanged), NaN and infinity anywhere stay in tests/kernels/test_optim.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kernels/cases/case_files.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"

namespace gq::cases {
namespace {

constexpr float kLr = 0.05f;

// Inputs 0 param, 1 grad, 2 and 3 state (momentum, or AdamW's m and v >= 0); outputs are the
// in-place param and state.
std::vector<std::vector<float>> step_inputs(std::size_t n, std::uint64_t seed) {
  return {seeded(n, seed, 1), seeded(n, seed, 2), seeded(n, seed, 3, -0.5f, 0.5f),
          seeded(n, seed, 4, 0.0f, 0.5f)};
}

std::shared_ptr<Buffers> step_buffers(std::size_t n, std::uint64_t seed, int state) {
  auto b = buffers(step_inputs(n, seed), 1 + state, n);
  for (int i = 0; i <= state; ++i)
    copy_on_device(b->out[i].data(), b->in[i == 0 ? 0 : 1 + i].data(), n * sizeof(float));
  return b;
}

KernelCase sgd_case(const char* name, float momentum, bool nesterov, float wd) {
  KernelCase c;
  c.name = std::string("optim/sgd ") + name;
  const int state = momentum > 0 ? 1 : 0;
  c.prepare = [=](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = step_buffers(n, seed, state);
    return PreparedCase{[=] {
                          kernels::sgd_step(b->out[0].data(), b->in[1].data(),
                                            state ? b->out[1].data() : nullptr, n, kLr, momentum,
                                            nesterov, wd);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [=](const Dims& size, std::uint64_t seed) {
    const std::vector<std::vector<float>> in = step_inputs(size[0], seed);
    ScaledValues p, buf;
    for (std::size_t i = 0; i < size[0]; ++i) {
      const double p0 = in[0][i], g0 = in[1][i], b0 = state ? in[2][i] : 0.0;
      const double g = g0 + double(wd) * p0, gm = std::fabs(g0) + wd * std::fabs(p0);
      const double b = momentum * b0 + g, bm = momentum * std::fabs(b0) + gm;
      const double step = !state ? g : nesterov ? g + momentum * b : b;
      const double sm = !state ? gm : nesterov ? gm + momentum * bm : bm;
      p.add(p0 - double(kLr) * step, std::fabs(p0) + kLr * sm);
      buf.add(b, bm);
    }
    if (state) p.append(buf);
    return p.reference();
  };
  c.vs_reference = {0, 5e-7};  // a few roundings
  c.bytes_per_element = state ? 20 : 12;
  return c;
}

KernelCase adamw_case() {
  constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
  constexpr int step = 3;
  KernelCase c;
  c.name = "optim/adamw step 3";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = step_buffers(n, seed, 2);
    return PreparedCase{[b, n] {
                          kernels::adamw_step(b->out[0].data(), b->in[1].data(), b->out[1].data(),
                                              b->out[2].data(), n, kLr, b1, b2, eps, wd, step);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const std::vector<std::vector<float>> in = step_inputs(size[0], seed);
    ScaledValues p, m, v;
    const double c1 = 1 - std::pow(double(b1), step), c2 = 1 - std::pow(double(b2), step);
    for (std::size_t i = 0; i < size[0]; ++i) {
      const double g = in[1][i], mi = b1 * double(in[2][i]) + (1 - double(b1)) * g;
      const double vi = b2 * double(in[3][i]) + (1 - double(b2)) * g * g;
      const double update = kLr * (mi / c1) / (std::sqrt(vi / c2) + eps);
      const double decayed = in[0][i] * (1 - double(kLr) * wd);
      p.add(decayed - update, std::fabs(decayed) + std::fabs(update));
      m.add(mi, b1 * std::fabs(in[2][i]) + (1 - double(b1)) * std::fabs(g));
      v.add(vi, vi);
    }
    p.append(m);
    p.append(v);
    return p.reference();
  };
  c.vs_reference = {0, 1e-6};  // a square root, a division and the bias corrections
  c.gpu_vs_emulator = {1e-7, 1e-6};
  c.bytes_per_element = 28;
  return c;
}

// clip_grad_norm with max_norm 0.4 of the gradient's norm: the norm, then the gradient scaled by
// max_norm / (norm + 1e-6).
KernelCase clip_case() {
  KernelCase c;
  c.name = "optim/clip_grad_norm above the limit";
  const auto norm = [](const std::vector<float>& g) {
    double s = 0;
    for (float v : g) s += double(v) * v;
    return std::sqrt(s);
  };
  c.prepare = [norm](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    const std::vector<float> g = seeded(n, seed, 1);
    const float max_norm = static_cast<float>(0.4 * norm(g));
    auto b = buffers({g}, {1, n});
    copy_on_device(b->out[1].data(), b->in[0].data(), n * sizeof(float));
    auto scratch = std::make_shared<DeviceBuffer<char>>(kernels::reduce_scratch_bytes());
    return PreparedCase{[b, scratch, n, max_norm] {
                          kernels::clip_grad_norm(b->out[1].data(), n, max_norm, b->out[0].data(),
                                                  scratch->data());
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [norm](const Dims& size, std::uint64_t seed) {
    const std::vector<float> g = seeded(size[0], seed, 1);
    const double l2 = norm(g), scale = double(static_cast<float>(0.4 * l2)) / (l2 + 1e-6);
    std::vector<double> want = {l2};
    for (float v : g) want.push_back(v * scale);
    return Reference(std::move(want));
  };
  c.vs_reference = {0, 2e-6};  // the float sum of squares, its square root, the scale
  c.gpu_vs_emulator = {1e-7, 1e-5};
  c.bytes_per_element = 12;  // the norm's pass, then the scaling's
  c.sizes = {{1}, {31}, {257}, {4097}, {65539}, {1000003}};
  c.parity_sizes = {{1000003}};
  return c;
}

// any_nonfinite on a finite vector with +-FLT_MAX in it (0), and on the same with +inf last (1).
KernelCase nonfinite_case() {
  KernelCase c;
  c.name = "optim/any_nonfinite";
  const auto input = [](std::size_t n, std::uint64_t seed, bool inf) {
    std::vector<float> x = seeded(n, seed, 1, -1e30f, 1e30f);
    x[n / 2] = -FLT_MAX;
    x[0] = FLT_MAX;
    if (inf) x[n - 1] = std::numeric_limits<float>::infinity();
    return x;
  };
  c.prepare = [input](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers({input(n, seed, false), input(n, seed, true)}, 0, 0);
    auto flags = std::make_shared<DeviceBuffer<std::int32_t>>(2);
    auto scratch = std::make_shared<DeviceBuffer<char>>(kernels::reduce_scratch_bytes());
    flags->fill_bytes(0xff);
    return PreparedCase{[b, flags, scratch, n] {
                          for (int i = 0; i < 2; ++i)
                            kernels::any_nonfinite(b->in[i].data(), n, flags->data() + i,
                                                   scratch->data());
                        },
                        [flags] {
                          std::vector<float> r;
                          for (std::int32_t f : flags->to_host()) r.push_back(float(f));
                          return r;
                        }};
  };
  c.reference = [](const Dims&, std::uint64_t) { return Reference({0.0, 1.0}); };
  c.bytes_per_element = 8;
  c.sizes = {{1}, {31}, {257}, {4097}, {65539}, {1000003}};
  c.parity_sizes = {{1000003}};
  return c;
}

}  // namespace

std::vector<KernelCase> optim_cases() {
  return {sgd_case("plain", 0.0f, false, 0.0f),
          sgd_case("plain l2", 0.0f, false, 1e-2f),
          sgd_case("momentum", 0.9f, false, 0.0f),
          sgd_case("momentum l2", 0.9f, false, 5e-4f),
          sgd_case("nesterov l2", 0.9f, true, 5e-4f),
          adamw_case(),
          clip_case(),
          nonfinite_case()};
}

}  // namespace gq::cases
