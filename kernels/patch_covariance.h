// Per-image Gram matrices of all p x p patches (stride 1, no padding) of a float NCHW batch: the
// statistics behind a whitening convolution's filters (models/whitening.h).
#pragma once

#include "runtime/stream.h"

namespace gq::kernels {

// d = c * p * p, the length of a patch flattened channel-major (index ch * p * p + dy * p + dx).
// gram[i][a][b] = sum over the (h - p + 1) * (w - p + 1) patch positions (y, x) of image i, in
// row-major order, of patch[a] * patch[b] (float, one fmaf per term: the same bits on every
// device; gram[i] is exactly symmetric).
// x: [n][c][h][w] device floats; gram: [n][d][d] device floats; 1 <= p <= min(h, w), d <= 64.
void patch_gram(const float* x, int n, int c, int h, int w, int p, float* gram,
                stream_t stream = nullptr);

}  // namespace gq::kernels
