// The elementwise maps (kernels/elementwise.h): fill, scale in place, axpy, add_scaled, multiply,
// on inputs in [-1, 1). Every multiply-add is an explicit fmaf (add_scaled's a*x + b*y names the
// product it fuses): the GPU gives the emulator's bits.
#include "kernels/cases/case_files.h"
#include "kernels/elementwise.h"

namespace gq::cases {
namespace {

// A case of `inputs` seeded inputs (streams 1, 2, ...) whose reference is f(a, b) per element. An
// in-place kernel's output starts as input `in_place_of` (else poisoned).
template <class Launch, class Ref>
KernelCase map_case(const char* name, int inputs, double bytes, Tolerance tol, Launch launch,
                    Ref f, int in_place_of = -1) {
  const auto in = [inputs](std::size_t n, std::uint64_t seed) {
    std::vector<std::vector<float>> v;
    for (int i = 0; i < inputs; ++i) v.push_back(seeded(n, seed, 1 + i));
    return v;
  };
  KernelCase c;
  c.name = std::string("elementwise/") + name;
  c.prepare = [in, launch, in_place_of](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = buffers(in(n, seed), 1, n);
    if (in_place_of >= 0)
      copy_on_device(b->out[0].data(), b->in[in_place_of].data(), n * sizeof(float));
    return PreparedCase{[b, n, launch] { launch(*b, n); }, [b] { return b->outputs(); }};
  };
  c.reference = [in, inputs, f](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    const std::vector<std::vector<float>> v = in(n, seed);
    std::vector<double> want(n);
    for (std::size_t i = 0; i < n; ++i)
      want[i] = f(inputs > 0 ? double(v[0][i]) : 0.0, inputs > 1 ? double(v[1][i]) : 0.0);
    return want;
  };
  c.vs_reference = tol;
  c.bytes_per_element = bytes;
  return c;
}

}  // namespace

std::vector<KernelCase> elementwise_cases() {
  const Tolerance exact{0, 0}, one_rounding{0, 1e-7}, fma{1e-7, 1e-6};
  return {
      map_case("fill", 0, 4, exact,
               [](Buffers& b, std::size_t n) { kernels::fill(b.out[0].data(), n, 2.5f); },
               [](double, double) { return 2.5; }),
      // scale grows its output by 1.25 per launch: a benchmark's repeats reach infinity, never
      // subnormals (slow on a CPU).
      map_case("scale in place", 1, 8, one_rounding,
               [](Buffers& b, std::size_t n) { kernels::scale(b.out[0].data(), n, -1.25f); },
               [](double a, double) { return -1.25 * a; }, 0),
      map_case("axpy", 2, 12, fma,
               [](Buffers& b, std::size_t n) {
                 kernels::axpy(n, 0.3f, b.in[0].data(), b.out[0].data());
               },
               [](double x, double y) { return 0.3 * x + y; }, 1),
      map_case("add_scaled", 2, 12, fma,
               [](Buffers& b, std::size_t n) {
                 kernels::add_scaled(n, 2.0f, b.in[0].data(), -0.5f, b.in[1].data(),
                                     b.out[0].data());
               },
               [](double a, double c) { return 2.0 * a - 0.5 * c; }),
      map_case("multiply", 2, 12, fma,
               [](Buffers& b, std::size_t n) {
                 kernels::multiply(n, b.in[0].data(), b.in[1].data(), b.out[0].data());
               },
               [](double a, double c) { return a * c; }),
  };
}

}  // namespace gq::cases
