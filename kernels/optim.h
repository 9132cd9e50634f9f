// Optimizer updates and gradient safety over flat float32 parameter / gradient vectors of n
// elements: SGD (momentum, Nesterov, coupled L2), AdamW, global-norm clipping and a non-finite
// detector. Everything runs on the stream without a host synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/device_scalar.h"
#include "runtime/stream.h"

namespace gq::kernels {

// SGD with momentum, PyTorch semantics (dampening 0): g = grad + weight_decay * param;
// if momentum > 0: buf = momentum * buf + g; g = nesterov ? g + momentum * buf : buf;
// param -= lr * g. momentum_buf must start zeroed (then step 1 gives buf = g, as PyTorch) and may
// be nullptr when momentum == 0. Nesterov needs momentum > 0.
// apply (optional, device): when it holds 0 the step changes nothing (a skipped step, decided on
// the device without a host round-trip, e.g. a non-finite Grad Queue gradient).
// lr may be device memory read when the kernel runs (runtime/device_scalar.h: a captured step).
void sgd_step(float* param, const float* grad, float* momentum_buf, std::size_t n,
              DeviceScalar<float> lr, float momentum, bool nesterov, float weight_decay,
              stream_t stream = nullptr, const std::int32_t* apply = nullptr);

// AdamW (decoupled decay): param *= 1 - lr * weight_decay; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; param -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).
// m and v start zeroed; step counts from 1. lr and step may be device memory (as for sgd_step);
// the kernel computes 1 - b^step and 1 - lr * weight_decay in double, as the host did before.
// apply: as for sgd_step.
void adamw_step(float* param, const float* grad, float* m, float* v, std::size_t n,
                DeviceScalar<float> lr, float beta1, float beta2, float eps, float weight_decay,
                DeviceScalar<std::uint64_t> step, stream_t stream = nullptr,
                const std::int32_t* apply = nullptr);

// Global-norm clipping: norm_out[0] = ||grad||_2 (deterministic two-pass reduce_sum_squares, then
// a square root on the device), then grad *= min(1, max_norm / (norm + 1e-6)), read on the
// device. A gradient already within max_norm is left bit-for-bit unchanged. A non-finite norm
// makes the scale NaN, so the poisoned gradient cannot be applied unnoticed (see any_nonfinite).
// scratch: reduce_scratch_bytes() bytes.
void clip_grad_norm(float* grad, std::size_t n, float max_norm, float* norm_out, void* scratch,
                    stream_t stream = nullptr);

// flag_out[0] = 1 if any of x[0..n) is NaN or +-Inf, else 0 (two passes, no atomics).
// scratch: reduce_scratch_bytes() bytes.
void any_nonfinite(const float* x, std::size_t n, std::int32_t* flag_out, void* scratch,
                   stream_t stream = nullptr);

}  // namespace gq::kernels
