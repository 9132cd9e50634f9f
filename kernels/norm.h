// Normalisation layers' kernels: BatchNorm2d (training and eval forward, backward) and GroupNorm
// (forward, backward; groups == c is InstanceNorm, groups == 1 is LayerNorm over (c, h, w)).
// NCHW, device pointers; activations float or bf16 (T), statistics and parameters float.
// Statistics are reduced in a fixed order (no atomics), so results are bit-reproducible run to run.
#pragma once

#include "runtime/bf16.h"
#include "runtime/stream.h"

namespace gq::kernels {

// Training mode: per-channel batch mean and biased variance over (n, hw) (two passes),
// y = gamma * (x - mean) * invstd + beta with invstd = 1 / sqrt(var + eps). Saves mean and invstd
// (c each) for the backward pass and updates the running statistics in place:
// running_mean = (1 - momentum) * running_mean + momentum * mean, running_var likewise with the
// unbiased variance (PyTorch convention). Needs n * hw > 1. y must not alias x.
// T, the storage of x, y, dy and dx: float, or bf16 (each output computed in float and rounded
// once: to_bf16 of the float kernel's result on the same inputs).
template <class T>
void batchnorm2d_forward_train(int n, int c, int hw, const T* x, const float* gamma,
                               const float* beta, T* y, float* save_mean, float* save_invstd,
                               float* running_mean, float* running_var, float momentum, float eps,
                               stream_t stream = nullptr);

// Eval mode: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta. y may alias x.
template <class T>
void batchnorm2d_forward_eval(int n, int c, int hw, const T* x, const float* gamma,
                              const float* beta, const float* running_mean,
                              const float* running_var, float eps, T* y, stream_t stream = nullptr);

// Gradients of the training-mode forward, from its saved mean and invstd: dx (the full
// batch-coupled formula), dgamma and dbeta (written, or added to when accumulate is true).
template <class T>
void batchnorm2d_backward(int n, int c, int hw, const T* x, const T* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, T* dx, float* dgamma,
                          float* dbeta, bool accumulate = false, stream_t stream = nullptr);

// GroupNorm: c channels in `groups` groups (c % groups == 0); mean and biased variance per
// (sample, group) over (c / groups) * hw values; per-channel affine gamma, beta (c each).
// save_mean and save_invstd hold n * groups values, indexed sample * groups + group. T as for
// BatchNorm: float, or bf16 (each output to_bf16 of the float kernel's on the same inputs).
template <class T>
void groupnorm_forward(int n, int c, int hw, int groups, const T* x, const float* gamma,
                       const float* beta, float eps, T* y, float* save_mean, float* save_invstd,
                       stream_t stream = nullptr);

// Gradients of groupnorm_forward: dx, and dgamma, dbeta (c each; written, or added to when
// accumulate is true), each reduced over the batch in a fixed order.
template <class T>
void groupnorm_backward(int n, int c, int hw, int groups, const T* x, const T* dy,
                        const float* gamma, const float* save_mean, const float* save_invstd, T* dx,
                        float* dgamma, float* dbeta, bool accumulate = false,
                        stream_t stream = nullptr);

}  // namespace gq::kernels
