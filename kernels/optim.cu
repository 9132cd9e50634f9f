// Optimizer updates (SGD, AdamW), global-norm gradient clipping and a non-finite detector.
// Launch shape: the updates and the clip scaling are elementwise maps of kBlock threads
// (grid_stride_blocks blocks, each thread looping over its grid_range share). The clip norm reuses
// reduce_sum_squares (two passes, shape a function of n) plus a one-thread square-root kernel;
// any_nonfinite is a two-pass OR over a launch shape that depends only on n (kMaxBlocks partial
// flags, then one block). Memory traffic per element: SGD 12 B (16 B with momentum), AdamW 28 B,
// clipping 12 B (read for the norm, read + write to scale), any_nonfinite 4 B. Bandwidth-bound.
// Multiply-adds are written as fmaf so both devices round identically.
#include "kernels/optim.h"

#include <cfloat>
#include <cmath>

#include "kernels/block_reduce.cuh"
#include "kernels/reduce.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kBlock = 256;
// As in reduce.cu: few long-looping blocks on the emulator, where every thread pays for barriers.
constexpr int kMaxBlocks = kEmulatorShapes ? 4 : 128;
constexpr std::size_t kItemsPerBlock = 8 * kBlock;

template <bool kMomentum, bool kNesterov>
__global__ void __launch_bounds__(kBlock)
    sgd_kernel(float* __restrict__ param, const float* __restrict__ grad,
               float* __restrict__ momentum_buf, std::size_t n, DeviceScalar<float> lr_arg,
               float momentum, float weight_decay, const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  const float lr = lr_arg.get();
  for (std::size_t i : grid_range(n)) {
    const float p = param[i];
    float g = fmaf(weight_decay, p, grad[i]);
    if constexpr (kMomentum) {
      const float buf = fmaf(momentum, momentum_buf[i], g);
      momentum_buf[i] = buf;
      g = kNesterov ? fmaf(momentum, buf, g) : buf;
    }
    param[i] = fmaf(-lr, g, p);
  }
}

__global__ void __launch_bounds__(kBlock)
    adamw_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                 float* __restrict__ v, std::size_t n, DeviceScalar<float> lr_arg, float beta1,
                 float beta2, float eps, float weight_decay, DeviceScalar<std::uint64_t> step,
                 const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  // In double, the expressions the host used when these were launch arguments: the same bits.
  const float lr = lr_arg.get();
  const auto t = static_cast<double>(step.get());
  const auto bias_correction1 = static_cast<float>(1.0 - pow(double{beta1}, t));
  const auto bias_correction2 = static_cast<float>(1.0 - pow(double{beta2}, t));
  const auto decay = static_cast<float>(1.0 - double{lr} * weight_decay);
  for (std::size_t i : grid_range(n)) {
    const float g = grad[i];
    const float mi = fmaf(beta1, m[i], (1.0f - beta1) * g);
    const float vi = fmaf(beta2, v[i], (1.0f - beta2) * g * g);
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi / bias_correction1, vhat = vi / bias_correction2;
    param[i] = fmaf(param[i], decay, -(lr * mhat / (sqrtf(vhat) + eps)));
  }
}

__global__ void sqrt_in_place_kernel(float* x) {
  x[0] = sqrtf(x[0]);
}

__global__ void __launch_bounds__(kBlock)
    clip_scale_kernel(float* __restrict__ grad, std::size_t n, float max_norm,
                      const float* __restrict__ norm) {
  const float coef = max_norm / (norm[0] + 1e-6f);
  if (coef >= 1.0f) return;  // within the limit: untouched (a NaN coefficient falls through)
  for (std::size_t i : grid_range(n)) grad[i] *= coef;
}

__device__ __forceinline__ bool is_nonfinite(float v) {
  return !(fabsf(v) <= FLT_MAX);
}

__global__ void __launch_bounds__(kBlock)
    nonfinite_partials_kernel(const float* __restrict__ x, std::size_t n, std::int32_t* partials) {
  int found = 0;
  for (std::size_t i : grid_range(n)) found |= is_nonfinite(x[i]) ? 1 : 0;
  found = __syncthreads_or(found);
  if (threadIdx.x == 0) partials[blockIdx.x] = found ? 1 : 0;
}

__global__ void __launch_bounds__(kBlock)
    nonfinite_final_kernel(const std::int32_t* partials, int count, std::int32_t* flag_out) {
  const int v = static_cast<int>(threadIdx.x) < count ? partials[threadIdx.x] : 0;
  const int any = __syncthreads_or(v);
  if (threadIdx.x == 0) flag_out[0] = any ? 1 : 0;
}

static_assert(kMaxBlocks <= kBlock, "the final pass combines all partials in one block");

unsigned nonfinite_blocks(std::size_t n) {
  const std::size_t blocks = (n + kItemsPerBlock - 1) / kItemsPerBlock;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, kMaxBlocks)));
}

}  // namespace

void sgd_step(float* param, const float* grad, float* momentum_buf, std::size_t n,
              DeviceScalar<float> lr, float momentum, bool nesterov, float weight_decay,
              stream_t stream, const std::int32_t* apply) {
  GQ_CHECK(momentum >= 0.0f, "sgd_step: momentum must be >= 0 (got {})", momentum);
  GQ_CHECK(!nesterov || momentum > 0.0f, "sgd_step: Nesterov momentum needs momentum > 0");
  GQ_CHECK(momentum == 0.0f || momentum_buf != nullptr,
           "sgd_step: momentum {} needs a momentum buffer", momentum);
  GQ_CHECK(weight_decay >= 0.0f, "sgd_step: weight_decay must be >= 0 (got {})", weight_decay);
  if (n == 0) return;
  const unsigned blocks = grid_stride_blocks(n, kBlock);
  if (momentum == 0.0f)
    launch(sgd_kernel<false, false>, blocks, kBlock, 0, stream, param, grad, momentum_buf, n, lr,
           momentum, weight_decay, apply);
  else if (nesterov)
    launch(sgd_kernel<true, true>, blocks, kBlock, 0, stream, param, grad, momentum_buf, n, lr,
           momentum, weight_decay, apply);
  else
    launch(sgd_kernel<true, false>, blocks, kBlock, 0, stream, param, grad, momentum_buf, n, lr,
           momentum, weight_decay, apply);
}

void adamw_step(float* param, const float* grad, float* m, float* v, std::size_t n,
                DeviceScalar<float> lr, float beta1, float beta2, float eps, float weight_decay,
                DeviceScalar<std::uint64_t> step, stream_t stream, const std::int32_t* apply) {
  GQ_CHECK(step.on_device() || step.value >= 1, "adamw_step: step counts from 1 (got {})",
           static_cast<std::int64_t>(step.value));
  GQ_CHECK(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f,
           "adamw_step: betas must be in [0, 1) (got {}, {})", beta1, beta2);
  GQ_CHECK(eps > 0.0f, "adamw_step: eps must be > 0 (got {})", eps);
  GQ_CHECK(weight_decay >= 0.0f, "adamw_step: weight_decay must be >= 0 (got {})", weight_decay);
  if (n == 0) return;
  launch(adamw_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, param, grad, m, v, n, lr,
         beta1, beta2, eps, weight_decay, step, apply);
}

void clip_grad_norm(float* grad, std::size_t n, float max_norm, float* norm_out, void* scratch,
                    stream_t stream) {
  GQ_CHECK(max_norm > 0.0f, "clip_grad_norm: max_norm must be > 0 (got {})", max_norm);
  reduce_sum_squares(grad, n, norm_out, scratch, stream);
  launch(sqrt_in_place_kernel, 1, 1, 0, stream, norm_out);
  if (n == 0) return;
  launch(clip_scale_kernel, grid_stride_blocks(n, kBlock), kBlock, 0, stream, grad, n, max_norm,
         norm_out);
}

void any_nonfinite(const float* x, std::size_t n, std::int32_t* flag_out, void* scratch,
                   stream_t stream) {
  GQ_CHECK(reduce_scratch_bytes() >= kMaxBlocks * sizeof(std::int32_t),
           "any_nonfinite: scratch of {} bytes is too small", reduce_scratch_bytes());
  auto* partials = static_cast<std::int32_t*>(scratch);
  const unsigned blocks = nonfinite_blocks(n);
  launch(nonfinite_partials_kernel, blocks, kBlock, 0, stream, x, n, partials);
  launch(nonfinite_final_kernel, 1, kBlock, 0, stream, partials, static_cast<int>(blocks),
         flag_out);
}

}  // namespace gq::kernels
