// Per-channel bias add (forward) and bias gradient (sum of dy over batch and spatial positions).
// Launch shape: bias_add is a grid-stride map (kBlock threads, grid from grid_stride_blocks, each
// thread looping over its grid_range share). bias_grad picks by `inner`: for inner >=
// kBlockPerChannelMin one block of kBlock threads per channel (each thread sums its block_range
// share of the channel's n * inner elements, then block_sum); for small inner (linear layers:
// inner = 1) one thread per channel summing its n * inner elements in order, so neighbouring
// threads read neighbouring channels (coalesced). Both orders are fixed by the shape and device
// alone: deterministic, no atomics (the block path rounds differently on GPU and emulator, whose
// block_range shares differ).
// Memory traffic: bias_add reads and writes y once (8 bytes per element) plus the bias (cached);
// bias_grad reads dy once (4 bytes per element) and writes one float per channel.
#include "kernels/bias.h"

#include <cstddef>

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;
constexpr int kBlockPerChannelMin = 32;

__global__ void __launch_bounds__(kBlock)
    bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, std::size_t total,
                    int channels, int inner) {
  for (const std::size_t i : grid_range(total)) y[i] += bias[(i / inner) % channels];
}

// One block per channel (blockIdx.x). The channel's n * inner elements, flattened (sample-major),
// are shared among the threads with block_range; then the block tree combines the per-thread sums.
__global__ void __launch_bounds__(kBlock)
    bias_grad_block_kernel(const float* __restrict__ dy, float* __restrict__ db, int n,
                           int channels, int inner, bool accumulate) {
  const int ch = static_cast<int>(blockIdx.x);
  float acc = 0.0f;
  for (const std::size_t k : block_range(std::size_t(n) * inner)) {
    const std::size_t sample = k / inner, pos = k % inner;
    acc += dy[(sample * channels + ch) * inner + pos];
  }
  acc = block_sum<kBlock>(acc);
  if (threadIdx.x == 0) db[ch] = accumulate ? db[ch] + acc : acc;
}

// One thread per channel, summing samples in order and positions in order.
__global__ void __launch_bounds__(kBlock)
    bias_grad_thread_kernel(const float* __restrict__ dy, float* __restrict__ db, int n,
                            int channels, int inner, bool accumulate) {
  for (const std::size_t ch : grid_range(std::size_t(channels))) {
    float acc = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float* row = dy + (std::size_t(i) * channels + ch) * inner;
      for (int k = 0; k < inner; ++k) acc += row[k];
    }
    db[ch] = accumulate ? db[ch] + acc : acc;
  }
}

void check_dims(int n, int channels, int inner, const char* what) {
  GQ_CHECK(n > 0 && channels > 0 && inner > 0,
           "{}: dims must be positive, got n={} channels={} inner={}", what, n, channels, inner);
}

}  // namespace

void bias_add(float* y, const float* bias, int n, int channels, int inner, stream_t stream) {
  check_dims(n, channels, inner, "bias_add");
  GQ_CHECK(y && bias, "bias_add: null device pointer");
  const std::size_t total = std::size_t(n) * channels * inner;
  launch(bias_add_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, y, bias, total,
         channels, inner);
}

void bias_grad(const float* dy, float* db, int n, int channels, int inner, bool accumulate,
               stream_t stream) {
  check_dims(n, channels, inner, "bias_grad");
  GQ_CHECK(dy && db, "bias_grad: null device pointer");
  if (inner >= kBlockPerChannelMin)
    launch(bias_grad_block_kernel, static_cast<unsigned>(channels), kBlock, 0, stream, dy, db, n,
           channels, inner, accumulate);
  else
    launch(bias_grad_thread_kernel, grid_stride_blocks(std::size_t(channels), kBlock), kBlock, 0,
           stream, dy, db, n, channels, inner, accumulate);
}

}  // namespace gq::kernels
