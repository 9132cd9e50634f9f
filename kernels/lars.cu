// LARS (kernels/lars.h). Launch shape: trust_kernel has one block per tensor (kBlock threads on
// the GPU, one on the emulator), each thread summing squares of its block_range share with fmaf,
// then block_sum (a fixed tree): the ratios are deterministic for a given device and shape.
// update_kernel has a grid of (blocks per tensor) x tensors; a block walks its tensor's range with
// a strided share over the blocks of its row. Memory traffic per element: 8 B read for the norms,
// then 12 B read and 8 B written by the update. Bandwidth-bound.
#include "kernels/lars.h"

#include <algorithm>

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kNormBlock = kEmulatorShapes ? 1 : 256;
constexpr int kBlock = 256;

__global__ void __launch_bounds__(kNormBlock)
    trust_kernel(const float* __restrict__ param, const float* __restrict__ grad,
                 const int* __restrict__ offsets, int adapted, float weight_decay, float eta,
                 float* __restrict__ trust, const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  const int t = static_cast<int>(blockIdx.x);
  if (t >= adapted) {  // uniform per block: no barrier is skipped by part of it
    if (threadIdx.x == 0) trust[t] = 1.0f;
    return;
  }
  const std::size_t first = static_cast<std::size_t>(offsets[t]);
  const std::size_t len = static_cast<std::size_t>(offsets[t + 1]) - first;
  float ww = 0.0f, gg = 0.0f;
  for (const std::size_t i : block_range(len)) {
    const float w = param[first + i], g = grad[first + i];
    ww = fmaf(w, w, ww);
    gg = fmaf(g, g, gg);
  }
  ww = block_sum<kNormBlock>(ww);
  gg = block_sum<kNormBlock>(gg);
  if (threadIdx.x == 0) {
    const float wn = sqrtf(ww), gn = sqrtf(gg);
    trust[t] = wn > 0.0f && gn > 0.0f ? eta * wn / fmaf(weight_decay, wn, gn) : 1.0f;
  }
}

__global__ void __launch_bounds__(kBlock)
    update_kernel(float* __restrict__ param, const float* __restrict__ grad,
                  float* __restrict__ buf, const int* __restrict__ offsets, int adapted,
                  DeviceScalar<float> lr_arg, float momentum, float weight_decay,
                  const float* __restrict__ trust, const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  const float lr = lr_arg.get();
  const int t = static_cast<int>(blockIdx.y);
  const std::size_t first = static_cast<std::size_t>(offsets[t]);
  const std::size_t len = static_cast<std::size_t>(offsets[t + 1]) - first;
  const bool adapt = t < adapted;
  const float ratio = trust[t], decay = adapt ? weight_decay : 0.0f;
  for (const std::size_t i : thread_share(len, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                          std::size_t{gridDim.x} * blockDim.x)) {
    const std::size_t e = first + i;
    const float p = param[e];
    const float g = adapt ? ratio * fmaf(decay, p, grad[e]) : grad[e];
    const float b = fmaf(momentum, buf[e], g);
    buf[e] = b;
    param[e] = fmaf(-lr, b, p);
  }
}

}  // namespace

void lars_step(float* param, const float* grad, float* momentum_buf, std::size_t n,
               const int* tensor_offsets, int tensors, int adapted, DeviceScalar<float> lr,
               float momentum, float weight_decay, float eta, float* trust, stream_t stream,
               const std::int32_t* apply) {
  GQ_CHECK(param && grad && momentum_buf && tensor_offsets && trust,
           "lars_step: null device pointer");
  GQ_CHECK(tensors >= 1 && tensors <= 65535 && adapted >= 0 && adapted <= tensors,
           "lars_step: needs 1 <= tensors <= 65535 and 0 <= adapted <= tensors (got {}, {})",
           tensors, adapted);
  GQ_CHECK(eta > 0.0f && momentum >= 0.0f && weight_decay >= 0.0f,
           "lars_step: needs eta > 0, momentum >= 0, weight_decay >= 0 (got {}, {}, {})", eta,
           momentum, weight_decay);
  launch(trust_kernel, static_cast<unsigned>(tensors), kNormBlock, 0, stream,
         static_cast<const float*>(param), grad, tensor_offsets, adapted, weight_decay, eta, trust,
         apply);
  const unsigned per_tensor =
      std::max(1u, grid_stride_blocks(n, kBlock) / static_cast<unsigned>(tensors));
  launch(update_kernel, dim3(per_tensor, static_cast<unsigned>(tensors)), kBlock, 0, stream, param,
         grad, momentum_buf, tensor_offsets, adapted, lr, momentum, weight_decay,
         static_cast<const float*>(trust), apply);
}

}  // namespace gq::kernels
