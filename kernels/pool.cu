// Max / average pooling (square window, stride, zero padding) and global average pooling, NCHW.
// Launch shape: 2-D pooling forward and backward are grid-stride maps (kBlock threads, grid from
// grid_stride_blocks, grid_range shares) over output elements (forward) or input elements
// (backward, a gather over the at most ceil(window/stride)^2 windows that contain the element, in
// a fixed order: no atomics; for max windows that tile the input, each output writes its whole
// window instead (no memset); for other non-overlapping ones, a memset and a conflict-free
// scatter from the outputs). Global average pooling forward gives each (n, c) plane to one thread
// (grid_range over planes; the planes are small, 4x4 to 8x8 in our nets, and the sum is then the
// same on both devices); its backward is a grid-stride broadcast. Flat indices are split into
// (plane, row, col) with FastDivmod: a hardware divide per element dominated these kernels (max
// forward on the emulator steps through its contiguous share instead; whole 2x2 stride-2 windows
// are unrolled on the GPU and, on the emulator, taken a row chunk at a time in two vectorised
// passes).
// Max pooling reads and writes float or bf16 (T: the activations' storage; a maximum is exact in
// either, and a backward sum is taken in float and rounded once). Memory traffic: max forward
// reads each input ~(window/stride)^2 times (cached) and writes sizeof(T) + 4 bytes per output
// (value + int32 argmax); max backward reads the dy and argmax of the windows around each input
// and writes sizeof(T) per input; average pooling the same without argmax;
// global average pooling reads the input once and writes one float per plane (backward: the
// reverse). All bandwidth-bound.
#include "kernels/pool.h"

#include "kernels/block_reduce.cuh"
#include "runtime/bf16.h"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/memory.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

// Shape facts the kernels need, passed by value.
struct Geometry {
  int h, w, out_h, out_w;
  int window, stride, pad;
  FastDivmod w_div, h_div, out_w_div, out_h_div, stride_div, out_plane_div;
};

// (plane, row, col) of flat index i over planes of rows x cols.
struct Position {
  std::size_t plane;
  int row, col;
};
__device__ __forceinline__ Position locate(std::size_t i, const FastDivmod& cols,
                                           const FastDivmod& rows) {
  std::uint32_t q, col, plane, row;
  cols.divmod(static_cast<std::uint32_t>(i), q, col);
  rows.divmod(q, plane, row);
  return {plane, static_cast<int>(row), static_cast<int>(col)};
}

// Output windows along one axis that contain input coordinate i: [first, last] (empty if
// first > last). Window o covers [o * stride - pad, o * stride - pad + window - 1].
__device__ __forceinline__ void covering(int i, const Geometry& g, int out, int& first, int& last) {
  const int hi = i + g.pad;          // o * stride <= hi
  const int lo = hi - g.window + 1;  // o * stride >= lo
  first = lo <= 0
              ? 0
              : static_cast<int>(g.stride_div.div(static_cast<std::uint32_t>(lo + g.stride - 1)));
  last = min(static_cast<int>(g.stride_div.div(static_cast<std::uint32_t>(hi))), out - 1);
}

// The input rows [h_begin, h_end) and columns [w_begin, w_end) of output (oh, ow)'s window,
// padding excluded (never empty: checked_geometry keeps pad <= window / 2).
struct Window {
  int h_begin, h_end, w_begin, w_end;
};
__device__ __forceinline__ Window window_of(int oh, int ow, const Geometry& g) {
  const int h0 = oh * g.stride - g.pad, w0 = ow * g.stride - g.pad;
  return {max(h0, 0), min(h0 + g.window, g.h), max(w0, 0), min(w0 + g.window, g.w)};
}

// Number of input elements (padding excluded) in the window starting at `start` along one axis.
__device__ __forceinline__ int inside(int start, int window, int extent) {
  return min(start + window, extent) - max(start, 0);
}

// The emulator's contiguous share as runs along one output row, at most max_run long:
// f(o, plane, oh, ow, run) for the outputs o .. o + run - 1 at (plane, oh, ow ...). A loop over a
// run steps nothing, so the host compiler can vectorise it.
template <class F>
__device__ __forceinline__ void for_each_output_run(std::size_t total, const Geometry& g,
                                                    int max_run, F&& f) {
  const IndexRange share = grid_range(total);
  if (share.first >= share.last) return;
  auto [plane, oh, ow] = locate(share.first, g.out_w_div, g.out_h_div);
  for (std::size_t o = share.first; o < share.last;) {
    const int run = static_cast<int>(
        min(min(std::size_t(g.out_w - ow), share.last - o), static_cast<std::size_t>(max_run)));
    f(o, plane, oh, ow, run);
    o += run;
    if ((ow += run) == g.out_w) {
      ow = 0;
      if (++oh == g.out_h) {
        oh = 0;
        ++plane;
      }
    }
  }
}

// Calls f(o, plane, oh, ow) for each output o of this thread's grid_range share. On the GPU the
// share is strided and each o is located with two divides; on the emulator it is one contiguous
// run, located once and then stepped (which took a fifth off max-pool forward's time there).
template <class F>
__device__ __forceinline__ void for_each_output(std::size_t total, const Geometry& g, F&& f) {
  if constexpr (kEmulatorShapes) {
    for_each_output_run(total, g, g.out_w,
                        [&](std::size_t o, std::size_t plane, int oh, int ow, int run) {
                          for (int j = 0; j < run; ++j) f(o + j, plane, oh, ow + j);
                        });
  } else {
    for (const std::size_t o : grid_range(total)) {
      const auto [plane, oh, ow] = locate(o, g.out_w_div, g.out_h_div);
      f(o, plane, oh, ow);
    }
  }
}

// Strictly greater keeps the first maximum; the first NaN wins and then stays. Selects, not a
// branch: which element wins is data, and a CPU mispredicts it half the time.
__device__ __forceinline__ bool takes(float v, float best) {
  return (v > best) | ((v != v) & (best == best));
}
__device__ __forceinline__ void keep_max(float v, int index, float& best, int& best_index) {
  const bool take = takes(v, best);
  best = take ? v : best;
  best_index = take ? index : best_index;
}

// max[j] = the larger of row[2j] and row[2j + 1] by keep_max's rule, second[j] = 1 where that is
// row[2j + 1].
template <class T>
__device__ __forceinline__ void pair_max(const T* __restrict__ row, float* __restrict__ max,
                                         std::int32_t* __restrict__ second, int n) {
  for (int j = 0; j < n; ++j) {
    const float a = to_float(row[2 * j]), b = to_float(row[2 * j + 1]);
    const bool take = takes(b, a);
    max[j] = take ? b : a;
    second[j] = take;
  }
}

// kPairs: 0 for any window; 2 for 2x2, stride 2, unpadded windows (every window whole), unrolled.
// Both visit a window's elements row by row, so they give the same bits. T: the storage (float or
// bf16); a maximum is one of its inputs, so y holds it exactly.
template <int kPairs, class T>
__global__ void __launch_bounds__(kBlock)
    maxpool_forward_kernel(Geometry g, const T* __restrict__ x, T* __restrict__ y,
                           std::int32_t* __restrict__ argmax, std::size_t total) {
  if constexpr (kPairs == 2 && kEmulatorShapes) {
    // The emulator's contiguous share, a chunk of one output row at a time, in two passes the
    // host compiler vectorises (one pass over both rows' stride-2 pairs does not vectorise in
    // g++ 12): the max of each horizontal pair, then of the two rows' pair maxima. The same bits
    // as keep_max over the window in row order (a window's first max, or its first NaN, is the
    // first of the first pair that holds it); 4x the stepped loop (gq-bench-kernels, docs/PERF.md).
    constexpr int kChunk = 64;
    float max0[kChunk], max1[kChunk];
    std::int32_t second0[kChunk], second1[kChunk];
    auto run_of_outputs = [&](std::size_t o, std::size_t plane, int oh, int ow, int run) {
      const int top = 2 * oh * g.w + 2 * ow;
      const T* r0 = x + plane * g.h * g.w + top;
      pair_max(r0, max0, second0, run);
      pair_max(r0 + g.w, max1, second1, run);
      for (int j = 0; j < run; ++j) {
        const bool lower = takes(max1[j], max0[j]);
        y[o + j] = stored_as<T>(lower ? max1[j] : max0[j]);
        argmax[o + j] = top + 2 * j + (lower ? g.w + second1[j] : second0[j]);
      }
    };
    for_each_output_run(total, g, kChunk, run_of_outputs);
    return;
  }
  for_each_output(total, g, [&](std::size_t o, std::size_t plane, int oh, int ow) {
    const T* in = x + plane * g.h * g.w;
    int best_index;
    float best;
    if constexpr (kPairs == 2) {
      const int top = 2 * oh * g.w + 2 * ow;
      best_index = top;
      best = to_float(in[top]);
      keep_max(to_float(in[top + 1]), top + 1, best, best_index);
      keep_max(to_float(in[top + g.w]), top + g.w, best, best_index);
      keep_max(to_float(in[top + g.w + 1]), top + g.w + 1, best, best_index);
    } else {
      const auto [h_begin, h_end, w_begin, w_end] = window_of(oh, ow, g);
      best_index = h_begin * g.w + w_begin;  // the window always holds an input element
      best = to_float(in[best_index]);
      for (int ih = h_begin; ih < h_end; ++ih)
        for (int iw = w_begin; iw < w_end; ++iw)
          keep_max(to_float(in[ih * g.w + iw]), ih * g.w + iw, best, best_index);
    }
    y[o] = stored_as<T>(best);
    argmax[o] = best_index;
  });
}

// T: the storage; the gradients that reach an input are summed in float and rounded once.
template <class T>
__global__ void __launch_bounds__(kBlock)
    maxpool_backward_kernel(Geometry g, const T* __restrict__ dy,
                            const std::int32_t* __restrict__ argmax, T* __restrict__ dx,
                            std::size_t total) {
  for (const std::size_t i : grid_range(total)) {
    const auto [plane, ih, iw] = locate(i, g.w_div, g.h_div);
    const std::size_t out_base = plane * g.out_h * g.out_w;
    const int me = ih * g.w + iw;
    int oh_first, oh_last, ow_first, ow_last;
    covering(ih, g, g.out_h, oh_first, oh_last);
    covering(iw, g, g.out_w, ow_first, ow_last);
    float acc = 0.0f;
    for (int oh = oh_first; oh <= oh_last; ++oh)
      for (int ow = ow_first; ow <= ow_last; ++ow) {
        const std::size_t o = out_base + std::size_t(oh) * g.out_w + ow;
        if (argmax[o] == me) acc += to_float(dy[o]);
      }
    dx[i] = stored_as<T>(acc);
  }
}

// Non-overlapping windows (stride >= window): every input lies in at most one window, so the
// gradient is scattered from the outputs without conflicts onto a zeroed dx. A quarter of the
// work of the gather for 2x2 windows.
template <class T>
__global__ void __launch_bounds__(kBlock)
    maxpool_backward_scatter_kernel(Geometry g, const T* __restrict__ dy,
                                    const std::int32_t* __restrict__ argmax, T* __restrict__ dx,
                                    std::size_t total_out) {
  const FastDivmod& plane_size = g.out_plane_div;
  for (const std::size_t o : grid_range(total_out)) {
    const std::size_t plane = plane_size.div(static_cast<std::uint32_t>(o));
    dx[plane * g.h * g.w + argmax[o]] = dy[o];
  }
}

// Windows that tile the input exactly (stride = window, no padding, sides divisible by it: the
// max-pools of paper-cnn; airbench94's odd sides take the scatter): each output writes its whole window, dy at its argmax and 0 elsewhere, so
// every dx element is written once and no memset is needed. The scatter's bits. kPairs = 2: 2x2
// windows, unrolled.
template <int kPairs, class T>
__global__ void __launch_bounds__(kBlock)
    maxpool_backward_tiles_kernel(Geometry g, const T* __restrict__ dy,
                                  const std::int32_t* __restrict__ argmax, T* __restrict__ dx,
                                  std::size_t total_out) {
  // d at the argmax, zero elsewhere; for bf16 a select between bits, which g++ 12 vectorises
  // (between two bf16 structs it branches).
  auto d_or_zero = [](bool at_max, T d) {
    if constexpr (std::is_same_v<T, float>)
      return at_max ? d : 0.0f;
    else
      return bf16_from_bits(at_max ? bits_of(d) : std::uint16_t{0});
  };
  // Output o's window in plane `out`, its top-left element at `top`.
  auto write_window = [&](std::size_t o, T* out, int top) {
    const int pick = argmax[o] - top;  // the window-relative offset of the max
    const T d = dy[o];
    if constexpr (kPairs == 2) {
      out[top] = d_or_zero(pick == 0, d);
      out[top + 1] = d_or_zero(pick == 1, d);
      out[top + g.w] = d_or_zero(pick == g.w, d);
      out[top + g.w + 1] = d_or_zero(pick == g.w + 1, d);
    } else {
      for (int r = 0; r < g.window; ++r)
        for (int q = 0; q < g.window; ++q)
          out[top + r * g.w + q] = d_or_zero(r * g.w + q == pick, d);
    }
  };
  if constexpr (kEmulatorShapes) {  // a run of windows along an output row at a time
    auto run_of_outputs = [&](std::size_t o, std::size_t plane, int oh, int ow, int run) {
      T* out = dx + plane * g.h * g.w;
      const int window = kPairs == 2 ? 2 : g.window;  // a constant stride lets g++ vectorise
      const int top = (oh * g.w + ow) * window;
      for (int j = 0; j < run; ++j) write_window(o + j, out, top + j * window);
    };
    for_each_output_run(total_out, g, g.out_w, run_of_outputs);
  } else {
    for_each_output(total_out, g, [&](std::size_t o, std::size_t plane, int oh, int ow) {
      write_window(o, dx + plane * g.h * g.w, (oh * g.w + ow) * g.window);
    });
  }
}

__global__ void __launch_bounds__(kBlock)
    avgpool_forward_kernel(Geometry g, const float* __restrict__ x, float* __restrict__ y,
                           std::size_t total) {
  for (const std::size_t o : grid_range(total)) {
    const auto [plane, oh, ow] = locate(o, g.out_w_div, g.out_h_div);
    const float* in = x + plane * g.h * g.w;
    const auto [h_begin, h_end, w_begin, w_end] = window_of(oh, ow, g);
    float acc = 0.0f;
    for (int ih = h_begin; ih < h_end; ++ih)
      for (int iw = w_begin; iw < w_end; ++iw) acc += in[ih * g.w + iw];
    y[o] = acc / static_cast<float>((h_end - h_begin) * (w_end - w_begin));
  }
}

__global__ void __launch_bounds__(kBlock)
    avgpool_backward_kernel(Geometry g, const float* __restrict__ dy, float* __restrict__ dx,
                            std::size_t total) {
  for (const std::size_t i : grid_range(total)) {
    const auto [plane, ih, iw] = locate(i, g.w_div, g.h_div);
    const std::size_t out_base = plane * g.out_h * g.out_w;
    int oh_first, oh_last, ow_first, ow_last;
    covering(ih, g, g.out_h, oh_first, oh_last);
    covering(iw, g, g.out_w, ow_first, ow_last);
    float acc = 0.0f;
    for (int oh = oh_first; oh <= oh_last; ++oh) {
      const int rows = inside(oh * g.stride - g.pad, g.window, g.h);
      for (int ow = ow_first; ow <= ow_last; ++ow) {
        const int count = rows * inside(ow * g.stride - g.pad, g.window, g.w);
        acc += dy[out_base + std::size_t(oh) * g.out_w + ow] / static_cast<float>(count);
      }
    }
    dx[i] = acc;
  }
}

// One thread per plane, summing in index order.
__global__ void __launch_bounds__(kBlock)
    global_avgpool_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                  std::size_t planes, int hw) {
  for (const std::size_t p : grid_range(planes)) {
    const float* in = x + p * hw;
    float acc = 0.0f;
    for (int i = 0; i < hw; ++i) acc += in[i];
    y[p] = acc / static_cast<float>(hw);
  }
}

__global__ void __launch_bounds__(kBlock)
    global_avgpool_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx,
                                   std::size_t total, FastDivmod hw) {
  for (const std::size_t i : grid_range(total))
    dx[i] = dy[hw.div(static_cast<std::uint32_t>(i))] / static_cast<float>(hw.divisor());
}

Geometry checked_geometry(const PoolShape& s, const char* what) {
  GQ_CHECK(s.n > 0 && s.c > 0 && s.h > 0 && s.w > 0,
           "{}: input dims must be positive, got n={} c={} h={} w={}", what, s.n, s.c, s.h, s.w);
  GQ_CHECK(s.window > 0 && s.stride > 0 && s.pad >= 0,
           "{}: need window > 0, stride > 0, pad >= 0, got window={} stride={} pad={}", what,
           s.window, s.stride, s.pad);
  GQ_CHECK(2 * s.pad <= s.window,
           "{}: pad {} is more than half the window {} (a window could hold only padding)", what,
           s.pad, s.window);
  GQ_CHECK(s.out_h() > 0 && s.out_w() > 0,
           "{}: window {} with pad {} does not fit the {}x{} input (output {}x{})", what, s.window,
           s.pad, s.h, s.w, s.out_h(), s.out_w());
  GQ_CHECK(std::size_t(s.n) * s.c * s.h * s.w < (std::size_t{1} << 32),
           "{}: {}x{}x{}x{} has 2^32 or more elements; index arithmetic is 32-bit", what, s.n, s.c,
           s.h, s.w);
  return Geometry{s.h,
                  s.w,
                  s.out_h(),
                  s.out_w(),
                  s.window,
                  s.stride,
                  s.pad,
                  FastDivmod(s.w),
                  FastDivmod(s.h),
                  FastDivmod(s.out_w()),
                  FastDivmod(s.out_h()),
                  FastDivmod(s.stride),
                  FastDivmod(s.out_h() * s.out_w())};
}

std::size_t planes(const PoolShape& s) {
  return std::size_t(s.n) * s.c;
}

}  // namespace

template <class T>
void maxpool2d_forward(const PoolShape& s, const T* x, T* y, std::int32_t* argmax,
                       stream_t stream) {
  const Geometry g = checked_geometry(s, "maxpool2d_forward");
  GQ_CHECK(x && y && argmax, "maxpool2d_forward: null device pointer");
  const std::size_t total = planes(s) * g.out_h * g.out_w;
  // Unpadded 2x2 windows at stride 2 are all whole, odd sides too (the floor drops the last row
  // and column): airbench94 pools 31x31 planes.
  const bool pairs = g.window == 2 && g.stride == 2 && g.pad == 0;
  launch(pairs ? maxpool_forward_kernel<2, T> : maxpool_forward_kernel<0, T>,
         grid_stride_blocks(total, kBlock), kBlock, 0, stream, g, x, y, argmax, total);
}

template <class T>
void maxpool2d_backward(const PoolShape& s, const T* dy, const std::int32_t* argmax, T* dx,
                        stream_t stream) {
  const Geometry g = checked_geometry(s, "maxpool2d_backward");
  GQ_CHECK(dy && argmax && dx, "maxpool2d_backward: null device pointer");
  if (g.stride == g.window && g.pad == 0 && g.h % g.window == 0 && g.w % g.window == 0) {
    const std::size_t total_out = planes(s) * g.out_h * g.out_w;
    launch(
        g.window == 2 ? maxpool_backward_tiles_kernel<2, T> : maxpool_backward_tiles_kernel<0, T>,
        grid_stride_blocks(total_out, kBlock), kBlock, 0, stream, g, dy, argmax, dx, total_out);
    return;
  }
  if (g.stride >= g.window) {
    const std::size_t total_out = planes(s) * g.out_h * g.out_w;
    memset_device(dx, 0, planes(s) * g.h * g.w * sizeof(T), stream);  // +0 in float and bf16
    launch(maxpool_backward_scatter_kernel<T>, grid_stride_blocks(total_out, kBlock), kBlock, 0,
           stream, g, dy, argmax, dx, total_out);
    return;
  }
  const std::size_t total = planes(s) * g.h * g.w;
  launch(maxpool_backward_kernel<T>, grid_stride_blocks(total, kBlock), kBlock, 0, stream, g, dy,
         argmax, dx, total);
}

#define GQ_MAXPOOL_STORAGE(T)                                                                  \
  template void maxpool2d_forward<T>(const PoolShape&, const T*, T*, std::int32_t*, stream_t); \
  template void maxpool2d_backward<T>(const PoolShape&, const T*, const std::int32_t*, T*,     \
                                      stream_t);
GQ_MAXPOOL_STORAGE(float)
GQ_MAXPOOL_STORAGE(bf16)
#undef GQ_MAXPOOL_STORAGE

void avgpool2d_forward(const PoolShape& s, const float* x, float* y, stream_t stream) {
  const Geometry g = checked_geometry(s, "avgpool2d_forward");
  GQ_CHECK(x && y, "avgpool2d_forward: null device pointer");
  const std::size_t total = planes(s) * g.out_h * g.out_w;
  launch(avgpool_forward_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, g, x, y,
         total);
}

void avgpool2d_backward(const PoolShape& s, const float* dy, float* dx, stream_t stream) {
  const Geometry g = checked_geometry(s, "avgpool2d_backward");
  GQ_CHECK(dy && dx, "avgpool2d_backward: null device pointer");
  const std::size_t total = planes(s) * g.h * g.w;
  launch(avgpool_backward_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, g, dy, dx,
         total);
}

void global_avgpool_forward(int n, int c, int hw, const float* x, float* y, stream_t stream) {
  GQ_CHECK(n > 0 && c > 0 && hw > 0,
           "global_avgpool_forward: dims must be positive, got n={} c={} hw={}", n, c, hw);
  GQ_CHECK(x && y, "global_avgpool_forward: null device pointer");
  const std::size_t count = std::size_t(n) * c;
  launch(global_avgpool_forward_kernel, grid_stride_blocks(count, kBlock), kBlock, 0, stream, x, y,
         count, hw);
}

void global_avgpool_backward(int n, int c, int hw, const float* dy, float* dx, stream_t stream) {
  GQ_CHECK(n > 0 && c > 0 && hw > 0,
           "global_avgpool_backward: dims must be positive, got n={} c={} hw={}", n, c, hw);
  GQ_CHECK(dy && dx, "global_avgpool_backward: null device pointer");
  const std::size_t total = std::size_t(n) * c * hw;
  GQ_CHECK(total < (std::size_t{1} << 32),
           "global_avgpool_backward: {} elements; index "
           "arithmetic is 32-bit",
           total);
  launch(global_avgpool_backward_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, dy,
         dx, total, FastDivmod(static_cast<std::uint32_t>(hw)));
}

}  // namespace gq::kernels
