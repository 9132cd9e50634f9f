// The ring buffer of recent batch-mean gradients behind Grad Queue's statistics (docs/GRADQUEUE.md
// §3): qmax slots of p floats, float64 running sums of g and g^2 with eviction, and the loss-EMA
// length rule. The state (head, count, qlen, EMA) lives in device memory and is updated by tiny
// kernels, so a training step never waits on the host; host code reads it only for checkpoints
// and tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ring_state.h"
#include "runtime/precision.h"
#include "runtime/stream.h"

namespace gq::kernels {

// Initial state to upload: count 0, head 0, no EMA, qlen = qlen_init clamped to [qmin, qmax].
// Needs 1 <= qmin <= qmax.
RingState initial_ring_state(int qmin, int qmax, int qlen_init);

// The ring: device memory the caller owns, passed by value.
struct GradientRing {
  void* slots = nullptr;    // qmax x p values of slot_type (slot s at element s * p)
  double* sum = nullptr;    // p: running sum of the held entries
  double* sumsq = nullptr;  // p: running sum of their squares
  RingState* state = nullptr;
  std::size_t p = 0;
  int qmax = 0;  // slots allocated (the state's qmax must not exceed it)
  // fp32: float slots. bf16: gq::bf16 slots (runtime/bf16.h), half the memory: a push rounds g to
  // bf16 (nearest even) and adds the rounded value to the sums, so that an eviction subtracts
  // exactly what was added. The sums stay float64 either way.
  Precision slot_type = Precision::fp32;
};

// What scarcity_combine reads from the ring: the per-parameter statistics and the state (warm-up
// and the noise scale depend on the entries held).
struct RingStatistics {
  const float* mean = nullptr;    // p
  const float* stddev = nullptr;  // p
  const RingState* state = nullptr;
};

// Appends g (p floats). First evicts the oldest entries so that count <= qlen - 1 (subtracting
// them from the sums, oldest first), then writes g at head and adds g and g^2 to the sums; then
// head and count advance. All on the device (two launches). With bf16 slots, "g" is g rounded to
// bf16 (a NaN becomes the canonical NaN, a value beyond bf16's range infinity), in the slot and
// in the sums alike.
// apply (optional, device): when it holds 0 nothing changes (a skipped step's gradient, possibly
// non-finite, must not enter the ring).
void ring_push(const GradientRing& ring, const float* g, stream_t stream = nullptr,
               const std::int32_t* apply = nullptr);

// The length rule (docs/GRADQUEUE.md §3.2) from this step's mean loss (a device scalar): the first
// finite loss sets L_0 = loss (no length change); afterwards L_t = beta L_{t-1} + (1 - beta) loss,
// and L_t < L_{t-1} (1 - tol) gives qlen = min(qlen + 1, qmax), L_t > L_{t-1} (1 + tol) gives
// qlen = max(qlen / 2, qmin). Shrinking evicts nothing now; the next push does. A non-finite loss
// leaves the state unchanged. prev_ema holds L_{t-1} after the update. One single-thread launch.
void ring_update_length(RingState* state, const float* loss, float beta, float tol,
                        stream_t stream = nullptr);

// Fixed length (ablation "fixed qlen"): qlen = the host value, clamped on the device to
// [qmin, qmax] (the host does not know them without a round trip). Needs qlen >= 1.
void ring_set_length(RingState* state, int qlen, stream_t stream = nullptr);

// Per-parameter mean and population standard deviation (divide by count) of the held entries,
// from the running sums: mean = sum / count, var = max(0, sumsq / count - mean^2) in double.
// count 0 gives mean 0, std 0.
void ring_statistics(const GradientRing& ring, float* mean, float* stddev,
                     stream_t stream = nullptr);

// The same from scratch: two passes (mean, then squared deviations) in double over the held
// slots, oldest first. For tests and a periodic check of the running sums.
void ring_statistics_two_pass(const GradientRing& ring, float* mean, float* stddev,
                              stream_t stream = nullptr);

// Recomputes ring.sum and ring.sumsq from the held slots, oldest first (re-anchoring the running
// sums, and after restoring a checkpoint of slots + state).
void ring_recompute_sums(const GradientRing& ring, stream_t stream = nullptr);

}  // namespace gq::kernels
