// relu and exact-erf GELU (kernels/activation.h), forward and backward, on x in [-5, 5) (relu's
// inputs kept 0.05 away from its kink) and dy in [-1, 1), with float and with bf16 storage (the
// inputs rounded to bf16, as the reference reads them).
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/activation.h"
#include "kernels/cases/case_files.h"

namespace gq::cases {
namespace {

using kernels::Activation;

double act(Activation a, double x) {
  if (a == Activation::relu) return x > 0 ? x : 0;
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}

double act_grad(Activation a, double x) {
  if (a == Activation::relu) return x > 0 ? 1 : 0;
  const double pi = 3.14159265358979323846;
  return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * pi);
}

std::vector<float> xs(Activation a, std::size_t n, std::uint64_t seed) {
  std::vector<float> x = seeded(n, seed, 1, -5.0f, 5.0f);
  if (a == Activation::relu)
    for (float& v : x)
      if (std::fabs(v) < 0.05f) v = v < 0 ? v - 0.05f : v + 0.05f;
  return x;
}

std::vector<float> dys(std::size_t n, std::uint64_t seed) { return seeded(n, seed, 2); }

// In bf16 the kernel rounds its float result once: half an ulp, 2^-8 relative, on top of float's.
template <class T>
Tolerance tolerance(Activation a) {
  const double rounding = std::is_same_v<T, bf16> ? std::ldexp(1.0, -8) : 0.0;
  return a == Activation::relu ? Tolerance{0.0, 0.0} : Tolerance{1e-7, 1e-5 + rounding};
}

template <class T>
std::string case_name(const char* name, const char* pass) {
  return std::string("activation/") + name + " " + pass + (std::is_same_v<T, bf16> ? " bf16" : "");
}

template <class T>
KernelCase forward(Activation a, const char* name) {
  KernelCase c;
  c.name = case_name<T>(name, "forward");
  c.prepare = [a](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers<T>({xs(a, n, seed)}, 1, n);
    return PreparedCase{
        [a, b, n] { kernels::activation_forward(a, b->in[0].data(), b->out[0].data(), n); },
        [b] { return b->outputs(); }};
  };
  c.reference = [a](const Dims& size, std::uint64_t seed) {
    std::vector<double> y;
    for (float x : as_stored<T>(xs(a, size[0], seed))) y.push_back(act(a, x));
    return y;
  };
  // normal_cdf's fit is good to ~1.2e-7 relative; float rounding of its exponent grows like 2z^2
  // ulp for z = -x / sqrt 2. GELU's exp and erfc are the kernel's own fmaf polynomials, not
  // libdevice's, so the GPU gives the emulator's bits.
  c.vs_reference = tolerance<T>(a);
  c.bytes_per_element = 2 * sizeof(T);
  return c;
}

template <class T>
KernelCase backward(Activation a, const char* name) {
  KernelCase c;
  c.name = case_name<T>(name, "backward");
  c.prepare = [a](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers<T>({xs(a, n, seed), dys(n, seed)}, 1, n);
    return PreparedCase{[a, b, n] {
                          kernels::activation_backward(a, b->in[0].data(), b->in[1].data(),
                                                       b->out[0].data(), n);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [a](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    const std::vector<float> x = as_stored<T>(xs(a, n, seed)), dy = as_stored<T>(dys(n, seed));
    std::vector<double> dx(n);
    for (std::size_t i = 0; i < n; ++i) dx[i] = double(dy[i]) * act_grad(a, x[i]);
    return dx;
  };
  c.vs_reference = tolerance<T>(a);
  c.bytes_per_element = 3 * sizeof(T);
  return c;
}

}  // namespace

std::vector<KernelCase> activation_cases() {
  std::vector<KernelCase> out;
  for (auto [a, name] : {std::pair{Activation::relu, "relu"}, std::pair{Activation::gelu, "gelu"}})
    for (KernelCase c : {forward<float>(a, name), backward<float>(a, name), forward<bf16>(a, name),
                         backward<bf16>(a, name)})
      out.push_back(std::move(c));
  return out;
}

}  // namespace gq::cases
