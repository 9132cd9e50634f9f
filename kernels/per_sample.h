// Per-sample and per-cluster weight gradients of Linear and Conv2d layers from one backward pass
// (docs/GRADQUEUE.md §5.3): materialised per-sample gradients, per-sample norms (Goodfellow's
// factorisation for Linear; instantiation or ghost Gram matrices for Conv2d), and per-cluster mean
// gradients over a batch grouped by cluster, without storing b per-sample gradients.
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

// ---- Per-cluster mean gradients. order[b] lists sample indices grouped by cluster; cluster c is
// order[offsets[c] .. offsets[c+1]) (offsets[k+1], offsets[0] = 0, non-decreasing, offsets[k] =
// b). Both are device arrays. g_c = (1/n_c) sum_{i in c} per-sample gradient; an empty cluster
// gives 0. Outputs gw [k, out, in] (Linear) or [k, kout, c, r, s] (Conv2d), gb [k, out] / [k, kout]
// when not null. Deterministic: every output is summed in a fixed order.
//
// Implementations:
//  - segmented: one hand-written kernel, a tiled GEMM per (piece of a cluster, output tile) that
//    reads the offsets and order from device memory and gathers x / dy rows (Conv2d: an implicit
//    im2col) as it loads its tiles; on the GPU a cluster's rows are split into pieces so that
//    small layers still fill the device, and a second kernel adds the pieces in a fixed order.
//    No host synchronisation: the GPU path.
//  - library: gathers the batch in cluster order into scratch (rows for Linear; for Conv2d im2col
//    (kernels/im2col.h) and dy rows, in chunks of samples) and runs one blas::gemm per cluster
//    (chunk) over its contiguous slice. It reads the k+1 offsets on the host (a sync on a GPU,
//    free on the emulator, whose launches are synchronous).
//  - library_conv (Conv2d; for Linear the same as library): gathers x and dy in cluster order and
//    runs the library's own weight gradient (dnn::Conv2d::backward_filter, accumulating) over
//    each cluster's contiguous slice, split into pieces of 32, 16, ..., 1 samples so that a few
//    cached plans (one per power of two, built on the first call for a shape, then reused; calls
//    are serialised by a mutex) serve any cluster size without padding; then scales by 1/n_c.
//    Host offsets as for library.
//  - automatic: the fastest measured per device (tools/bench/bench_per_sample.cpp, b = 512, k = 4,
//    paper-cnn convs): on the emulator library_conv (~1.1-1.3x the ordinary weight gradient)
//    beats library (im2col + gemm, ~2.4-3.4x: the unfold's memory traffic and a gemm slower than
//    oneDNN's direct backward-filter kernel) and segmented (~25-30x: hand-written FMAs at ~8
//    GFLOP/s); Linear uses library. On the GPU: segmented (no host sync in the training step).
enum class PerClusterPath { automatic, segmented, library, library_conv };

void linear_per_cluster_grads(const float* x, const float* dy, int b, int in, int out,
                              const int* order, const int* offsets, int k, float* gw, float* gb,
                              void* scratch, stream_t stream = nullptr);
void linear_per_cluster_grads(PerClusterPath path, const float* x, const float* dy, int b, int in,
                              int out, const int* order, const int* offsets, int k, float* gw,
                              float* gb, void* scratch, stream_t stream = nullptr);
void conv2d_per_cluster_grads(const dnn::Conv2dShape& s, const float* x, const float* dy,
                              const int* order, const int* offsets, int k, float* gw, float* gb,
                              void* scratch, stream_t stream = nullptr);
void conv2d_per_cluster_grads(PerClusterPath path, const dnn::Conv2dShape& s, const float* x,
                              const float* dy, const int* order, const int* offsets, int k,
                              float* gw, float* gb, void* scratch, stream_t stream = nullptr);
// Creates, ahead of time, what the automatic Conv2d path allocates on first use for this shape
// (the emulator's cached backward-filter plans), so that no training step allocates. Returns the
// library workspace those plans hold, in bytes (0 where the path needs none).
std::size_t prepare_per_cluster_grads(const dnn::Conv2dShape& s);
// Blocks the segmented path's main kernel launches for this layer (including the blocks of
// pieces a clustering may not need, which return at once): for benchmarks and docs/PERF.md.
std::size_t segmented_blocks_linear(int b, int in, int out, int k);
std::size_t segmented_blocks_conv2d(const dnn::Conv2dShape& s, int k);
// Enough scratch for any path.
std::size_t per_cluster_scratch_bytes_linear(int b, int in, int out, int k);
std::size_t per_cluster_scratch_bytes_conv2d(const dnn::Conv2dShape& s, int k);

namespace detail {
// The Conv2d library path unfolds a cluster in chunks of samples whose im2col rows and transposed
// dy take at most this many floats (default 2^24, 64 MiB; 0 restores it). For tests; set it before
// sizing the scratch.
void set_conv_chunk_floats(std::size_t floats);
}  // namespace detail

}  // namespace gq::kernels
