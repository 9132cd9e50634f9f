// Elementwise maps over float arrays: one templated grid-stride kernel, one functor per op.
// Launch shape: kBlock threads, grid from grid_stride_blocks (a few blocks per SM or emulator
// worker), each thread looping over its grid_range share, so the emulator runs few fibers with
// long contiguous loops.
// Memory traffic: (inputs + 1) * 4 bytes per element; bandwidth-bound.
#include "kernels/elementwise.h"

#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

template <class Op>
__global__ void __launch_bounds__(kBlock) map_kernel(std::size_t n, Op op) {
  for (std::size_t i : grid_range(n)) op(i);
}

template <class Op>
void map(std::size_t n, Op op, stream_t stream) {
  if (n == 0) return;
  launch(map_kernel<Op>, grid_stride_blocks(n, kBlock), kBlock, 0, stream, n, op);
}

struct Fill {
  float* x;
  float value;
  __device__ void operator()(std::size_t i) const { x[i] = value; }
};
struct Scale {
  float* x;
  float alpha;
  __device__ void operator()(std::size_t i) const { x[i] *= alpha; }
};
struct Axpy {
  float alpha;
  const float* x;
  float* y;
  __device__ void operator()(std::size_t i) const { y[i] = fmaf(alpha, x[i], y[i]); }
};
struct AddScaled {
  float alpha;
  const float* a;
  float beta;
  const float* b;
  float* out;
  // Which product is fused is written out (the one nvcc's contraction picked): a compiler left
  // to choose may fuse the other, and the devices would round differently.
  __device__ void operator()(std::size_t i) const { out[i] = fmaf(alpha, a[i], beta * b[i]); }
};
struct Multiply {
  const float* a;
  const float* b;
  float* out;
  __device__ void operator()(std::size_t i) const { out[i] = a[i] * b[i]; }
};

}  // namespace

void fill(float* x, std::size_t n, float value, stream_t stream) {
  map(n, Fill{x, value}, stream);
}
void scale(float* x, std::size_t n, float alpha, stream_t stream) {
  map(n, Scale{x, alpha}, stream);
}
void axpy(std::size_t n, float alpha, const float* x, float* y, stream_t stream) {
  map(n, Axpy{alpha, x, y}, stream);
}
void add_scaled(std::size_t n, float alpha, const float* a, float beta, const float* b, float* out,
                stream_t stream) {
  map(n, AddScaled{alpha, a, beta, b, out}, stream);
}
void multiply(std::size_t n, const float* a, const float* b, float* out, stream_t stream) {
  map(n, Multiply{a, b, out}, stream);
}

}  // namespace gq::kernels
