// One description per kernel case, from which its correctness test, its GPU parity check and its
// benchmark are derived (docs/ARCHITECTURE.md, "Kernel cases"):
//   - tests/kernels/test_kernel_cases.cpp runs every case at each of its sizes, in both thread
//     orders, outputs poisoned first, against the case's double-precision host reference, and
//     twice (the same bits);
//   - gq-parity runs every case at its parity sizes on this build's device, so that a GPU build's
//     outputs can be compared with the emulator's within the case's GPU tolerance;
//   - gq-bench-kernels times every case at its benchmark size, in GB/s of the bytes it moves,
//     against the roofline.
// A case owns its device buffers: prepare(size, seed) uploads seeded inputs and poisoned outputs, and
// returns the launch (what is timed) and the read-back of its outputs. The reference regenerates
// the same inputs from (size, seed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gq::cases {

// |got - want| <= atol + rtol |want| (or the reference's magnitude), elementwise.
struct Tolerance {
  double atol = 0, rtol = 0;
};

// A reference's values and, where rtol applies to something else than |value|, that scale per
// value (a sum's error grows with the sum of its terms' magnitudes, not with the sum).
struct Reference {
  Reference(std::vector<double> v, std::vector<double> m = {})
      : values(std::move(v)), magnitudes(std::move(m)) {}
  std::vector<double> values;
  std::vector<double> magnitudes;  // empty: |values[i]|
};

struct PreparedCase {
  std::function<void()> launch;                  // the kernels, on buffers the case owns
  std::function<std::vector<float>()> outputs;   // every output, flattened (syncs)
};

// A case's problem size: [n] for a map or a reduction, [rows, cols, batch] for a transpose, ...
using Dims = std::vector<std::size_t>;
std::size_t numel(const Dims& dims);
std::string to_string(const Dims& dims);  // "300x41x3"

struct KernelCase {
  std::string name;  // "activation/gelu backward"
  std::function<PreparedCase(const Dims& size, std::uint64_t seed)> prepare;
  std::function<Reference(const Dims& size, std::uint64_t seed)> reference;
  Tolerance vs_reference;
  Tolerance gpu_vs_emulator;  // 0: the GPU gives the emulator's bits
  double bytes_per_element = 0;  // device traffic of one launch, per element of numel(size)
  // Where numel(size) is not the element count (a size holding a window and a padding that may be
  // 0), the traffic of one launch at `size`; bench_bytes() takes it first.
  std::function<double(const Dims& size)> bytes_moved;
  double bench_bytes() const {
    return bytes_moved ? bytes_moved(bench_size) : bytes_per_element * double(numel(bench_size));
  }
  std::vector<Dims> sizes = {{1}, {31}, {257}, {4097}, {65539}};  // awkward: partial blocks, tails
  std::vector<Dims> parity_sizes = {{65539}};  // a size per path the GPU takes
  Dims bench_size = {std::size_t{1} << 20};
};

// Every case, in a fixed order: each file of cases contributes through one line in
// all_kernel_cases.cpp.
const std::vector<KernelCase>& all_kernel_cases();

// Helpers for case files. Inputs: n uniform values in [lo, hi) from Philox (seed, stream).
std::vector<float> seeded(std::size_t n, std::uint64_t seed, std::uint64_t stream, float lo = -1.0f,
                          float hi = 1.0f);

}  // namespace gq::cases
