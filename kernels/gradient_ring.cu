// The gradient ring (kernels/gradient_ring.h): push with eviction into float64 running sums,
// statistics from the sums or from scratch, and the loss-EMA length rule, all reading the ring's
// state from device memory (no host round trip in a step).
// Launch shape: the per-parameter kernels are grid-stride maps (kBlock threads, grid from
// grid_stride_blocks, grid_range shares; every parameter is independent, so the result does not
// depend on the launch shape); the state updates are one thread.
// Slots are float or bf16 (GradientRing::slot_type): the kernels that touch them are templates
// over the slot type, loading with to_float and storing with stored_as (runtime/bf16.h), so the
// float instantiation is the plain fp32 code and bf16 differs only in the rounding on store.
// Memory traffic per push (bytes per parameter, s = 4 for float slots, 2 for bf16): g read 4 +
// slot write s + s per evicted entry (usually 1) + sum and sumsq read and written 32 = 44 (fp32)
// or 40 (bf16). Statistics from the sums: 16 read + 8 written = 24. Two-pass statistics:
// 2 s * count read + 8 written; recompute: s * count + 16.
// The running sums are double: float32 sums of g and g^2 drift by ~2% relative after 2,000 pushes
// (docs/GRADQUEUE.md §3.1); each element's additions and subtractions happen in push order on both
// devices, so the sums are identical on the GPU and the emulator.
#include "kernels/gradient_ring.h"

#include <algorithm>
#include <type_traits>

#include "runtime/bf16.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

// Slot of the i-th oldest held entry (i = 0 is the oldest).
__device__ __forceinline__ int held_slot(const RingState& s, int i) {
  int slot = s.head - s.count + i;
  return slot < 0 ? slot + s.qmax : slot;
}

// The value pushed is the one stored: g rounded to the slot type. The sums take that value, so
// the eviction's subtraction of the stored value cancels the push's addition exactly.
template <class Slot>
__global__ void __launch_bounds__(kBlock)
    push_kernel(Slot* __restrict__ slots, double* __restrict__ sum, double* __restrict__ sumsq,
                const RingState* state, const float* __restrict__ g, std::size_t p,
                const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  const RingState s = *state;
  const int evict = std::max(0, s.count - (s.qlen - 1));
  for (std::size_t j : grid_range(p)) {
    double acc = sum[j], acc2 = sumsq[j];
    for (int i = 0; i < evict; ++i) {
      const double old = to_float(slots[static_cast<std::size_t>(held_slot(s, i)) * p + j]);
      acc -= old;
      acc2 -= old * old;
    }
    const Slot v = stored_as<Slot>(g[j]);
    slots[static_cast<std::size_t>(s.head) * p + j] = v;
    const double dv = to_float(v);
    sum[j] = acc + dv;
    sumsq[j] = acc2 + dv * dv;
  }
}

__global__ void advance_kernel(RingState* state, const std::int32_t* apply) {
  if (apply && *apply == 0) return;
  RingState s = *state;
  const int evict = std::max(0, s.count - (s.qlen - 1));
  s.count = s.count - evict + 1;
  s.head = s.head + 1 == s.qmax ? 0 : s.head + 1;
  *state = s;
}

__global__ void update_length_kernel(RingState* state, const float* loss, float beta, float tol) {
  const float l = *loss;
  if (!isfinite(l)) return;
  RingState s = *state;
  if (!s.have_ema) {
    s.have_ema = 1;
    s.loss_ema = s.prev_ema = l;
  } else {
    s.prev_ema = s.loss_ema;
    s.loss_ema = beta * s.loss_ema + (1.0 - beta) * static_cast<double>(l);
    if (s.loss_ema < s.prev_ema * (1.0 - tol)) {
      s.qlen = std::min(s.qlen + 1, s.qmax);
    } else if (s.loss_ema > s.prev_ema * (1.0 + tol)) {
      s.qlen = std::max(s.qlen / 2, s.qmin);
    }
  }
  *state = s;
}

__global__ void set_length_kernel(RingState* state, int qlen) {
  state->qlen = std::min(std::max(qlen, state->qmin), state->qmax);
}

__global__ void __launch_bounds__(kBlock)
    statistics_kernel(const double* __restrict__ sum, const double* __restrict__ sumsq,
                      const RingState* state, float* __restrict__ mean, float* __restrict__ stddev,
                      std::size_t p) {
  const int count = state->count;
  const double inv = count > 0 ? 1.0 / count : 0.0;
  for (std::size_t j : grid_range(p)) {
    const double m = sum[j] * inv;
    const double var = std::max(0.0, sumsq[j] * inv - m * m);
    mean[j] = static_cast<float>(m);
    stddev[j] = static_cast<float>(sqrt(var));
  }
}

template <class Slot>
__global__ void __launch_bounds__(kBlock)
    statistics_two_pass_kernel(const Slot* __restrict__ slots, const RingState* state,
                               float* __restrict__ mean, float* __restrict__ stddev,
                               std::size_t p) {
  const RingState s = *state;
  for (std::size_t j : grid_range(p)) {
    double acc = 0.0;
    for (int i = 0; i < s.count; ++i)
      acc += to_float(slots[static_cast<std::size_t>(held_slot(s, i)) * p + j]);
    const double m = s.count > 0 ? acc / s.count : 0.0;
    double acc2 = 0.0;
    for (int i = 0; i < s.count; ++i) {
      const double d = to_float(slots[static_cast<std::size_t>(held_slot(s, i)) * p + j]) - m;
      acc2 += d * d;
    }
    mean[j] = static_cast<float>(m);
    stddev[j] = static_cast<float>(s.count > 0 ? sqrt(acc2 / s.count) : 0.0);
  }
}

template <class Slot>
__global__ void __launch_bounds__(kBlock)
    recompute_sums_kernel(const Slot* __restrict__ slots, const RingState* state,
                          double* __restrict__ sum, double* __restrict__ sumsq, std::size_t p) {
  const RingState s = *state;
  for (std::size_t j : grid_range(p)) {
    double acc = 0.0, acc2 = 0.0;
    for (int i = 0; i < s.count; ++i) {
      const double v = to_float(slots[static_cast<std::size_t>(held_slot(s, i)) * p + j]);
      acc += v;
      acc2 += v * v;
    }
    sum[j] = acc;
    sumsq[j] = acc2;
  }
}

void check_ring(const char* what, const GradientRing& ring) {
  GQ_CHECK(ring.state != nullptr, "{}: the ring state pointer is null", what);
  GQ_CHECK(ring.p >= 1, "{}: needs at least one parameter (p = {})", what, ring.p);
  GQ_CHECK(ring.slot_type == Precision::fp32 || ring.slot_type == Precision::bf16,
           "{}: unknown slot type {}", what, static_cast<int>(ring.slot_type));
}

// Calls f with the ring's slots as a pointer to their type (float* or bf16*).
template <class F>
void with_typed_slots(const GradientRing& ring, F&& f) {
  if (ring.slot_type == Precision::bf16)
    f(static_cast<bf16*>(ring.slots));
  else
    f(static_cast<float*>(ring.slots));
}

}  // namespace

RingState initial_ring_state(int qmin, int qmax, int qlen_init) {
  GQ_CHECK(qmin >= 1 && qmin <= qmax,
           "initial_ring_state: needs 1 <= qmin <= qmax (got qmin={}, qmax={})", qmin, qmax);
  RingState s{};
  s.head = 0;
  s.count = 0;
  s.qlen = std::clamp(qlen_init, qmin, qmax);
  s.qmin = qmin;
  s.qmax = qmax;
  s.have_ema = 0;
  s.loss_ema = s.prev_ema = 0.0;
  return s;
}

void ring_push(const GradientRing& ring, const float* g, stream_t stream,
               const std::int32_t* apply) {
  check_ring("ring_push", ring);
  GQ_CHECK(ring.slots && ring.sum && ring.sumsq && g,
           "ring_push: slots, sum, sumsq and g must be non-null");
  with_typed_slots(ring, [&](auto* slots) {
    using Slot = std::remove_pointer_t<decltype(slots)>;
    launch(push_kernel<Slot>, grid_stride_blocks(ring.p, kBlock), kBlock, 0, stream, slots,
           ring.sum, ring.sumsq, ring.state, g, ring.p, apply);
  });
  launch(advance_kernel, 1, 1, 0, stream, ring.state, apply);
}

void ring_update_length(RingState* state, const float* loss, float beta, float tol,
                        stream_t stream) {
  GQ_CHECK(state && loss, "ring_update_length: state and loss must be non-null");
  GQ_CHECK(beta >= 0.0f && beta < 1.0f, "ring_update_length: beta must be in [0, 1) (got {})",
           beta);
  GQ_CHECK(tol >= 0.0f && tol < 1.0f, "ring_update_length: tol must be in [0, 1) (got {})", tol);
  launch(update_length_kernel, 1, 1, 0, stream, state, loss, beta, tol);
}

void ring_set_length(RingState* state, int qlen, stream_t stream) {
  GQ_CHECK(state != nullptr, "ring_set_length: the ring state pointer is null");
  GQ_CHECK(qlen >= 1, "ring_set_length: qlen must be >= 1 (got {})", qlen);
  launch(set_length_kernel, 1, 1, 0, stream, state, qlen);
}

void ring_statistics(const GradientRing& ring, float* mean, float* stddev, stream_t stream) {
  check_ring("ring_statistics", ring);
  launch(statistics_kernel, grid_stride_blocks(ring.p, kBlock), kBlock, 0, stream, ring.sum,
         ring.sumsq, ring.state, mean, stddev, ring.p);
}

void ring_statistics_two_pass(const GradientRing& ring, float* mean, float* stddev,
                              stream_t stream) {
  check_ring("ring_statistics_two_pass", ring);
  with_typed_slots(ring, [&](auto* slots) {
    using Slot = std::remove_pointer_t<decltype(slots)>;
    launch(statistics_two_pass_kernel<Slot>, grid_stride_blocks(ring.p, kBlock), kBlock, 0,
           stream, static_cast<const Slot*>(slots), ring.state, mean, stddev, ring.p);
  });
}

void ring_recompute_sums(const GradientRing& ring, stream_t stream) {
  check_ring("ring_recompute_sums", ring);
  with_typed_slots(ring, [&](auto* slots) {
    using Slot = std::remove_pointer_t<decltype(slots)>;
    launch(recompute_sums_kernel<Slot>, grid_stride_blocks(ring.p, kBlock), kBlock, 0, stream,
           static_cast<const Slot*>(slots), ring.state, ring.sum, ring.sumsq, ring.p);
  });
}

}  // namespace gq::kernels
