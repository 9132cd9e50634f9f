// Pointwise activations and their backward passes (grid-stride elementwise kernels).
#pragma once

#include <cstddef>

#include "runtime/stream.h"

namespace gq::kernels {

// relu(x) = max(x, 0) (NaN propagates); gelu is the exact erf form x * 0.5 * (1 + erf(x /
// sqrt(2))), evaluated as 0.5 * x * erfc(-x / sqrt(2)), which keeps its accuracy for large negative
// x.
enum class Activation { relu, gelu };

// y[i] = act(x[i]). y may alias x.
void activation_forward(Activation act, const float* x, float* y, std::size_t n,
                        stream_t stream = nullptr);
// dx[i] = dy[i] * act'(x[i]), with x the layer input. dx may alias dy. relu'(0) = 0.
void activation_backward(Activation act, const float* x, const float* dy, float* dx, std::size_t n,
                         stream_t stream = nullptr);

}  // namespace gq::kernels
