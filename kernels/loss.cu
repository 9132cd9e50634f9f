// Softmax cross-entropy (loss + dlogits) and top-1 correctness over [n, classes] logits.
// Launch shape (GPU): one warp per row, kWarps rows per block of 32 * kWarps threads, blocks from
// grid_stride_blocks over the rows and each warp striding over rows; a lane strides over the
// classes and warp shuffles combine the lanes in a fixed order, so results are deterministic.
// Emulator: one thread per row (kRowBlock threads a block, grid_range shares), which computes the
// 32 lanes' parts and combines them in the warp's tree (warp_reduce_serial): the same bits without
// the shuffles, which cost ~50 ns a lane each there (3.8 ms of an 84 ms paper-cnn b128 step).
// Memory traffic: softmax_xent reads a row three times (max, sum of exponentials, gradient; the
// row is hot in L1/L2 for CNN class counts) and writes the row's gradient and one loss:
// ~16 B per logit; correct_predictions reads each logit once. Bandwidth-bound.
// expf/logf (not __expf) keep the GPU within a few ulps of the emulator.
#include "kernels/loss.h"

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kBlock = 32 * kWarps;
constexpr unsigned kRowBlock = 256;  // the emulator's shape: one thread per row

// A row's parts, as lane `lane` of a warp owns them (classes lane, lane + 32, ...), shared by the
// warp kernels (GPU) and the row kernels (emulator, which run the 32 lanes and the warp's
// reduction tree in one thread: warp_reduce_serial). So both give the same bits.
__device__ __forceinline__ float lane_max(const float* l, int classes, int lane) {
  float m = -INFINITY;
  for (int j = lane; j < classes; j += 32) m = fmaxf(m, l[j]);
  return m;
}
// z_j = l_j - m <= 0; the row's sum of e^z is >= 1 unless the row holds NaN or +inf.
__device__ __forceinline__ void lane_sums(const float* l, int classes, int lane, float m,
                                          float& sum_exp, float& sum_z) {
  sum_exp = 0.0f;
  sum_z = 0.0f;
  for (int j = lane; j < classes; j += 32) {
    const float z = l[j] - m;
    sum_exp += expf(z);
    sum_z += z;
  }
}
struct Targets {
  float smoothing, on, off;  // off-target and on-target probabilities of the smoothed label
};
__device__ __forceinline__ Targets targets(float label_smoothing, int classes) {
  const float off = label_smoothing / static_cast<float>(classes);
  return {label_smoothing, 1.0f - label_smoothing + off, off};
}
__device__ __forceinline__ float row_loss(float label_logit, float m, float sum_exp, float sum_z,
                                          int classes, Targets t) {
  // -sum_j t_j (z_j - log_sum) = (1 - s) (log_sum - z_y) + (s / C) (C log_sum - sum_j z_j).
  const float log_sum = logf(sum_exp);
  float loss = (1.0f - t.smoothing) * (log_sum - (label_logit - m));
  if (t.smoothing > 0.0f) loss = fmaf(t.off, static_cast<float>(classes) * log_sum - sum_z, loss);
  return loss;
}
// Every logit of the row is read before any gradient of it is written (dlogits may alias logits),
// and a lane writes only the elements it alone read.
__device__ __forceinline__ void lane_grads(const float* l, float* d, int classes, int lane,
                                           int label, float m, float sum_exp, Targets t,
                                           float grad_scale) {
  const float inv_sum = 1.0f / sum_exp;
  for (int j = lane; j < classes; j += 32) {
    const float p = expf(l[j] - m) * inv_sum;
    d[j] = grad_scale * (p - (j == label ? t.on : t.off));
  }
}
// A label outside [0, classes): a NaN loss and gradient row, the other rows untouched.
__device__ __forceinline__ void bad_row(float* loss, float* d, int classes, int lane, int lanes) {
  if (lane == 0) *loss = NAN;
  if (d)
    for (int j = lane; j < classes; j += lanes) d[j] = NAN;
}

__global__ void __launch_bounds__(kBlock)
    softmax_xent_kernel(const float* logits, const std::int32_t* __restrict__ labels, int n,
                        int classes, float label_smoothing, float* __restrict__ losses,
                        float* dlogits, float grad_scale) {
  const int lane = threadIdx.x % 32;
  const int first_row = blockIdx.x * kWarps + threadIdx.x / 32;
  const int row_stride = gridDim.x * kWarps;
  const Targets t = targets(label_smoothing, classes);
  for (int row = first_row; row < n; row += row_stride) {
    const float* l = logits + static_cast<std::size_t>(row) * classes;
    float* d = dlogits ? dlogits + static_cast<std::size_t>(row) * classes : nullptr;
    const std::int32_t label = labels[row];
    if (label < 0 || label >= classes) {  // warp-uniform: every lane reads the same label
      bad_row(losses + row, d, classes, lane, 32);
      continue;
    }
    // Read before the warp reductions (which order the lanes): dlogits may alias logits.
    const float label_logit = l[label];
    const float m = warp_max(lane_max(l, classes, lane));
    float sum_exp, sum_z;
    lane_sums(l, classes, lane, m, sum_exp, sum_z);
    sum_exp = warp_sum(sum_exp);
    sum_z = warp_sum(sum_z);
    if (lane == 0) losses[row] = row_loss(label_logit, m, sum_exp, sum_z, classes, t);
    if (d) lane_grads(l, d, classes, lane, label, m, sum_exp, t, grad_scale);
  }
}

__global__ void __launch_bounds__(kRowBlock)
    softmax_xent_rows_kernel(const float* logits, const std::int32_t* __restrict__ labels, int n,
                             int classes, float label_smoothing, float* __restrict__ losses,
                             float* dlogits, float grad_scale) {
  const Targets t = targets(label_smoothing, classes);
  for (const std::size_t row : grid_range(static_cast<std::size_t>(n))) {
    const float* l = logits + row * classes;
    float* d = dlogits ? dlogits + row * classes : nullptr;
    const std::int32_t label = labels[row];
    if (label < 0 || label >= classes) {
      bad_row(losses + row, d, classes, 0, 1);
      continue;
    }
    const float label_logit = l[label];
    float lanes[32], lanes_z[32];
    for (int lane = 0; lane < 32; ++lane) lanes[lane] = lane_max(l, classes, lane);
    const float m = warp_reduce_serial(lanes, MaxCombine{});
    for (int lane = 0; lane < 32; ++lane)
      lane_sums(l, classes, lane, m, lanes[lane], lanes_z[lane]);
    const float sum_exp = warp_reduce_serial(lanes, AddCombine{});
    const float sum_z = warp_reduce_serial(lanes_z, AddCombine{});
    losses[row] = row_loss(label_logit, m, sum_exp, sum_z, classes, t);
    if (d)
      for (int lane = 0; lane < 32; ++lane)
        lane_grads(l, d, classes, lane, label, m, sum_exp, t, grad_scale);
  }
}

__device__ __forceinline__ ValueIndex lane_argmax(const float* l, int classes, int lane) {
  ValueIndex best{-INFINITY, kNoIndex};
  for (int j = lane; j < classes; j += 32) best = better_of(best, ValueIndex{l[j], j});
  return best;
}

__global__ void __launch_bounds__(kBlock)
    correct_kernel(const float* __restrict__ logits, const std::int32_t* __restrict__ labels, int n,
                   int classes, std::int32_t* __restrict__ correct) {
  const int lane = threadIdx.x % 32;
  const int first_row = blockIdx.x * kWarps + threadIdx.x / 32;
  const int row_stride = gridDim.x * kWarps;
  for (int row = first_row; row < n; row += row_stride) {
    const ValueIndex best =
        warp_argmax(lane_argmax(logits + static_cast<std::size_t>(row) * classes, classes, lane));
    if (lane == 0) correct[row] = best.index == static_cast<long long>(labels[row]) ? 1 : 0;
  }
}

__global__ void __launch_bounds__(kRowBlock)
    correct_rows_kernel(const float* __restrict__ logits, const std::int32_t* __restrict__ labels,
                        int n, int classes, std::int32_t* __restrict__ correct) {
  for (const std::size_t row : grid_range(static_cast<std::size_t>(n))) {
    ValueIndex lanes[32];
    for (int lane = 0; lane < 32; ++lane)
      lanes[lane] = lane_argmax(logits + row * classes, classes, lane);
    const ValueIndex best = warp_reduce_serial(lanes, ArgmaxCombine{});
    correct[row] = best.index == static_cast<long long>(labels[row]) ? 1 : 0;
  }
}

void check_rows(const char* what, int n, int classes) {
  GQ_CHECK(n >= 0, "{}: n must be >= 0 (got {})", what, n);
  GQ_CHECK(classes >= 1, "{}: classes must be >= 1 (got {})", what, classes);
}

unsigned row_blocks(int n) {
  return grid_stride_blocks((static_cast<std::size_t>(n) + kWarps - 1) / kWarps, 1);
}

}  // namespace

void softmax_xent(const float* logits, const std::int32_t* labels, int n, int classes,
                  float label_smoothing, float* losses, float* dlogits, float grad_scale,
                  stream_t stream) {
  check_rows("softmax_xent", n, classes);
  GQ_CHECK(label_smoothing >= 0.0f && label_smoothing <= 1.0f,
           "softmax_xent: label_smoothing must be in [0, 1] (got {})", label_smoothing);
  if (n == 0) return;
  if constexpr (kEmulatorShapes)
    launch(softmax_xent_rows_kernel, grid_stride_blocks(n, kRowBlock), kRowBlock, 0, stream, logits,
           labels, n, classes, label_smoothing, losses, dlogits, grad_scale);
  else
    launch(softmax_xent_kernel, row_blocks(n), kBlock, 0, stream, logits, labels, n, classes,
           label_smoothing, losses, dlogits, grad_scale);
}

void correct_predictions(const float* logits, const std::int32_t* labels, int n, int classes,
                         std::int32_t* correct, stream_t stream) {
  check_rows("correct_predictions", n, classes);
  if (n == 0) return;
  if constexpr (kEmulatorShapes)
    launch(correct_rows_kernel, grid_stride_blocks(n, kRowBlock), kRowBlock, 0, stream, logits,
           labels, n, classes, correct);
  else
    launch(correct_kernel, row_blocks(n), kBlock, 0, stream, logits, labels, n, classes, correct);
}

}  // namespace gq::kernels
