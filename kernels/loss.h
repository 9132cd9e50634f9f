// Classification loss kernels: softmax cross-entropy with label smoothing (loss and gradient in one
// pass) and top-1 correctness. logits are [n, classes] row-major float32; labels int32.
#pragma once

#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// Per-sample softmax cross-entropy with label smoothing s in [0, 1]:
// target = (1 - s) * onehot(label) + s / classes,
// losses[i] = -sum_j target_ij * log_softmax(logits_i)_j (stable: the row max is subtracted).
// If dlogits != nullptr: dlogits[i][j] = grad_scale * (softmax_ij - target_ij) (pass
// grad_scale = 1 / n for a mean loss). dlogits may alias logits.
// A label outside [0, classes) is a bug upstream: that row gets a NaN loss (and NaN dlogits), so
// it cannot go unnoticed; nothing is read out of bounds.
void softmax_xent(const float* logits, const std::int32_t* labels, int n, int classes,
                  float label_smoothing, float* losses, float* dlogits, float grad_scale,
                  stream_t stream = nullptr);

// correct[i] = 1 if argmax(logits_i) (the first maximum; NaNs ignored) == labels[i], else 0.
void correct_predictions(const float* logits, const std::int32_t* labels, int n, int classes,
                         std::int32_t* correct, stream_t stream = nullptr);

}  // namespace gq::kernels
