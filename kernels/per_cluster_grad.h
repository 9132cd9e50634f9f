// Per-cluster mean weight gradients of Linear and Conv2d layers (docs/GRADQUEUE.md §5.3): for a
// batch grouped by cluster (kernels/clustering.h), g_c = (1/n_c) sum_{i in c} of sample i's
// gradient, from one backward pass's x and dy, without storing b per-sample gradients.
// One object per layer, built once for (shape, k, path): it owns its library plans and scratch and
// reports their bytes; a call allocates nothing.
// Layouts follow models/linear.cpp and models/conv2d.cpp: Linear W is [out, in] (y = x W^T + b);
// Conv2d is a cross-correlation with x NCHW, weights KCRS, dy [n, kout, out_h, out_w]. dy is the
// gradient of the summed loss w.r.t. y, so sample i's rows of dy are the gradient of its own loss.
// All pointers are device pointers.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/clustering.h"
#include "runtime/dnn.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace gq::kernels {

// Implementations:
//  - segmented: one hand-written kernel, a tiled GEMM per (piece of a cluster, output tile) that
//    reads the offsets and order from device memory and gathers x / dy rows (Conv2d: an implicit
//    im2col) as it loads its tiles; on the GPU a cluster's rows are split into pieces so that
//    small layers still fill the device, and a second kernel adds the pieces in a fixed order.
//    No host synchronisation: the GPU path.
//  - library: gathers the batch in cluster order (rows for Linear; for Conv2d im2col
//    (kernels/im2col.h) and dy rows, in chunks of samples) and runs one blas::gemm per cluster
//    (chunk) over its contiguous slice. It reads the k+1 offsets on the host (a sync on a GPU,
//    free on the emulator, whose launches are synchronous).
//  - library_conv (Conv2d; for Linear the same as library): gathers x and dy in cluster order and
//    runs the library's own weight gradient (dnn::Conv2d::backward_filter, accumulating) over
//    each cluster's contiguous slice, split into pieces of 32, 16, ..., 1 samples so that a few
//    plans (one per power of two, built with the object) serve any cluster size without padding;
//    then scales by 1/n_c. Host offsets as for library.
//  - automatic: the fastest measured per device (tools/bench/bench_per_sample.cpp, b = 512, k = 4,
//    paper-cnn convs): on the emulator library_conv (~1.1-1.3x the ordinary weight gradient)
//    beats library (im2col + gemm, ~2.4-3.4x: the unfold's memory traffic and a gemm slower than
//    oneDNN's direct backward-filter kernel) and segmented (~25-30x: hand-written FMAs at ~8
//    GFLOP/s); Linear uses library. On the GPU: segmented (no host sync in the training step).
enum class PerClusterPath { automatic, segmented, library, library_conv };

// compute()'s outputs: gw has k rows of out*in (Linear) or kout*c*r*s (Conv2d) floats, row c =
// g_c; gb has k rows of out / kout floats (the bias's mean gradient), or a null gb.data: no bias.
// Rows may be strided (ld >= cols), e.g. a layer's columns of a k x P matrix. An empty cluster
// gives 0. clusters.order and clusters.offsets are read (not sizes); clusters.k and clusters.b
// must be the object's. Deterministic: every output is summed in a fixed order.

class LinearPerClusterGrad {
 public:
  // x [b, in], dy [b, out].
  LinearPerClusterGrad(int b, int in, int out, int k,
                       PerClusterPath path = PerClusterPath::automatic);
  void compute(const float* x, const float* dy, const Clustering& clusters, MatrixView gw,
               MatrixView gb, stream_t stream = nullptr);
  // Device bytes it holds (scratch; blas needs no workspace).
  std::size_t bytes() const;

 private:
  int b_, in_, out_, k_;
  PerClusterPath path_;           // segmented or library
  DeviceBuffer<float> xs_, dys_;  // library: x and dy rows in cluster order
  DeviceBuffer<float> partials_;  // segmented: the split's partial sums
};

class Conv2dPerClusterGrad {
 public:
  // The library path unfolds a cluster in chunks of samples whose im2col rows and transposed dy
  // take at most chunk_floats floats (64 MiB; tests make it small to reach partial chunks).
  Conv2dPerClusterGrad(const dnn::Conv2dShape& s, int k,
                       PerClusterPath path = PerClusterPath::automatic,
                       std::size_t chunk_floats = std::size_t{1} << 24);
  void compute(const float* x, const float* dy, const Clustering& clusters, MatrixView gw,
               MatrixView gb, stream_t stream = nullptr);
  // Device bytes it holds: scratch plus the backward-filter plans' workspace.
  std::size_t bytes() const;

 private:
  dnn::Conv2dShape s_;
  int k_;
  PerClusterPath path_;              // resolved: segmented, library or library_conv
  int chunk_ = 0;                    // library: samples per chunk
  // library_conv: backward-filter plans of 1, 2, 4, ..., 32. Declared before the buffers, so it
  // outlives them: freeing a buffer waits for the device (cudaFree; the emulator's deferred
  // streams run their queues there), and the queued library work still uses these plans.
  std::vector<dnn::Conv2d> piece_plans_;
  DeviceBuffer<float> sample_bias_;  // n x kout: each sample's bias gradient
  DeviceBuffer<float> xs_, dys_;     // library: one chunk's im2col and dy rows; library_conv: the
                                     // batch's x and dy in cluster order
  DeviceBuffer<float> partials_;     // segmented: the split's partial sums
};

// Blocks the segmented path's main kernel launches for a layer (including the blocks of pieces a
// clustering may not need, which return at once): for benchmarks and docs/PERF.md.
std::size_t segmented_blocks_linear(int b, int in, int out, int k);
std::size_t segmented_blocks_conv2d(const dnn::Conv2dShape& s, int k);

}  // namespace gq::kernels
