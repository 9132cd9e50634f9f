// Grad Queue's ring as read from a checkpoint, checked before it is uploaded. A checkpoint is
// untrusted input: its checksum catches rot, not forgery, and a ring whose head or count points
// outside the slots would make the next push write past them. So every field is held to the ring's
// invariants and the run's settings, and every value a step reads must be finite.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/ring_state.h"
#include "runtime/precision.h"
#include "runtime/train/checkpoint.h"

namespace gq::train {

struct RestoredRing {
  const kernels::RingState& state;
  std::span<const float> slots;  // qmax x p as allocated for this run (bf16 slots widened)
  std::span<const double> sum, sumsq;
  std::span<const std::int32_t> skips;  // consecutive, total
  std::size_t p;
};

// Throws gq::Error naming `path`, the field and what was expected: the state's qmin / qmax must be
// this run's (qmin, qmax); 0 <= head < qmax; 0 <= count <= qmax; qmin <= qlen <= qmax; have_ema
// 0 or 1, with finite loss EMAs when 1; finite sums and sums of squares (not >= 0: rounding in the
// running sum leaves tiny negatives where the true value is 0); the held slots finite
// (the others are never read, and hold whatever the device had); skips >= 0.
void check_restored_ring(const RestoredRing& ring, int qmin, int qmax, const std::string& path);

// Grad Queue's sections of a checkpoint (gq.slots, gq.sum, gq.sumsq, gq.state, gq.skips) for a
// ring of qmax slots of p values of `slot_type` (--gq-ring-precision: gq.slots holds the bf16 bits
// two to a float, the last float zero-padded when qmax x p is odd), unpacked and checked as above:
// what GradQueue::load uploads. gq::Error naming `path` and the section when one is missing or of
// another size.
struct RingSections {
  std::vector<float> slots;  // widened from bf16 with bf16 slots
  std::vector<double> sum, sumsq;
  kernels::RingState state{};
  std::vector<std::int32_t> skips;
};
RingSections read_ring_sections(const Checkpoint& ck, std::size_t p, int qmin, int qmax,
                                Precision slot_type, const std::string& path);

}  // namespace gq::train
