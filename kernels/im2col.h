// Unfold (im2col) of NCHW inputs into position-major rows, optionally gathering samples.
#pragma once

#include "runtime/dnn.h"
#include "runtime/stream.h"

namespace gq::kernels {

// For samples j < count, with source sample src = order ? order[first + j] : first + j (order is a
// device array), writes one row per output position l = oh * out_w + ow:
//   col[(j * L + l) * (c*r*s) + (ch * r + rr) * s + ss] = x[src, ch, oh*stride_h - pad_h + rr,
//                                                           ow*stride_w - pad_w + ss]  (0 outside),
// L = out_h * out_w. So col holds, per sample, unfold(x_src) as an [L, c*r*s] row-major matrix
// (the transpose of PyTorch's unfold), and gw[k, c*r*s] = dy[k, L] * col is the weight gradient.
// s.n bounds the source indices (0 <= src < s.n); count >= 1.
void im2col_rows(const dnn::Conv2dShape& s, const float* x, const int* order, int first, int count,
                 float* col, stream_t stream = nullptr);

}  // namespace gq::kernels
