// Row gather: a grid_range map over batch * dim output elements, each reading the row its sample
// index names. Memory traffic: 8 bytes per output element (+ 8 per sample for the labels).
#include "kernels/gather.h"

#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

__global__ void __launch_bounds__(kBlock)
    gather_rows_kernel(const float* __restrict__ features, const std::int32_t* __restrict__ labels,
                       const std::int32_t* __restrict__ indices, std::size_t total, FastDivmod dim,
                       float* __restrict__ out, std::int32_t* __restrict__ labels_out) {
  for (const std::size_t e : grid_range(total)) {
    std::uint32_t row, col;
    dim.divmod(static_cast<std::uint32_t>(e), row, col);
    const std::size_t src = static_cast<std::size_t>(indices[row]);
    out[e] = features[src * dim.divisor() + col];
    if (col == 0 && labels_out) labels_out[row] = labels[src];
  }
}

}  // namespace

void gather_rows(const float* features, const std::int32_t* labels, const std::int32_t* indices,
                 int batch, int dim, float* out, std::int32_t* labels_out, stream_t stream) {
  GQ_CHECK(batch > 0 && dim > 0, "gather_rows: batch {} and dim {} must be positive", batch, dim);
  GQ_CHECK(features && indices && out, "gather_rows: null device pointer");
  GQ_CHECK(!labels_out || labels, "gather_rows: labels_out needs labels");
  const std::size_t total = static_cast<std::size_t>(batch) * dim;
  GQ_CHECK(total < (std::size_t{1} << 32), "gather_rows: {} elements; index arithmetic is 32-bit",
           total);
  launch(gather_rows_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, features, labels,
         indices, total, FastDivmod(static_cast<std::uint32_t>(dim)), out, labels_out);
}

}  // namespace gq::kernels
