// 2-D max and average pooling over NCHW tensors (max pooling also over bf16 storage), and global
// average pooling. Backward passes
// are gathers (each input element sums the output gradients that reach it): no atomics, so the
// result is deterministic.
#pragma once

#include <cstdint>

#include "runtime/bf16.h"
#include "runtime/stream.h"

namespace gq::kernels {

// Input [n][c][h][w], square window `window`, step `stride`, zero-size padding `pad` on every side
// (padding is never a candidate for max and never counted by average). Output [n][c][out_h][out_w].
// Valid shapes: positive dims, window and stride, 0 <= pad, 2 * pad <= window (so every window
// holds at least one input element), and an output of at least 1 x 1.
struct PoolShape {
  int n, c, h, w;
  int window, stride, pad;
  int out_h() const { return out_extent(h); }
  int out_w() const { return out_extent(w); }

 private:
  int out_extent(int in) const {
    if (stride <= 0 || in + 2 * pad < window) return 0;
    return (in + 2 * pad - window) / stride + 1;
  }
};

// y = max over each window; argmax[o] = ih * w + iw of that max within its input plane (the first
// one in row-major window order on ties; a NaN wins over numbers). T: float, or bf16 storage.
template <class T>
void maxpool2d_forward(const PoolShape& s, const T* x, T* y, std::int32_t* argmax,
                       stream_t stream = nullptr);
// dx[i] = sum of dy[o] over the windows o that contain input element i and picked it; every
// element of dx is written (0 where no window picked it). In bf16 the sum is taken in float and
// rounded once: to_bf16 of the float kernel's result on the same inputs.
template <class T>
void maxpool2d_backward(const PoolShape& s, const T* dy, const std::int32_t* argmax, T* dx,
                        stream_t stream = nullptr);
// y = mean over the input elements inside each window (padding excluded from the count).
void avgpool2d_forward(const PoolShape& s, const float* x, float* y, stream_t stream = nullptr);
// dx[i] = sum over windows o containing i of dy[o] / count(o).
void avgpool2d_backward(const PoolShape& s, const float* dy, float* dx, stream_t stream = nullptr);

// y[n][c] = mean over the hw elements of x[n][c][*].
void global_avgpool_forward(int n, int c, int hw, const float* x, float* y,
                            stream_t stream = nullptr);
// dx[n][c][i] = dy[n][c] / hw.
void global_avgpool_backward(int n, int c, int hw, const float* dy, float* dx,
                             stream_t stream = nullptr);

}  // namespace gq::kernels
