// The batched transpose (kernels/transpose.h) of [batch, rows, cols] into [batch, cols, rows]: it
// only moves values, so exact against the index reference and between the devices. Shapes with a
// single row or column, odd sizes and tiles that do not divide them.
#include "kernels/cases/case_files.h"
#include "kernels/transpose.h"

namespace gq::cases {

std::vector<KernelCase> transpose_cases() {
  KernelCase c;
  c.name = "transpose";
  const auto input = [](const Dims& size, std::uint64_t seed) {
    return seeded(numel(size), seed, 1);
  };
  c.prepare = [input](const Dims& size, std::uint64_t seed) {
    auto b = buffers({input(size, seed)}, 1, numel(size));
    const int rows = static_cast<int>(size[0]), cols = static_cast<int>(size[1]),
              batch = static_cast<int>(size[2]);
    return PreparedCase{[b, rows, cols, batch] {
                          kernels::transpose(b->in[0].data(), b->out[0].data(), rows, cols, batch);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [input](const Dims& size, std::uint64_t seed) {
    const std::vector<float> x = input(size, seed);
    const std::size_t rows = size[0], cols = size[1];
    std::vector<double> y(x.size());
    for (std::size_t b = 0; b < size[2]; ++b)
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j)
          y[(b * cols + j) * rows + i] = x[(b * rows + i) * cols + j];
    return Reference(std::move(y));
  };
  c.sizes = {{1, 1, 1},  {1, 257, 1},  {257, 1, 1}, {31, 33, 1},
             {65, 97, 3}, {128, 64, 2}, {300, 41, 1}};
  c.parity_sizes = {{300, 41, 3}};
  c.bench_size = {1024, 1024, 1};
  c.bytes_per_element = 8;
  return {c};
}

}  // namespace gq::cases
