// Pointwise activations and their backward passes (grid-stride elementwise kernels).
#pragma once

#include <cstddef>

#include "runtime/bf16.h"
#include "runtime/stream.h"

namespace gq::kernels {

// relu(x) = max(x, 0) (NaN propagates); gelu is the exact erf form x * 0.5 * (1 + erf(x /
// sqrt(2))), evaluated as 0.5 * x * erfc(-x / sqrt(2)), which keeps its accuracy for large negative
// x.
enum class Activation { relu, gelu };

// T, the activations' storage: float, or bf16 (mixed precision), where each result is computed in
// float and rounded once to nearest even, the bits of to_bf16 of the float kernel's result on the
// same (bf16-valued) inputs.
// y[i] = act(x[i]). y may alias x.
template <class T>
void activation_forward(Activation act, const T* x, T* y, std::size_t n, stream_t stream = nullptr);
// dx[i] = dy[i] * act'(x[i]), with x the layer input. dx may alias dy. relu'(0) = 0.
template <class T>
void activation_backward(Activation act, const T* x, const T* dy, T* dx, std::size_t n,
                         stream_t stream = nullptr);

}  // namespace gq::kernels
