// Reductions of one float array to a scalar: sum, sum of squares, max, argmax.
// Launch shape: pass 1 = min(ceil(n / kItemsPerBlock), kMaxBlocks) blocks of kBlock threads, each
// thread taking its grid_range share, each block writing one partial; pass 2 = one block combining
// the partials in index order. The shape is a function of n only, so results do not depend on the
// SM or worker count. Memory traffic: n reads + 2 * blocks partials; bandwidth-bound.
#include "kernels/reduce.h"

#include "kernels/block_reduce.cuh"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kBlock = 256;
// Every thread of a block pays for the block reduction's barriers and shuffles, which on the
// emulator cost ~50 ns each per thread: there, a few long-looping blocks are much cheaper.
constexpr int kMaxBlocks = kEmulatorShapes ? 4 : 128;
constexpr std::size_t kItemsPerBlock = 8 * kBlock;

unsigned first_pass_blocks(std::size_t n) {
  const std::size_t blocks = (n + kItemsPerBlock - 1) / kItemsPerBlock;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, kMaxBlocks)));
}

struct SumOp {
  __device__ static float load(float v) { return v; }
};
struct SumSquaresOp {
  __device__ static float load(float v) { return v * v; }
};

template <class Op>
__global__ void __launch_bounds__(kBlock)
    sum_partials_kernel(const float* __restrict__ x, std::size_t n, float* partials) {
  float acc = 0.0f;
  for (std::size_t i : grid_range(n)) acc += Op::load(x[i]);
  acc = block_sum<kBlock>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kBlock)
    sum_final_kernel(const float* partials, int count, float* out) {
  const float v = static_cast<int>(threadIdx.x) < count ? partials[threadIdx.x] : 0.0f;
  const float total = block_sum<kBlock>(v);
  if (threadIdx.x == 0) *out = total;
}

__global__ void __launch_bounds__(kBlock)
    max_partials_kernel(const float* __restrict__ x, std::size_t n, float* partials) {
  float acc = -INFINITY;
  for (std::size_t i : grid_range(n)) acc = fmaxf(acc, x[i]);
  acc = block_max<kBlock>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kBlock)
    max_final_kernel(const float* partials, int count, float* out) {
  const float v = static_cast<int>(threadIdx.x) < count ? partials[threadIdx.x] : -INFINITY;
  const float m = block_max<kBlock>(v);
  if (threadIdx.x == 0) *out = m;
}

__global__ void __launch_bounds__(kBlock)
    argmax_partials_kernel(const float* __restrict__ x, std::size_t n, float* values,
                           long long* indices) {
  ValueIndex acc{-INFINITY, kNoIndex};
  for (std::size_t i : grid_range(n))
    acc = better_of(acc, ValueIndex{x[i], static_cast<long long>(i)});
  acc = block_argmax<kBlock>(acc);
  if (threadIdx.x == 0) {
    values[blockIdx.x] = acc.value;
    indices[blockIdx.x] = acc.index;
  }
}

__global__ void __launch_bounds__(kBlock)
    argmax_final_kernel(const float* values, const long long* indices, int count,
                        std::int64_t* out_index, float* out_value) {
  const ValueIndex v = static_cast<int>(threadIdx.x) < count
                           ? ValueIndex{values[threadIdx.x], indices[threadIdx.x]}
                           : ValueIndex{-INFINITY, kNoIndex};
  const ValueIndex best = block_argmax<kBlock>(v);
  if (threadIdx.x == 0) {
    *out_index = best.index == kNoIndex ? -1 : best.index;
    *out_value = best.value;
  }
}

static_assert(kMaxBlocks <= kBlock, "the final pass reduces all partials in one block");

template <class Op>
void reduce_sum_impl(const float* x, std::size_t n, float* out, void* scratch, stream_t stream) {
  auto* partials = static_cast<float*>(scratch);
  const unsigned blocks = first_pass_blocks(n);
  launch(sum_partials_kernel<Op>, blocks, kBlock, 0, stream, x, n, partials);
  launch(sum_final_kernel, 1, kBlock, 0, stream, partials, static_cast<int>(blocks), out);
}

}  // namespace

std::size_t reduce_scratch_bytes() {
  return kMaxBlocks * (sizeof(float) + sizeof(long long));
}

void reduce_sum(const float* x, std::size_t n, float* out, void* scratch, stream_t stream) {
  reduce_sum_impl<SumOp>(x, n, out, scratch, stream);
}

void reduce_sum_squares(const float* x, std::size_t n, float* out, void* scratch, stream_t stream) {
  reduce_sum_impl<SumSquaresOp>(x, n, out, scratch, stream);
}

void reduce_max(const float* x, std::size_t n, float* out, void* scratch, stream_t stream) {
  auto* partials = static_cast<float*>(scratch);
  const unsigned blocks = first_pass_blocks(n);
  launch(max_partials_kernel, blocks, kBlock, 0, stream, x, n, partials);
  launch(max_final_kernel, 1, kBlock, 0, stream, partials, static_cast<int>(blocks), out);
}

void reduce_argmax(const float* x, std::size_t n, std::int64_t* out_index, float* out_value,
                   void* scratch, stream_t stream) {
  // long long partials first (8-byte aligned at the scratch start), then the float values.
  auto* indices = static_cast<long long*>(scratch);
  auto* values = reinterpret_cast<float*>(indices + kMaxBlocks);
  const unsigned blocks = first_pass_blocks(n);
  launch(argmax_partials_kernel, blocks, kBlock, 0, stream, x, n, values, indices);
  launch(argmax_final_kernel, 1, kBlock, 0, stream, values, indices, static_cast<int>(blocks),
         out_index, out_value);
}

}  // namespace gq::kernels
