// Unfold (im2col) with an optional sample gather, into a strided [sample][patch][position] array
// (kernels/im2col.h).
// Launch shape: a grid-stride loop over rows (sample, patch index, output row oh), grid_range
// shares of grid_stride_blocks blocks of kBlock threads; each thread writes its row's out_w
// contiguous values: zeros left of the input, a strided copy of one input row (a plain copy at
// stride 1), zeros right of it. Rows are ordered so that consecutive rows are adjacent in memory
// (sample-major for the per-sample layout, patch-major for the GEMM layout): on the emulator a
// thread's contiguous share of rows is one sequential write stream; on the GPU neighbouring
// threads write neighbouring rows.
// Memory traffic: writes count*c*r*s*L floats; reads each x element about r*s/(stride_h*stride_w)
// times (from cache).
#include "kernels/im2col.h"

#include <cstddef>

#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

struct Im2colArgs {
  int c, h, w, stride_h, stride_w, pad_h, pad_w, out_w;
  FastDivmod out_h;   // rows of one (sample, patch) block
  FastDivmod middle;  // count (patch-major) or c*r*s (sample-major)
  FastDivmod rs, s;   // patch index -> channel, filter row, filter column
  bool patch_major;   // row = (q, j, oh) when true, (j, q, oh) otherwise
  std::size_t sample_stride, patch_stride;
};

__global__ void __launch_bounds__(kBlock)
    im2col_kernel(Im2colArgs a, const float* __restrict__ x, const int* __restrict__ order,
                  int first, std::size_t rows, float* __restrict__ col) {
  const std::size_t plane = static_cast<std::size_t>(a.h) * a.w;
  for (const std::size_t row : grid_range(rows)) {
    std::uint32_t outer_mid, oh, outer, mid;
    a.out_h.divmod(static_cast<std::uint32_t>(row), outer_mid, oh);
    a.middle.divmod(outer_mid, outer, mid);
    const std::uint32_t j = a.patch_major ? mid : outer, q = a.patch_major ? outer : mid;
    std::uint32_t ch, f, rr, ss;
    a.rs.divmod(q, ch, f);
    a.s.divmod(f, rr, ss);
    const int src = order ? order[first + static_cast<int>(j)] : first + static_cast<int>(j);
    float* out =
        col + j * a.sample_stride + q * a.patch_stride + static_cast<std::size_t>(oh) * a.out_w;
    const int ih = static_cast<int>(oh) * a.stride_h - a.pad_h + static_cast<int>(rr);
    if (ih < 0 || ih >= a.h) {
      for (int ow = 0; ow < a.out_w; ++ow) out[ow] = 0.0f;
      continue;
    }
    const float* in =
        x + (static_cast<std::size_t>(src) * a.c + ch) * plane + static_cast<std::size_t>(ih) * a.w;
    // Valid ow: 0 <= ow*stride_w - pad_w + ss < w.
    const int shift = static_cast<int>(ss) - a.pad_w;
    int lo = shift >= 0 ? 0 : (-shift + a.stride_w - 1) / a.stride_w;
    int hi = a.w - shift <= 0 ? 0 : (a.w - shift + a.stride_w - 1) / a.stride_w;
    lo = lo < a.out_w ? lo : a.out_w;
    hi = hi < a.out_w ? hi : a.out_w;
    hi = hi > lo ? hi : lo;
    for (int ow = 0; ow < lo; ++ow) out[ow] = 0.0f;
    if (a.stride_w == 1) {
      for (int ow = lo; ow < hi; ++ow) out[ow] = in[ow + shift];
    } else {
      for (int ow = lo; ow < hi; ++ow) out[ow] = in[ow * a.stride_w + shift];
    }
    for (int ow = hi; ow < a.out_w; ++ow) out[ow] = 0.0f;
  }
}

}  // namespace

void im2col(const dnn::Conv2dShape& s, const float* x, const int* order, int first, int count,
            float* col, std::size_t sample_stride, std::size_t patch_stride, stream_t stream) {
  dnn::check_shape(s);
  GQ_CHECK(x && col, "im2col: null device pointer (x={}, col={})", static_cast<const void*>(x),
           static_cast<const void*>(col));
  GQ_CHECK(count >= 1 && first >= 0, "im2col: needs count >= 1 and first >= 0, got {} and {}",
           count, first);
  GQ_CHECK(order != nullptr || first + count <= s.n,
           "im2col: samples [{}, {}) exceed the batch of {}", first, first + count, s.n);
  const std::size_t L = static_cast<std::size_t>(s.out_h()) * s.out_w();
  const std::size_t patch = static_cast<std::size_t>(s.c) * s.r * s.s;
  const bool patch_major = sample_stride < patch_stride;
  GQ_CHECK(count == 1    ? patch_stride >= L
           : patch_major ? sample_stride >= L && patch_stride >= sample_stride * count
                         : patch_stride >= L && sample_stride >= patch_stride * patch,
           "im2col: strides (sample {}, patch {}) overlap rows of {} positions", sample_stride,
           patch_stride, L);
  const std::size_t rows = static_cast<std::size_t>(count) * patch * s.out_h();
  GQ_CHECK(rows < (std::size_t{1} << 32) && s.x_elems() < (std::size_t{1} << 32),
           "im2col: {} rows / {} input elements need 64-bit indices", rows, s.x_elems());
  const Im2colArgs a{s.c,
                     s.h,
                     s.w,
                     s.stride_h,
                     s.stride_w,
                     s.pad_h,
                     s.pad_w,
                     s.out_w(),
                     FastDivmod(static_cast<std::uint32_t>(s.out_h())),
                     FastDivmod(static_cast<std::uint32_t>(patch_major ? count : patch)),
                     FastDivmod(static_cast<std::uint32_t>(s.r * s.s)),
                     FastDivmod(static_cast<std::uint32_t>(s.s)),
                     patch_major,
                     sample_stride,
                     patch_stride};
  launch(im2col_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, a, x, order, first,
         rows, col);
}

}  // namespace gq::kernels
