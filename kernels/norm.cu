// BatchNorm2d and GroupNorm over NCHW float32 tensors: forward (training and eval) and backward.
// Launch shape: statistics kernels run one block of kBlock threads per reduction segment (one per
// channel for BatchNorm and for GroupNorm's dgamma/dbeta, one per (sample, group) for GroupNorm's
// statistics and dx); each thread loops over its block_range share of the segment, then block_sum
// combines the threads in a fixed tree, so results are deterministic run to run (the GPU and the
// emulator share the work differently, so they agree to rounding). BatchNorm eval is an
// elementwise map (grid_stride_blocks blocks, grid_range shares).
// Memory traffic: BN train forward reads x twice and writes y (12 B/elem); BN backward reads x, dy
// twice and writes dx (20 B/elem); GN forward 12 B/elem; GN backward reads x, dy three times and
// writes dx (28 B/elem); BN eval 8 B/elem. Bandwidth-bound; one block per channel limits
// parallelism to c blocks, which is enough for CNN widths (c >= 64) and simple to keep exact.
// Multiply-adds are written as fmaf so nvcc's contraction cannot make the two devices differ.
#include "kernels/norm.h"

#include <climits>

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

// One block per statistics segment. On the emulator every thread of a block pays ~50 ns per
// barrier or shuffle, and there are n*groups segments: one thread looping over its segment is
// much cheaper there (block_sum<1> is free).
constexpr int kBlock = kEmulatorShapes ? 1 : 256;

// block_sum with the result broadcast to every thread.
__device__ __forceinline__ float block_sum_all(float v) {
  __shared__ float result;
  v = block_sum<kBlock>(v);
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  // No barrier needed after the read: the next call rewrites `result` only after block_sum's own
  // barriers, which every thread reaches after reading.
  return result;
}

// Offset of element k (0 <= k < n * hw) of channel ch, walking (sample, spatial) in order.
__device__ __forceinline__ std::size_t channel_offset(std::size_t k, int c, const FastDivmod& hw,
                                                      int ch) {
  std::uint32_t i, j;
  hw.divmod(static_cast<std::uint32_t>(k), i, j);
  return (std::size_t{i} * c + ch) * hw.divisor() + j;
}

// Calls f(k, j) for this thread's share of the elements k of a (sample, group) segment of
// cg channels x hw, j = k / hw being the channel within the group. On the emulator (one thread
// per block, kBlock == 1) the share is the whole segment in order, walked channel by channel
// without a divide per element; on the GPU it is the strided share. The same k in the same order
// either way, so the float results do not change.
template <class F>
__device__ __forceinline__ void walk_segment(int cg, const FastDivmod& hw_div, F&& f) {
  const int hw = static_cast<int>(hw_div.divisor());
  if constexpr (kBlock == 1) {
    std::size_t k = 0;
    for (int j = 0; j < cg; ++j)
      for (int i = 0; i < hw; ++i, ++k) f(k, j);
  } else {
    const std::size_t count = static_cast<std::size_t>(cg) * hw;
    for (const std::size_t k : block_range(count))
      f(k, static_cast<int>(hw_div.div(static_cast<std::uint32_t>(k))));
  }
}

// ---- BatchNorm2d ----------------------------------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    bn_forward_train_kernel(int n, int c, FastDivmod hw_div, const float* __restrict__ x,
                            const float* __restrict__ gamma, const float* __restrict__ beta,
                            float* __restrict__ y, float* save_mean, float* save_invstd,
                            float* running_mean, float* running_var, float momentum, float eps) {
  const int hw = static_cast<int>(hw_div.divisor());
  const int ch = blockIdx.x;
  const std::size_t count = static_cast<std::size_t>(n) * hw;
  float acc = 0.0f;
  for (const std::size_t k : block_range(count)) acc += x[channel_offset(k, c, hw_div, ch)];
  const float mean = block_sum_all(acc) / static_cast<float>(count);
  acc = 0.0f;
  for (const std::size_t k : block_range(count)) {
    const float d = x[channel_offset(k, c, hw_div, ch)] - mean;
    acc = fmaf(d, d, acc);
  }
  const float var = block_sum_all(acc) / static_cast<float>(count);
  const float invstd = 1.0f / sqrtf(var + eps);
  if (threadIdx.x == 0) {
    save_mean[ch] = mean;
    save_invstd[ch] = invstd;
    const float unbiased = var * (static_cast<float>(count) / static_cast<float>(count - 1));
    running_mean[ch] = fmaf(1.0f - momentum, running_mean[ch], momentum * mean);
    running_var[ch] = fmaf(1.0f - momentum, running_var[ch], momentum * unbiased);
  }
  const float scale = gamma[ch] * invstd, shift = beta[ch];
  for (const std::size_t k : block_range(count)) {
    const std::size_t at = channel_offset(k, c, hw_div, ch);
    y[at] = fmaf(x[at] - mean, scale, shift);
  }
}

__global__ void __launch_bounds__(kBlock)
    bn_forward_eval_kernel(std::size_t total, int c, FastDivmod hw_div, const float* __restrict__ x,
                           const float* __restrict__ gamma, const float* __restrict__ beta,
                           const float* __restrict__ running_mean,
                           const float* __restrict__ running_var, float eps, float* y) {
  for (std::size_t i : grid_range(total)) {
    const int ch =
        static_cast<int>(hw_div.div(static_cast<std::uint32_t>(i)) % static_cast<std::uint32_t>(c));
    const float scale = gamma[ch] / sqrtf(running_var[ch] + eps);
    y[i] = fmaf(x[i] - running_mean[ch], scale, beta[ch]);
  }
}

__global__ void __launch_bounds__(kBlock)
    bn_backward_kernel(int n, int c, FastDivmod hw_div, const float* __restrict__ x,
                       const float* __restrict__ dy, const float* __restrict__ gamma,
                       const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                       float* __restrict__ dx, float* dgamma, float* dbeta, bool accumulate) {
  const int hw = static_cast<int>(hw_div.divisor());
  const int ch = blockIdx.x;
  const std::size_t count = static_cast<std::size_t>(n) * hw;
  const float mean = save_mean[ch], invstd = save_invstd[ch];
  float acc_dy = 0.0f, acc_dy_xhat = 0.0f;
  for (const std::size_t k : block_range(count)) {
    const std::size_t at = channel_offset(k, c, hw_div, ch);
    const float g = dy[at];
    acc_dy += g;
    acc_dy_xhat = fmaf(g, (x[at] - mean) * invstd, acc_dy_xhat);
  }
  const float sum_dy = block_sum_all(acc_dy);
  const float sum_dy_xhat = block_sum_all(acc_dy_xhat);
  if (threadIdx.x == 0) {
    dgamma[ch] = accumulate ? dgamma[ch] + sum_dy_xhat : sum_dy_xhat;
    dbeta[ch] = accumulate ? dbeta[ch] + sum_dy : sum_dy;
  }
  const float inv_count = 1.0f / static_cast<float>(count);
  const float mean_dy = sum_dy * inv_count, mean_dy_xhat = sum_dy_xhat * inv_count;
  const float scale = gamma[ch] * invstd;
  for (const std::size_t k : block_range(count)) {
    const std::size_t at = channel_offset(k, c, hw_div, ch);
    const float xhat = (x[at] - mean) * invstd;
    dx[at] = scale * (dy[at] - fmaf(xhat, mean_dy_xhat, mean_dy));
  }
}

// ---- GroupNorm ------------------------------------------------------------------------------
// A (sample, group) segment is contiguous in NCHW: cg * hw values starting at (i * c + g * cg) *
// hw.

__global__ void __launch_bounds__(kBlock)
    gn_forward_kernel(int c, FastDivmod hw_div, int groups, const float* __restrict__ x,
                      const float* __restrict__ gamma, const float* __restrict__ beta, float eps,
                      float* __restrict__ y, float* save_mean, float* save_invstd) {
  const int hw = static_cast<int>(hw_div.divisor());
  const int segment = blockIdx.x;  // sample * groups + group
  const int cg = c / groups, g = segment % groups;
  const std::size_t count = static_cast<std::size_t>(cg) * hw;
  const std::size_t base = static_cast<std::size_t>(segment) * count;
  const float* xs = x + base;
  float acc = 0.0f;
  for (const std::size_t k : block_range(count)) acc += xs[k];
  const float mean = block_sum_all(acc) / static_cast<float>(count);
  acc = 0.0f;
  for (const std::size_t k : block_range(count)) {
    const float d = xs[k] - mean;
    acc = fmaf(d, d, acc);
  }
  const float var = block_sum_all(acc) / static_cast<float>(count);
  const float invstd = 1.0f / sqrtf(var + eps);
  if (threadIdx.x == 0) {
    save_mean[segment] = mean;
    save_invstd[segment] = invstd;
  }
  float* ys = y + base;
  walk_segment(cg, hw_div, [&](std::size_t k, int j) {
    ys[k] = fmaf((xs[k] - mean) * invstd, gamma[g * cg + j], beta[g * cg + j]);
  });
}

__global__ void __launch_bounds__(kBlock)
    gn_backward_dx_kernel(int c, FastDivmod hw_div, int groups, const float* __restrict__ x,
                          const float* __restrict__ dy, const float* __restrict__ gamma,
                          const float* __restrict__ save_mean,
                          const float* __restrict__ save_invstd, float* __restrict__ dx) {
  const int hw = static_cast<int>(hw_div.divisor());
  const int segment = blockIdx.x;
  const int cg = c / groups, g = segment % groups;
  const std::size_t count = static_cast<std::size_t>(cg) * hw;
  const std::size_t base = static_cast<std::size_t>(segment) * count;
  const float* xs = x + base;
  const float* dys = dy + base;
  const float mean = save_mean[segment], invstd = save_invstd[segment];
  // With dxhat = dy * gamma: dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
  float acc = 0.0f, acc_xhat = 0.0f;
  walk_segment(cg, hw_div, [&](std::size_t k, int j) {
    const float dxhat = dys[k] * gamma[g * cg + j];
    acc += dxhat;
    acc_xhat = fmaf(dxhat, (xs[k] - mean) * invstd, acc_xhat);
  });
  const float inv_count = 1.0f / static_cast<float>(count);
  const float mean_dxhat = block_sum_all(acc) * inv_count;
  const float mean_dxhat_xhat = block_sum_all(acc_xhat) * inv_count;
  float* dxs = dx + base;
  walk_segment(cg, hw_div, [&](std::size_t k, int j) {
    const float dxhat = dys[k] * gamma[g * cg + j];
    const float xhat = (xs[k] - mean) * invstd;
    dxs[k] = invstd * (dxhat - fmaf(xhat, mean_dxhat_xhat, mean_dxhat));
  });
}

// One block per channel: dgamma = sum over (sample, spatial) of dy * xhat, dbeta = sum of dy.
__global__ void __launch_bounds__(kBlock)
    gn_backward_affine_kernel(int n, int c, FastDivmod hw_div, int groups,
                              const float* __restrict__ x, const float* __restrict__ dy,
                              const float* __restrict__ save_mean,
                              const float* __restrict__ save_invstd, float* dgamma, float* dbeta,
                              bool accumulate) {
  const int hw = static_cast<int>(hw_div.divisor());
  const int ch = blockIdx.x;
  const int g = ch / (c / groups);
  const std::size_t count = static_cast<std::size_t>(n) * hw;
  float acc_dy = 0.0f, acc_dy_xhat = 0.0f;
  if constexpr (kBlock == 1) {  // the emulator: sample by sample, in the same order, no divides
    for (int i = 0; i < n; ++i) {
      const std::size_t at = (static_cast<std::size_t>(i) * c + ch) * hw;
      const float mean = save_mean[i * groups + g], invstd = save_invstd[i * groups + g];
      for (int j = 0; j < hw; ++j) {
        const float d = dy[at + j];
        acc_dy += d;
        acc_dy_xhat = fmaf(d, (x[at + j] - mean) * invstd, acc_dy_xhat);
      }
    }
  } else {
    for (const std::size_t k : block_range(count)) {
      const int i = static_cast<int>(hw_div.div(static_cast<std::uint32_t>(k)));
      const std::size_t at = channel_offset(k, c, hw_div, ch);
      const int s = i * groups + g;
      const float d = dy[at];
      acc_dy += d;
      acc_dy_xhat = fmaf(d, (x[at] - save_mean[s]) * save_invstd[s], acc_dy_xhat);
    }
  }
  const float sum_dy = block_sum_all(acc_dy);
  const float sum_dy_xhat = block_sum_all(acc_dy_xhat);
  if (threadIdx.x == 0) {
    dgamma[ch] = accumulate ? dgamma[ch] + sum_dy_xhat : sum_dy_xhat;
    dbeta[ch] = accumulate ? dbeta[ch] + sum_dy : sum_dy;
  }
}

void check_nchw(const char* what, int n, int c, int hw) {
  GQ_CHECK(n >= 1 && c >= 1 && hw >= 1, "{}: needs n, c, h*w >= 1 (got n={}, c={}, hw={})", what, n,
           c, hw);
  GQ_CHECK(static_cast<std::size_t>(n) * c * hw < (std::size_t{1} << 32),
           "{}: {}x{}x{} has 2^32 or more elements; index arithmetic is 32-bit", what, n, c, hw);
}

void check_eps(const char* what, float eps) {
  GQ_CHECK(eps > 0.0f, "{}: eps must be > 0 (got {})", what, eps);
}

void check_groups(const char* what, int n, int c, int groups) {
  GQ_CHECK(groups >= 1 && c % groups == 0,
           "{}: channels must split evenly into groups (c={}, groups={})", what, c, groups);
  GQ_CHECK(static_cast<long long>(n) * groups <= INT_MAX,
           "{}: n * groups = {} exceeds the grid limit", what, static_cast<long long>(n) * groups);
}

}  // namespace

void batchnorm2d_forward_train(int n, int c, int hw, const float* x, const float* gamma,
                               const float* beta, float* y, float* save_mean, float* save_invstd,
                               float* running_mean, float* running_var, float momentum, float eps,
                               stream_t stream) {
  check_nchw("batchnorm2d_forward_train", n, c, hw);
  check_eps("batchnorm2d_forward_train", eps);
  GQ_CHECK(static_cast<long long>(n) * hw > 1,
           "batchnorm2d_forward_train: needs more than one value per channel (n={}, hw={})", n, hw);
  GQ_CHECK(momentum >= 0.0f && momentum <= 1.0f,
           "batchnorm2d_forward_train: momentum must be in [0, 1] (got {})", momentum);
  launch(bn_forward_train_kernel, static_cast<unsigned>(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, gamma, beta, y, save_mean, save_invstd,
         running_mean, running_var, momentum, eps);
}

void batchnorm2d_forward_eval(int n, int c, int hw, const float* x, const float* gamma,
                              const float* beta, const float* running_mean,
                              const float* running_var, float eps, float* y, stream_t stream) {
  check_nchw("batchnorm2d_forward_eval", n, c, hw);
  check_eps("batchnorm2d_forward_eval", eps);
  const std::size_t total = static_cast<std::size_t>(n) * c * hw;
  launch(bn_forward_eval_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, total, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, gamma, beta, running_mean, running_var, eps,
         y);
}

void batchnorm2d_backward(int n, int c, int hw, const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, float* dx,
                          float* dgamma, float* dbeta, bool accumulate, stream_t stream) {
  check_nchw("batchnorm2d_backward", n, c, hw);
  launch(bn_backward_kernel, static_cast<unsigned>(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, dy, gamma, save_mean, save_invstd, dx,
         dgamma, dbeta, accumulate);
}

void groupnorm_forward(int n, int c, int hw, int groups, const float* x, const float* gamma,
                       const float* beta, float eps, float* y, float* save_mean, float* save_invstd,
                       stream_t stream) {
  check_nchw("groupnorm_forward", n, c, hw);
  check_groups("groupnorm_forward", n, c, groups);
  check_eps("groupnorm_forward", eps);
  launch(gn_forward_kernel, static_cast<unsigned>(n * groups), kBlock, 0, stream, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, gamma, beta, eps, y, save_mean,
         save_invstd);
}

void groupnorm_backward(int n, int c, int hw, int groups, const float* x, const float* dy,
                        const float* gamma, const float* save_mean, const float* save_invstd,
                        float* dx, float* dgamma, float* dbeta, bool accumulate, stream_t stream) {
  check_nchw("groupnorm_backward", n, c, hw);
  check_groups("groupnorm_backward", n, c, groups);
  launch(gn_backward_dx_kernel, static_cast<unsigned>(n * groups), kBlock, 0, stream, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, dy, gamma, save_mean, save_invstd,
         dx);
  launch(gn_backward_affine_kernel, static_cast<unsigned>(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, dy, save_mean, save_invstd, dgamma,
         dbeta, accumulate);
}

}  // namespace gq::kernels
