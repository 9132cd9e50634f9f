// Test-time augmentation: the views of a normalised batch (mirror, +-1-pixel reflect translations)
// and the weighted combination of their logits.
// Launch shapes: tta_make_views: one block of kBlock threads per output plane (views * n * c
// blocks), each thread a block_range share of the plane's h * w pixels; tta_combine: a
// grid-stride map over n * classes. Memory traffic: views 4 bytes read + 4 written per output
// element (each input element read once per view); combine 4 * views bytes read + 4 written per
// logit. Both bandwidth-bound, no reductions (a fixed formula per element: deterministic).
#include "kernels/tta.h"

#include <cstddef>

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

__device__ __forceinline__ int reflect_index(int i, int n) {
  return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
}

// View v: (shift, mirrored). out(y, x) = x_reflected(y + shift, (mirrored ? w - 1 - x : x) + shift).
__global__ void __launch_bounds__(kBlock)
    tta_views_kernel(const float* __restrict__ x, int n, int c, int h, int w,
                     float* __restrict__ views) {
  const int plane = static_cast<int>(blockIdx.x);  // (view, sample, channel)
  const int v = plane / (n * c);
  const int src_plane = plane % (n * c);
  const int shift = v < 2 ? 0 : (v < 4 ? -1 : 1);
  const bool mirrored = (v & 1) != 0;
  const std::size_t plane_size = std::size_t(h) * w;
  const float* in = x + std::size_t(src_plane) * plane_size;
  float* out = views + std::size_t(plane) * plane_size;
  const auto pixel = [&](std::size_t i, int y, int xo) {
    const int sy = reflect_index(y + shift, h);
    const int sx = reflect_index((mirrored ? w - 1 - xo : xo) + shift, w);
    out[i] = in[sy * w + sx];
  };
  const IndexRange share = block_range(plane_size);
  if constexpr (kEmulatorShapes) {  // one contiguous run: no divide per pixel
    int y = static_cast<int>(share.first / w), xo = static_cast<int>(share.first % w);
    for (std::size_t i = share.first; i < share.last; ++i) {
      pixel(i, y, xo);
      if (++xo == w) xo = 0, ++y;
    }
  } else {
    for (const std::size_t i : share) pixel(i, static_cast<int>(i / w), static_cast<int>(i % w));
  }
}

__device__ __forceinline__ float mirror(float a, float b) { return 0.5f * a + 0.5f * b; }

__global__ void __launch_bounds__(kBlock)
    tta_combine_kernel(const float* __restrict__ l, std::size_t count, int level,
                       float* __restrict__ out) {
  for (const std::size_t i : grid_range(count)) {
    if (level == 0) {
      out[i] = l[i];
    } else if (level == 1) {
      out[i] = mirror(l[i], l[count + i]);
    } else {
      const float plain = mirror(l[i], l[count + i]);
      const float up = mirror(l[2 * count + i], l[3 * count + i]);
      const float down = mirror(l[4 * count + i], l[5 * count + i]);
      const float translated = (up + down) * 0.5f;
      out[i] = 0.5f * plain + 0.5f * translated;
    }
  }
}

void check_level(const char* what, int level) {
  GQ_CHECK(level >= 0 && level <= 2, "{}: TTA level must be 0, 1 or 2, got {}", what, level);
}

}  // namespace

int tta_view_count(int level) {
  check_level("tta_view_count", level);
  return level == 0 ? 1 : (level == 1 ? 2 : 6);
}

void tta_make_views(const float* x, int n, int c, int h, int w, int level, float* views,
                    stream_t stream) {
  const int v = tta_view_count(level);
  GQ_CHECK(n > 0 && c > 0 && h >= 2 && w >= 2,
           "tta_make_views: needs n, c >= 1 and h, w >= 2, got n={} c={} h={} w={}", n, c, h, w);
  GQ_CHECK(static_cast<long long>(v) * n * c <= 0x7fffffffLL,
           "tta_make_views: {} views x {} samples x {} channels exceed the grid limit", v, n, c);
  GQ_CHECK(x != nullptr && views != nullptr && x != views, "tta_make_views: null or aliased");
  launch(tta_views_kernel, static_cast<unsigned>(v * n * c), kBlock, 0, stream, x, n, c, h, w,
         views);
}

void tta_combine(const float* view_logits, int n, int classes, int level, float* out,
                 stream_t stream) {
  check_level("tta_combine", level);
  GQ_CHECK(n > 0 && classes > 0, "tta_combine: needs n, classes >= 1, got {} and {}", n, classes);
  GQ_CHECK(view_logits != nullptr && out != nullptr, "tta_combine: null pointer");
  const std::size_t count = std::size_t(n) * classes;
  launch(tta_combine_kernel, grid_stride_blocks(count, kBlock), kBlock, 0, stream, view_logits,
         count, level, out);
}

}  // namespace gq::kernels
