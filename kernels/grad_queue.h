// The Grad Queue's circular buffer of batch-mean gradients (docs/GRADQUEUE.md §3): qmax slots of
// p floats, float64 running sums of g and g^2 with eviction, and the loss-EMA length rule. The
// state (head, count, qlen, EMA) lives in device memory and is updated by tiny kernels, so a
// training step never waits on the host; host code reads it only for checkpoints and tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// Lives in device memory (upload initial_queue_state() once; restore it from a checkpoint).
struct QueueState {
  int head;   // slot the next push writes
  int count;  // entries held (<= qlen <= qmax after a push)
  int qlen;   // effective length, in [qmin, qmax]
  int qmin, qmax;
  int have_ema;  // 0 until the first finite loss
  double loss_ema, prev_ema;
};

// Initial state to upload: count 0, head 0, no EMA, qlen = qlen_init clamped to [qmin, qmax].
// Needs 1 <= qmin <= qmax.
QueueState initial_queue_state(int qmin, int qmax, int qlen_init);

// Appends g (p floats) to the queue. slots: qmax * p floats (slot s at slots + s * p); sum, sumsq:
// p doubles, the running sums of the held entries. First evicts the oldest entries so that
// count <= qlen - 1 (subtracting them from the sums, oldest first), then writes g at head and adds
// g and g^2 to the sums; then head and count advance. All on the device (two launches).
// apply (optional, device): when it holds 0 nothing changes (a skipped step's gradient, possibly
// non-finite, must not enter the queue).
void queue_push(float* slots, double* sum, double* sumsq, QueueState* state, const float* g,
                std::size_t p, stream_t stream = nullptr, const std::int32_t* apply = nullptr);

// The length rule (docs/GRADQUEUE.md §3.2) from this step's mean loss (a device scalar): the first
// finite loss sets L_0 = loss (no length change); afterwards L_t = beta L_{t-1} + (1 - beta) loss,
// and L_t < L_{t-1} (1 - tol) gives qlen = min(qlen + 1, qmax), L_t > L_{t-1} (1 + tol) gives
// qlen = max(qlen / 2, qmin). Shrinking evicts nothing now; the next push does. A non-finite loss
// leaves the state unchanged. prev_ema holds L_{t-1} after the update. One single-thread launch.
void queue_update_length(QueueState* state, const float* loss, float beta, float tol,
                         stream_t stream = nullptr);

// Fixed length (ablation "fixed qlen"): qlen = the host value, clamped on the device to
// [qmin, qmax] (the host does not know them without a round trip). Needs qlen >= 1.
void queue_set_length(QueueState* state, int qlen, stream_t stream = nullptr);

// Per-parameter mean and population standard deviation (divide by count) of the held entries,
// from the running sums: mean = sum / count, var = max(0, sumsq / count - mean^2) in double.
// count 0 gives mean 0, std 0.
void queue_statistics(const double* sum, const double* sumsq, const QueueState* state, float* mean,
                      float* stddev, std::size_t p, stream_t stream = nullptr);

// The same from scratch: two passes (mean, then squared deviations) in double over the held
// slots, oldest first. For tests and a periodic check of the running sums.
void queue_statistics_two_pass(const float* slots, const QueueState* state, float* mean,
                               float* stddev, std::size_t p, stream_t stream = nullptr);

// Recomputes sum and sumsq from the held slots, oldest first (re-anchoring the running sums, and
// after restoring a checkpoint of slots + state).
void queue_recompute_sums(const float* slots, const QueueState* state, double* sum, double* sumsq,
                          std::size_t p, stream_t stream = nullptr);

}  // namespace gq::kernels
