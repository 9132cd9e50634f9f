// The reductions (kernels/reduce.h): sum, sum of squares, max with argmax, on inputs in [-1, 1)
// (max and argmax with a tie planted at n / 3 and n - 1: the first index wins), up to a million
// values (more than one block's share, so the second pass runs). The devices split a sum among
// threads differently: GPU and emulator differ at rounding level there; max and argmax are exact.
#include <algorithm>
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/reduce.h"

namespace gq::cases {
namespace {

struct ReduceBuffers {
  DeviceBuffer<float> x, out{3};
  DeviceBuffer<std::int64_t> index{1};
  DeviceBuffer<char> scratch{kernels::reduce_scratch_bytes()};
  explicit ReduceBuffers(const std::vector<float>& h) : x(std::span<const float>(h)) {
    out.fill_bytes(0xff);
    index.fill_bytes(0xff);
  }
  std::vector<float> outputs(int values, bool with_index) const {
    std::vector<float> r = out.to_host();
    r.resize(values);
    if (with_index) r.push_back(static_cast<float>(index.to_host()[0]));  // exact below 2^24
    return r;
  }
};

std::vector<float> inputs(std::size_t n, std::uint64_t seed, bool tie) {
  std::vector<float> x = seeded(n, seed, 1);
  if (tie) x[n / 3] = x[n - 1] = 5.0f;
  return x;
}

template <class Launch, class Ref>
KernelCase reduce_case(const char* name, bool argmax, Launch launch, Ref reference) {
  KernelCase c;
  c.name = std::string("reduce/") + name;
  c.prepare = [argmax, launch](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto b = std::make_shared<ReduceBuffers>(inputs(n, seed, argmax));
    return PreparedCase{[b, n, launch] { launch(*b, n); },
                        [b, argmax] { return b->outputs(argmax ? 2 : 1, argmax); }};
  };
  c.reference = [argmax, reference](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    return reference(inputs(n, seed, argmax));
  };
  c.sizes = {{1}, {31}, {257}, {4097}, {65539}, {1000003}};
  c.parity_sizes = {{1000003}};
  c.bytes_per_element = 4;
  return c;
}

}  // namespace

std::vector<KernelCase> reduce_cases() {
  KernelCase sum = reduce_case(
      "sum", false,
      [](ReduceBuffers& b, std::size_t n) {
        kernels::reduce_sum(b.x.data(), n, b.out.data(), b.scratch.data());
      },
      [](const std::vector<float>& x) {
        double s = 0, magnitude = 0;
        for (float v : x) s += v, magnitude += std::fabs(v);
        return Reference({s}, {magnitude});  // float accumulation: error ~ eps * sum |x|
      });
  sum.vs_reference = {1e-6, 1e-6};
  sum.gpu_vs_emulator = {1e-7 * 1000003, 1e-5};
  KernelCase squares = reduce_case(
      "sum of squares", false,
      [](ReduceBuffers& b, std::size_t n) {
        kernels::reduce_sum_squares(b.x.data(), n, b.out.data(), b.scratch.data());
      },
      [](const std::vector<float>& x) {
        double s = 0;
        for (float v : x) s += double(v) * v;
        return Reference({s});
      });
  squares.vs_reference = {1e-7, 1e-6};
  squares.gpu_vs_emulator = {0, 1e-5};
  KernelCase max = reduce_case(
      "max and argmax", true,
      [](ReduceBuffers& b, std::size_t n) {
        kernels::reduce_max(b.x.data(), n, b.out.data(), b.scratch.data());
        kernels::reduce_argmax(b.x.data(), n, b.index.data(), b.out.data() + 1, b.scratch.data());
      },
      [](const std::vector<float>& x) {
        const auto first = std::max_element(x.begin(), x.end());  // the first of equal maxima
        return Reference({*first, *first, double(first - x.begin())});
      });
  max.bytes_per_element = 8;  // two passes over x
  return {sum, squares, max};
}

}  // namespace gq::cases
