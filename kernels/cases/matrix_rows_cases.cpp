// The row maps over strided matrices (kernels/matrix_rows.h), sized [rows, cols, pad] (rows
// cols + pad floats apart): scale_rows in place and broadcast_row. The output is the whole matrix,
// padding included: a kernel that writes past a row's cols changes seeded padding values the
// reference keeps. Row counts that are not powers of two, widths that are not multiples of the
// block, and widths the GPU splits into its maximum of 64 blocks per row. One float multiply or a
// copy per element: the GPU gives the emulator's bits.
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/matrix_rows.h"

namespace gq::cases {
namespace {

constexpr float kAlpha = 512.0f / 3.0f;

struct Strided {
  std::size_t rows, cols, ld;
  explicit Strided(const Dims& d) : rows(d[0]), cols(d[1]), ld(d[1] + d[2]) {}
  std::size_t size() const { return rows * ld; }
  bool padding(std::size_t i) const { return i % ld >= cols; }
};

// The matrix before the launch: seeded values, and NaN where broadcast_row must write (so that an
// element it misses cannot pass for a result; scale_rows works in place, on the seeded values).
std::vector<float> matrix(const Strided& s, std::uint64_t seed, bool poison_rows) {
  std::vector<float> m = seeded(s.size(), seed, 1);
  for (std::size_t i = 0; poison_rows && i < m.size(); ++i)
    if (!s.padding(i)) m[i] = std::nanf("");
  return m;
}

KernelCase rows_case(bool broadcast) {
  KernelCase c;
  c.name = broadcast ? "matrix_rows/broadcast_row" : "matrix_rows/scale_rows";
  c.prepare = [broadcast](const Dims& size, std::uint64_t seed) {
    const Strided s(size);
    auto b = buffers({matrix(s, seed, broadcast), seeded(s.cols, seed, 2)}, 1, s.size());
    copy_on_device(b->out[0].data(), b->in[0].data(), s.size() * sizeof(float));
    return PreparedCase{[b, s, broadcast] {
                          const MatrixView m{b->out[0].data(), s.rows, s.cols, s.ld};
                          if (broadcast)
                            kernels::broadcast_row(b->in[1].data(), m);
                          else
                            kernels::scale_rows(m, kAlpha);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [broadcast](const Dims& size, std::uint64_t seed) {
    const Strided s(size);
    const std::vector<float> m = matrix(s, seed, false), row = seeded(s.cols, seed, 2);
    std::vector<double> want(m.size());
    for (std::size_t i = 0; i < m.size(); ++i)
      want[i] = s.padding(i) ? m[i] : broadcast ? row[i % s.ld] : double(m[i]) * kAlpha;
    return Reference(std::move(want));
  };
  c.vs_reference = {0, broadcast ? 0.0 : 1e-7};  // one float multiply
  c.bytes_per_element = 8;
  c.sizes = {{1, 1, 0},     {3, 31, 5},    {7, 257, 0}, {64, 4097, 5},
             {3, 65539, 0}, {1, 65539, 5}, {64, 1, 5},  {7, 1, 0}};
  // 2 blocks per row on the GPU; its maximum of 64, each with a strided share of the row.
  c.parity_sizes = {{7, 257, 5}, {3, 65539, 5}};
  c.bench_size = {64, 16384, 1};  // pad 1: numel is the rows x cols elements mapped
  return c;
}

}  // namespace

std::vector<KernelCase> matrix_rows_cases() {
  return {rows_case(false), rows_case(true)};
}

}  // namespace gq::cases
