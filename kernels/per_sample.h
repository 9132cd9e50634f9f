// Per-sample weight gradients of Linear and Conv2d layers from one backward pass: materialised
// per-sample gradients and per-sample norms (Goodfellow's factorisation for Linear; instantiation
// or ghost Gram matrices for Conv2d). Training does not call them (Grad Queue's per-cluster means
// are kernels/per_cluster_grad.h); tests, parity and benchmarks use them as references.
// Layouts follow models/linear.cpp and models/conv2d.cpp: Linear W is [out, in] (y = x W^T + b);
// Conv2d is a cross-correlation with x NCHW, weights KCRS, dy [n, k, out_h, out_w]. dy is the
// gradient of the summed loss w.r.t. y, so sample i's rows of dy are the gradient of its own loss.
// All pointers are device pointers; scratch is caller-allocated (sizes from the *_scratch_bytes
// functions, 64-byte aligned as device_malloc returns); nothing allocates.
#pragma once

#include <cstddef>

#include "runtime/dnn.h"
#include "runtime/stream.h"

namespace gq::kernels {

// ---- Linear: x [b, in], dy [b, out], W [out, in].
// gw[i] = dy_i ⊗ x_i ([b, out, in]); gb[i] = dy_i ([b, out]) when gb != nullptr.
void linear_per_sample_grads(const float* x, const float* dy, int b, int in, int out, float* gw,
                             float* gb, stream_t stream = nullptr);
// sq_norms[i] = ||gw_i||^2 = ||dy_i||^2 ||x_i||^2 (+ ||dy_i||^2 with the bias), without
// materialising gw.
void linear_per_sample_sq_norms(const float* x, const float* dy, int b, int in, int out,
                                bool with_bias, float* sq_norms, stream_t stream = nullptr);

// ---- Conv2d (s.n = b): gw [b, k, c, r, s], gb [b, k] (sum of dy_i over positions) when not null.
void conv2d_per_sample_grads(const dnn::Conv2dShape& s, const float* x, const float* dy, float* gw,
                             float* gb, void* scratch, stream_t stream = nullptr);
// gb [b, k] alone (each sample's dy summed over positions, in order); no scratch.
void conv2d_per_sample_bias_grads(const dnn::Conv2dShape& s, const float* dy, float* gb,
                                  stream_t stream = nullptr);

// How per-sample squared norms of a Conv2d are computed. With L = out_h*out_w positions, patch
// size p = c*r*s and d = k output channels: `instantiate` forms every gw_i = dy_i
// [d, L] x unfold(x_i) [L, p] (~L*p*d multiply-adds per sample) and sums its squares; `ghost` uses
// ||sum_l dy_il ⊗ u_il||^2 = sum_{l,l'} (dy_il·dy_il')(u_il·u_il'), two L x L Gram matrices
// (~L^2*(p+d) per sample).
enum class NormMethod { instantiate, ghost };
// The cheaper method by that cost model: ghost iff L*(p+d) < p*d.
NormMethod conv2d_norm_method(const dnn::Conv2dShape& s);
// With the method the cost model picks.
void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, const float* x, const float* dy,
                                bool with_bias, float* sq_norms, void* scratch,
                                stream_t stream = nullptr);
// With a forced method (tests, benchmarks).
void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, NormMethod method, const float* x,
                                const float* dy, bool with_bias, float* sq_norms, void* scratch,
                                stream_t stream = nullptr);
// Scratch for conv2d_per_sample_grads and for conv2d_per_sample_sq_norms with either method.
std::size_t conv2d_per_sample_scratch_bytes(const dnn::Conv2dShape& s);

}  // namespace gq::kernels
