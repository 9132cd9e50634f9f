// Elementwise operations on device arrays (grid-stride loops). In place is allowed where an
// output may alias an input.
#pragma once

#include <cstddef>

#include "runtime/stream.h"

namespace gq::kernels {

// x[i] = value
void fill(float* x, std::size_t n, float value, stream_t stream = nullptr);
// x[i] *= alpha
void scale(float* x, std::size_t n, float alpha, stream_t stream = nullptr);
// y[i] += alpha * x[i]
void axpy(std::size_t n, float alpha, const float* x, float* y, stream_t stream = nullptr);
// out[i] = alpha * a[i] + beta * b[i]
void add_scaled(std::size_t n, float alpha, const float* a, float beta, const float* b, float* out,
                stream_t stream = nullptr);
// out[i] = a[i] * b[i]
void multiply(std::size_t n, const float* a, const float* b, float* out, stream_t stream = nullptr);

}  // namespace gq::kernels
