// Per-channel bias: the forward add and the deterministic gradient reduction.
#pragma once

#include "runtime/stream.h"

namespace gq::kernels {

// y[i][ch][k] += bias[ch] for y of shape [n][channels][inner] (inner = h*w for a convolution,
// 1 for a linear layer).
void bias_add(float* y, const float* bias, int n, int channels, int inner,
              stream_t stream = nullptr);
// db[ch] = sum over i < n, k < inner of dy[i][ch][k]; with accumulate, db[ch] += that sum instead
// (db is not read otherwise). Fixed-order reduction, no atomics: bit-reproducible for a shape.
void bias_grad(const float* dy, float* db, int n, int channels, int inner, bool accumulate = false,
               stream_t stream = nullptr);

}  // namespace gq::kernels
