// Unfold (im2col) into position-major rows, with an optional sample gather (kernels/im2col.h).
// Launch shape: a grid-stride loop over the count*L output rows (grid_stride_blocks blocks of
// kBlock threads, grid_range shares); each thread writes its row's c*r*s values in order, walking
// (channel, filter row, filter column) with no index division inside the row. On the emulator a
// thread's rows are one contiguous chunk of the output (sequential writes). On the GPU
// neighbouring threads take neighbouring positions, so their x reads are close together; their
// writes are c*r*s floats apart (this kernel feeds the library path, which the GPU build uses only
// for materialised per-sample gradients and norms).
// Memory traffic: writes count*L*c*r*s floats; reads each x element about r*s/(stride_h*stride_w)
// times (from cache).
#include "kernels/im2col.h"

#include <climits>
#include <cstddef>

#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

struct Im2colArgs {
  int c, h, w, r, s, stride_h, stride_w, pad_h, pad_w;
  FastDivmod positions;  // L = out_h * out_w
  FastDivmod out_w;
};

__global__ void __launch_bounds__(kBlock)
    im2col_rows_kernel(Im2colArgs a, const float* __restrict__ x, const int* __restrict__ order,
                       int first, std::size_t rows, float* __restrict__ col) {
  const std::size_t patch = static_cast<std::size_t>(a.c) * a.r * a.s;
  const std::size_t plane = static_cast<std::size_t>(a.h) * a.w;
  for (const std::size_t row : grid_range(rows)) {
    std::uint32_t j, l, oh, ow;
    a.positions.divmod(static_cast<std::uint32_t>(row), j, l);
    a.out_w.divmod(l, oh, ow);
    const int src = order ? order[first + static_cast<int>(j)] : first + static_cast<int>(j);
    const float* xs = x + static_cast<std::size_t>(src) * a.c * plane;
    const int ih0 = static_cast<int>(oh) * a.stride_h - a.pad_h;
    const int iw0 = static_cast<int>(ow) * a.stride_w - a.pad_w;
    float* out = col + row * patch;
    for (int ch = 0; ch < a.c; ++ch) {
      const float* xc = xs + ch * plane;
      for (int rr = 0; rr < a.r; ++rr) {
        const int ih = ih0 + rr;
        const bool row_in = ih >= 0 && ih < a.h;
        for (int ss = 0; ss < a.s; ++ss) {
          const int iw = iw0 + ss;
          *out++ =
              row_in && iw >= 0 && iw < a.w ? xc[static_cast<std::size_t>(ih) * a.w + iw] : 0.0f;
        }
      }
    }
  }
}

}  // namespace

void im2col_rows(const dnn::Conv2dShape& s, const float* x, const int* order, int first, int count,
                 float* col, stream_t stream) {
  dnn::check_shape(s);
  GQ_CHECK(x && col, "im2col_rows: null device pointer (x={}, col={})", static_cast<const void*>(x),
           static_cast<const void*>(col));
  GQ_CHECK(count >= 1 && first >= 0, "im2col_rows: needs count >= 1 and first >= 0, got {} and {}",
           count, first);
  GQ_CHECK(order != nullptr || first + count <= s.n,
           "im2col_rows: samples [{}, {}) exceed the batch of {}", first, first + count, s.n);
  const std::size_t positions = static_cast<std::size_t>(s.out_h()) * s.out_w();
  const std::size_t rows = positions * count;
  GQ_CHECK(rows < (std::size_t{1} << 32) && s.x_elems() < (std::size_t{1} << 32),
           "im2col_rows: {} rows / {} input elements need 64-bit indices", rows, s.x_elems());
  const Im2colArgs a{s.c,
                     s.h,
                     s.w,
                     s.r,
                     s.s,
                     s.stride_h,
                     s.stride_w,
                     s.pad_h,
                     s.pad_w,
                     FastDivmod(static_cast<std::uint32_t>(positions)),
                     FastDivmod(static_cast<std::uint32_t>(s.out_w()))};
  launch(im2col_rows_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, a, x, order,
         first, rows, col);
}

}  // namespace gq::kernels
