// Unfold (im2col) of NCHW inputs, optionally gathering samples, into a strided [sample][patch][pos]
// array (the PyTorch unfold layout per sample, or patch-major across samples for one GEMM).
#pragma once

#include <cstddef>

#include "runtime/dnn.h"
#include "runtime/stream.h"

namespace gq::kernels {

// For samples j < count, with source sample src = order ? order[first + j] : first + j (order is a
// device array), patch index q = (ch * r + rr) * s + ss < c*r*s and output position
// l = oh * out_w + ow < L = out_h * out_w:
//   col[j * sample_stride + q * patch_stride + l] =
//       x[src, ch, oh*stride_h - pad_h + rr, ow*stride_w - pad_w + ss]   (0 in the padding).
// Per-sample unfold [count][c*r*s][L]: sample_stride = c*r*s*L, patch_stride = L. One matrix
// [c*r*s][count*L] for a GEMM over the samples' positions: sample_stride = L, patch_stride =
// count*L. Strides must keep the rows of L disjoint. s.n bounds the source indices; count >= 1.
void im2col(const dnn::Conv2dShape& s, const float* x, const int* order, int first, int count,
            float* col, std::size_t sample_stride, std::size_t patch_stride,
            stream_t stream = nullptr);

}  // namespace gq::kernels
