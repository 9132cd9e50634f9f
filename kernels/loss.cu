// Softmax cross-entropy (loss + dlogits) and top-1 correctness over [n, classes] logits.
// Launch shape: one warp per row, kWarps rows per block of 32 * kWarps threads, blocks from
// grid_stride_blocks over the rows and each warp striding over rows; a lane strides over the
// classes and warp shuffles combine the lanes in a fixed order, so results are deterministic.
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

__global__ void __launch_bounds__(kBlock)
    softmax_xent_kernel(const float* logits, const std::int32_t* __restrict__ labels, int n,
                        int classes, float label_smoothing, float* __restrict__ losses,
                        float* dlogits, float grad_scale) {
  const int lane = threadIdx.x % 32;
  const int first_row = blockIdx.x * kWarps + threadIdx.x / 32;
  const int row_stride = gridDim.x * kWarps;
  const float off_target = label_smoothing / static_cast<float>(classes);
  const float on_target = 1.0f - label_smoothing + off_target;
  for (int row = first_row; row < n; row += row_stride) {
    const float* l = logits + static_cast<std::size_t>(row) * classes;
    float* d = dlogits ? dlogits + static_cast<std::size_t>(row) * classes : nullptr;
    const std::int32_t label = labels[row];
    if (label < 0 || label >= classes) {  // warp-uniform: every lane reads the same label
      if (lane == 0) losses[row] = NAN;
      if (d)
        for (int j = lane; j < classes; j += 32) d[j] = NAN;
      continue;
    }
    // Read before the warp reductions (which order the lanes): dlogits may alias logits.
    const float label_logit = l[label];
    float m = -INFINITY;
    for (int j = lane; j < classes; j += 32) m = fmaxf(m, l[j]);
    m = warp_max(m);
    // z_j = l_j - m <= 0; sum_exp >= 1 unless the row holds NaN or +inf.
    float sum_exp = 0.0f, sum_z = 0.0f;
    for (int j = lane; j < classes; j += 32) {
      const float z = l[j] - m;
      sum_exp += expf(z);
      sum_z += z;
    }
    sum_exp = warp_sum(sum_exp);
    sum_z = warp_sum(sum_z);
    const float log_sum = logf(sum_exp);
    if (lane == 0) {
      // -sum_j t_j (z_j - log_sum) = (1 - s) (log_sum - z_y) + (s / C) (C log_sum - sum_j z_j).
      float loss = (1.0f - label_smoothing) * (log_sum - (label_logit - m));
      if (label_smoothing > 0.0f)
        loss = fmaf(off_target, static_cast<float>(classes) * log_sum - sum_z, loss);
      losses[row] = loss;
    }
    if (d) {
      const float inv_sum = 1.0f / sum_exp;
      // Every logit is read before any gradient of the row is written (dlogits may alias logits),
      // and a lane writes only the elements it alone read.
      for (int j = lane; j < classes; j += 32) {
        const float p = expf(l[j] - m) * inv_sum;
        const float t = j == label ? on_target : off_target;
        d[j] = grad_scale * (p - t);
      }
    }
  }
}

__global__ void __launch_bounds__(kBlock)
    correct_kernel(const float* __restrict__ logits, const std::int32_t* __restrict__ labels, int n,
                   int classes, std::int32_t* __restrict__ correct) {
  const int lane = threadIdx.x % 32;
  const int first_row = blockIdx.x * kWarps + threadIdx.x / 32;
  const int row_stride = gridDim.x * kWarps;
  for (int row = first_row; row < n; row += row_stride) {
    const float* l = logits + static_cast<std::size_t>(row) * classes;
    ValueIndex best{-INFINITY, kNoIndex};
    for (int j = lane; j < classes; j += 32) best = better_of(best, ValueIndex{l[j], j});
    best = warp_argmax(best);
    if (lane == 0) correct[row] = best.index == static_cast<long long>(labels[row]) ? 1 : 0;
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
  launch(softmax_xent_kernel, row_blocks(n), kBlock, 0, stream, logits, labels, n, classes,
         label_smoothing, losses, dlogits, grad_scale);
}

void correct_predictions(const float* logits, const std::int32_t* labels, int n, int classes,
                         std::int32_t* correct, stream_t stream) {
  check_rows("correct_predictions", n, classes);
  if (n == 0) return;
  launch(correct_kernel, row_blocks(n), kBlock, 0, stream, logits, labels, n, classes, correct);
}

}  // namespace gq::kernels
