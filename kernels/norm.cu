// BatchNorm2d and GroupNorm over NCHW tensors: forward (training and eval) and backward. Both read
// and write float or bf16 activations (T; statistics, affine parameters and arithmetic in float,
// each output rounded once).
// Launch shape: statistics kernels run one block of kBlock threads per reduction segment (one per
// channel for BatchNorm and for GroupNorm's dgamma/dbeta, one per (sample, group) for GroupNorm's
// statistics and dx); each thread loops over its block_range share of the segment, then block_sum
// combines the threads in a fixed tree, so results are deterministic run to run (the GPU and the
// emulator share the work differently, so they agree to rounding). On the emulator a block is one
// thread and takes kLanes segments (channels) side by side, each summed in its own order (the
// float chains overlap; the bits are those of one segment per block). BatchNorm eval is an
// elementwise map (grid_stride_blocks blocks, grid_range shares).
// Memory traffic: BN train forward reads x three times and writes y (16 B/elem in float, half in
// bf16); BN backward reads x, dy twice and writes dx (20 B/elem; 10 in bf16); BN eval 8 B/elem
// (4); GN forward 12 B/elem (6 in bf16); GN backward reads x, dy three times and writes dx (28
// B/elem; 14).
// Bandwidth-bound; one block per channel limits
// parallelism to c blocks, which is enough for CNN widths (c >= 64) and simple to keep exact.
// Multiply-adds are written as fmaf so nvcc's contraction cannot make the two devices differ.
#include "kernels/norm.h"

#include <climits>

#include "kernels/block_reduce.cuh"
#include "runtime/bf16.h"
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

// Items (segments or channels) per block. On the emulator a block is one thread, and a float
// chain adds one element per few cycles of latency: kLanes items side by side keep the adder busy.
// Each lane adds its own item's elements in the same order as alone, so the bits do not change.
constexpr int kLanes = kEmulatorShapes ? 4 : 1;
static_assert(kLanes == 1 || kBlock == 1, "lanes are one thread's side-by-side chains");

// Lane l's item of this block, clamped to `items`: a lane past the end repeats the last item (its
// results are not written), so the lanes' loops need no guard.
__device__ __forceinline__ int lane_item(int l, int items) {
  return min(static_cast<int>(blockIdx.x) * kLanes + l, items - 1);
}
__device__ __forceinline__ bool lane_writes(int l, int items) {
  return static_cast<int>(blockIdx.x) * kLanes + l < items;
}
unsigned lane_blocks(int items) {
  return static_cast<unsigned>((items + kLanes - 1) / kLanes);
}

// Calls f(l, i, at) for lane l's channel ch[l] at each (sample i, spatial) position of this
// thread's share, `at` being the element's offset, in the order k = i * hw + spatial: on the
// emulator sample by sample for every lane at once, without a divide per element; on the GPU (one
// lane) the strided share.
template <class F>
__device__ __forceinline__ void walk_channels(int n, int c, const FastDivmod& hw_div,
                                              const int (&ch)[kLanes], F&& f) {
  const int hw = static_cast<int>(hw_div.divisor());
  if constexpr (kBlock == 1) {
    for (int i = 0; i < n; ++i) {
      std::size_t base[kLanes];
      for (int l = 0; l < kLanes; ++l) base[l] = (static_cast<std::size_t>(i) * c + ch[l]) * hw;
      for (int j = 0; j < hw; ++j)
        for (int l = 0; l < kLanes; ++l) f(l, i, base[l] + j);
    }
  } else {
    for (const std::size_t k : block_range(static_cast<std::size_t>(n) * hw))
      f(0, static_cast<int>(hw_div.div(static_cast<std::uint32_t>(k))),
        channel_offset(k, c, hw_div, ch[0]));
  }
}

// dgamma[ch] = sum of dy * xhat and dbeta[ch] = sum of dy over the channel (thread 0 writes them,
// or adds them to what is there when accumulate).
__device__ __forceinline__ void store_affine_grads(int ch, float sum_dy_xhat, float sum_dy,
                                                   bool accumulate, float* dgamma, float* dbeta) {
  if (threadIdx.x != 0) return;
  dgamma[ch] = accumulate ? dgamma[ch] + sum_dy_xhat : sum_dy_xhat;
  dbeta[ch] = accumulate ? dbeta[ch] + sum_dy : sum_dy;
}

// ---- BatchNorm2d ----------------------------------------------------------------------------

// kLanes channels per block (one on the GPU): mean, variance, running statistics, then the map.
// T: the storage of x and y (float or bf16); statistics and arithmetic in float.
template <class T>
__global__ void __launch_bounds__(kBlock)
    bn_forward_train_kernel(int n, int c, FastDivmod hw_div, const T* __restrict__ x,
                            const float* __restrict__ gamma, const float* __restrict__ beta,
                            T* __restrict__ y, float* save_mean, float* save_invstd,
                            float* running_mean, float* running_var, float momentum, float eps) {
  const std::size_t count = static_cast<std::size_t>(n) * hw_div.divisor();
  int ch[kLanes];
  float acc[kLanes], mean[kLanes], scale[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    ch[l] = lane_item(l, c);
    acc[l] = 0.0f;
  }
  walk_channels(n, c, hw_div, ch, [&](int l, int, std::size_t at) { acc[l] += to_float(x[at]); });
  for (int l = 0; l < kLanes; ++l) {
    mean[l] = block_sum_all(acc[l]) / static_cast<float>(count);
    acc[l] = 0.0f;
  }
  walk_channels(n, c, hw_div, ch, [&](int l, int, std::size_t at) {
    const float d = to_float(x[at]) - mean[l];
    acc[l] = fmaf(d, d, acc[l]);
  });
  for (int l = 0; l < kLanes; ++l) {
    const float var = block_sum_all(acc[l]) / static_cast<float>(count);
    const float invstd = 1.0f / sqrtf(var + eps);
    scale[l] = gamma[ch[l]] * invstd;
    if (threadIdx.x == 0 && lane_writes(l, c)) {
      save_mean[ch[l]] = mean[l];
      save_invstd[ch[l]] = invstd;
      const float unbiased = var * (static_cast<float>(count) / static_cast<float>(count - 1));
      running_mean[ch[l]] = fmaf(1.0f - momentum, running_mean[ch[l]], momentum * mean[l]);
      running_var[ch[l]] = fmaf(1.0f - momentum, running_var[ch[l]], momentum * unbiased);
    }
  }
  walk_channels(n, c, hw_div, ch, [&](int l, int, std::size_t at) {
    if (lane_writes(l, c))
      y[at] = stored_as<T>(fmaf(to_float(x[at]) - mean[l], scale[l], beta[ch[l]]));
  });
}

template <class T>
__global__ void __launch_bounds__(kBlock)
    bn_forward_eval_kernel(std::size_t total, int c, FastDivmod hw_div, const T* __restrict__ x,
                           const float* __restrict__ gamma, const float* __restrict__ beta,
                           const float* __restrict__ running_mean,
                           const float* __restrict__ running_var, float eps, T* y) {
  for (std::size_t i : grid_range(total)) {
    const int ch =
        static_cast<int>(hw_div.div(static_cast<std::uint32_t>(i)) % static_cast<std::uint32_t>(c));
    const float scale = gamma[ch] / sqrtf(running_var[ch] + eps);
    y[i] = stored_as<T>(fmaf(to_float(x[i]) - running_mean[ch], scale, beta[ch]));
  }
}

// kLanes channels per block (one on the GPU). T: the storage of x, dy and dx.
template <class T>
__global__ void __launch_bounds__(kBlock)
    bn_backward_kernel(int n, int c, FastDivmod hw_div, const T* __restrict__ x,
                       const T* __restrict__ dy, const float* __restrict__ gamma,
                       const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                       T* __restrict__ dx, float* dgamma, float* dbeta, bool accumulate) {
  const std::size_t count = static_cast<std::size_t>(n) * hw_div.divisor();
  int ch[kLanes];
  float mean[kLanes], invstd[kLanes], acc_dy[kLanes], acc_dy_xhat[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    ch[l] = lane_item(l, c);
    mean[l] = save_mean[ch[l]];
    invstd[l] = save_invstd[ch[l]];
    acc_dy[l] = acc_dy_xhat[l] = 0.0f;
  }
  walk_channels(n, c, hw_div, ch, [&](int l, int, std::size_t at) {
    const float g = to_float(dy[at]);
    acc_dy[l] += g;
    acc_dy_xhat[l] = fmaf(g, (to_float(x[at]) - mean[l]) * invstd[l], acc_dy_xhat[l]);
  });
  const float inv_count = 1.0f / static_cast<float>(count);
  float mean_dy[kLanes], mean_dy_xhat[kLanes], scale[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const float sum_dy = block_sum_all(acc_dy[l]);
    const float sum_dy_xhat = block_sum_all(acc_dy_xhat[l]);
    if (lane_writes(l, c))
      store_affine_grads(ch[l], sum_dy_xhat, sum_dy, accumulate, dgamma, dbeta);
    mean_dy[l] = sum_dy * inv_count;
    mean_dy_xhat[l] = sum_dy_xhat * inv_count;
    scale[l] = gamma[ch[l]] * invstd[l];
  }
  // Lanes past the end write nothing: their channel is another lane's.
  walk_channels(n, c, hw_div, ch, [&](int l, int, std::size_t at) {
    if (!lane_writes(l, c)) return;
    const float xhat = (to_float(x[at]) - mean[l]) * invstd[l];
    dx[at] = stored_as<T>(scale[l] * (to_float(dy[at]) - fmaf(xhat, mean_dy_xhat[l], mean_dy[l])));
  });
}

// ---- GroupNorm ------------------------------------------------------------------------------
// A (sample, group) segment is contiguous in NCHW: cg * hw values starting at (i * c + g * cg) *
// hw.

// kLanes (sample, group) segments per block (one on the GPU): mean, variance, then the map.
// T: the storage of x and y (float or bf16); statistics and arithmetic in float.
template <class T>
__global__ void __launch_bounds__(kBlock)
    gn_forward_kernel(int segments, int c, FastDivmod hw_div, int groups, const T* __restrict__ x,
                      const float* __restrict__ gamma, const float* __restrict__ beta, float eps,
                      T* __restrict__ y, float* save_mean, float* save_invstd) {
  const int cg = c / groups;
  const std::size_t count = static_cast<std::size_t>(cg) * hw_div.divisor();
  const T* xs[kLanes];
  float acc[kLanes], mean[kLanes], invstd[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    xs[l] = x + static_cast<std::size_t>(lane_item(l, segments)) * count;
    acc[l] = 0.0f;
  }
  for (const std::size_t k : block_range(count))
    for (int l = 0; l < kLanes; ++l) acc[l] += to_float(xs[l][k]);
  for (int l = 0; l < kLanes; ++l) {
    mean[l] = block_sum_all(acc[l]) / static_cast<float>(count);
    acc[l] = 0.0f;
  }
  for (const std::size_t k : block_range(count))
    for (int l = 0; l < kLanes; ++l) {
      const float d = to_float(xs[l][k]) - mean[l];
      acc[l] = fmaf(d, d, acc[l]);
    }
  for (int l = 0; l < kLanes; ++l) {
    const float var = block_sum_all(acc[l]) / static_cast<float>(count);
    invstd[l] = 1.0f / sqrtf(var + eps);
  }
  for (int l = 0; l < kLanes; ++l) {
    if (!lane_writes(l, segments)) break;
    const int segment = lane_item(l, segments);  // sample * groups + group
    const int g = segment % groups;
    if (threadIdx.x == 0) {
      save_mean[segment] = mean[l];
      save_invstd[segment] = invstd[l];
    }
    T* ys = y + static_cast<std::size_t>(segment) * count;
    walk_segment(cg, hw_div, [&](std::size_t k, int j) {
      ys[k] = stored_as<T>(
          fmaf((to_float(xs[l][k]) - mean[l]) * invstd[l], gamma[g * cg + j], beta[g * cg + j]));
    });
  }
}

// kLanes segments per block. With dxhat = dy * gamma:
// dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
template <class T>
__global__ void __launch_bounds__(kBlock)
    gn_backward_dx_kernel(int segments, int c, FastDivmod hw_div, int groups,
                          const T* __restrict__ x, const T* __restrict__ dy,
                          const float* __restrict__ gamma, const float* __restrict__ save_mean,
                          const float* __restrict__ save_invstd, T* __restrict__ dx) {
  const int cg = c / groups;
  const std::size_t count = static_cast<std::size_t>(cg) * hw_div.divisor();
  const T *xs[kLanes], *dys[kLanes];
  const float* gammas[kLanes];
  float mean[kLanes], invstd[kLanes], acc[kLanes], acc_xhat[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const int segment = lane_item(l, segments);
    xs[l] = x + static_cast<std::size_t>(segment) * count;
    dys[l] = dy + static_cast<std::size_t>(segment) * count;
    gammas[l] = gamma + (segment % groups) * cg;
    mean[l] = save_mean[segment];
    invstd[l] = save_invstd[segment];
    acc[l] = acc_xhat[l] = 0.0f;
  }
  walk_segment(cg, hw_div, [&](std::size_t k, int j) {
    for (int l = 0; l < kLanes; ++l) {
      const float dxhat = to_float(dys[l][k]) * gammas[l][j];
      acc[l] += dxhat;
      acc_xhat[l] = fmaf(dxhat, (to_float(xs[l][k]) - mean[l]) * invstd[l], acc_xhat[l]);
    }
  });
  const float inv_count = 1.0f / static_cast<float>(count);
  for (int l = 0; l < kLanes; ++l) {
    const float mean_dxhat = block_sum_all(acc[l]) * inv_count;
    const float mean_dxhat_xhat = block_sum_all(acc_xhat[l]) * inv_count;
    if (!lane_writes(l, segments)) break;
    T* dxs = dx + static_cast<std::size_t>(lane_item(l, segments)) * count;
    walk_segment(cg, hw_div, [&](std::size_t k, int j) {
      const float dxhat = to_float(dys[l][k]) * gammas[l][j];
      const float xhat = (to_float(xs[l][k]) - mean[l]) * invstd[l];
      dxs[k] = stored_as<T>(invstd[l] * (dxhat - fmaf(xhat, mean_dxhat_xhat, mean_dxhat)));
    });
  }
}

// kLanes channels per block: dgamma = sum over (sample, spatial) of dy * xhat, dbeta = sum of dy.
template <class T>
__global__ void __launch_bounds__(kBlock)
    gn_backward_affine_kernel(int n, int c, FastDivmod hw_div, int groups, const T* __restrict__ x,
                              const T* __restrict__ dy, const float* __restrict__ save_mean,
                              const float* __restrict__ save_invstd, float* dgamma, float* dbeta,
                              bool accumulate) {
  const int cg = c / groups;
  int ch[kLanes], g[kLanes];
  float acc_dy[kLanes], acc_dy_xhat[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    ch[l] = lane_item(l, c);
    g[l] = ch[l] / cg;
    acc_dy[l] = acc_dy_xhat[l] = 0.0f;
  }
  walk_channels(n, c, hw_div, ch, [&](int l, int i, std::size_t at) {
    const int seg = i * groups + g[l];
    const float d = to_float(dy[at]);
    acc_dy[l] += d;
    acc_dy_xhat[l] = fmaf(d, (to_float(x[at]) - save_mean[seg]) * save_invstd[seg], acc_dy_xhat[l]);
  });
  for (int l = 0; l < kLanes; ++l) {
    const float sum_dy = block_sum_all(acc_dy[l]);
    const float sum_dy_xhat = block_sum_all(acc_dy_xhat[l]);
    if (lane_writes(l, c))
      store_affine_grads(ch[l], sum_dy_xhat, sum_dy, accumulate, dgamma, dbeta);
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

template <class T>
void batchnorm2d_forward_train(int n, int c, int hw, const T* x, const float* gamma,
                               const float* beta, T* y, float* save_mean, float* save_invstd,
                               float* running_mean, float* running_var, float momentum, float eps,
                               stream_t stream) {
  check_nchw("batchnorm2d_forward_train", n, c, hw);
  check_eps("batchnorm2d_forward_train", eps);
  GQ_CHECK(static_cast<long long>(n) * hw > 1,
           "batchnorm2d_forward_train: needs more than one value per channel (n={}, hw={})", n, hw);
  GQ_CHECK(momentum >= 0.0f && momentum <= 1.0f,
           "batchnorm2d_forward_train: momentum must be in [0, 1] (got {})", momentum);
  launch(bn_forward_train_kernel<T>, lane_blocks(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, gamma, beta, y, save_mean, save_invstd,
         running_mean, running_var, momentum, eps);
}

template <class T>
void batchnorm2d_forward_eval(int n, int c, int hw, const T* x, const float* gamma,
                              const float* beta, const float* running_mean,
                              const float* running_var, float eps, T* y, stream_t stream) {
  check_nchw("batchnorm2d_forward_eval", n, c, hw);
  check_eps("batchnorm2d_forward_eval", eps);
  const std::size_t total = static_cast<std::size_t>(n) * c * hw;
  launch(bn_forward_eval_kernel<T>, grid_stride_blocks(total, kBlock), kBlock, 0, stream, total, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, gamma, beta, running_mean, running_var, eps,
         y);
}

template <class T>
void batchnorm2d_backward(int n, int c, int hw, const T* x, const T* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, T* dx, float* dgamma,
                          float* dbeta, bool accumulate, stream_t stream) {
  check_nchw("batchnorm2d_backward", n, c, hw);
  launch(bn_backward_kernel<T>, lane_blocks(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), x, dy, gamma, save_mean, save_invstd, dx,
         dgamma, dbeta, accumulate);
}

#define GQ_BATCHNORM_STORAGE(T)                                                                   \
  template void batchnorm2d_forward_train<T>(int, int, int, const T*, const float*, const float*, \
                                             T*, float*, float*, float*, float*, float, float,    \
                                             stream_t);                                           \
  template void batchnorm2d_forward_eval<T>(int, int, int, const T*, const float*, const float*,  \
                                            const float*, const float*, float, T*, stream_t);     \
  template void batchnorm2d_backward<T>(int, int, int, const T*, const T*, const float*,          \
                                        const float*, const float*, T*, float*, float*, bool,     \
                                        stream_t);
GQ_BATCHNORM_STORAGE(float)
GQ_BATCHNORM_STORAGE(bf16)
#undef GQ_BATCHNORM_STORAGE

template <class T>
void groupnorm_forward(int n, int c, int hw, int groups, const T* x, const float* gamma,
                       const float* beta, float eps, T* y, float* save_mean, float* save_invstd,
                       stream_t stream) {
  check_nchw("groupnorm_forward", n, c, hw);
  check_groups("groupnorm_forward", n, c, groups);
  check_eps("groupnorm_forward", eps);
  launch(gn_forward_kernel<T>, lane_blocks(n * groups), kBlock, 0, stream, n * groups, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, gamma, beta, eps, y, save_mean,
         save_invstd);
}

template <class T>
void groupnorm_backward(int n, int c, int hw, int groups, const T* x, const T* dy,
                        const float* gamma, const float* save_mean, const float* save_invstd, T* dx,
                        float* dgamma, float* dbeta, bool accumulate, stream_t stream) {
  check_nchw("groupnorm_backward", n, c, hw);
  check_groups("groupnorm_backward", n, c, groups);
  launch(gn_backward_dx_kernel<T>, lane_blocks(n * groups), kBlock, 0, stream, n * groups, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, dy, gamma, save_mean, save_invstd,
         dx);
  launch(gn_backward_affine_kernel<T>, lane_blocks(c), kBlock, 0, stream, n, c,
         FastDivmod(static_cast<std::uint32_t>(hw)), groups, x, dy, save_mean, save_invstd, dgamma,
         dbeta, accumulate);
}

#define GQ_GROUPNORM_STORAGE(T)                                                                \
  template void groupnorm_forward<T>(int, int, int, int, const T*, const float*, const float*, \
                                     float, T*, float*, float*, stream_t);                     \
  template void groupnorm_backward<T>(int, int, int, int, const T*, const T*, const float*,    \
                                      const float*, const float*, T*, float*, float*, bool,    \
                                      stream_t);
GQ_GROUPNORM_STORAGE(float)
GQ_GROUPNORM_STORAGE(bf16)
#undef GQ_GROUPNORM_STORAGE

}  // namespace gq::kernels
