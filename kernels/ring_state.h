// Grad Queue's ring state (kernels/gradient_ring.h): plain data, apart from the kernels so that
// host-only code (the checkpoint reader's checks and its fuzzer) can read it without a device.
#pragma once

namespace gq::kernels {

// Lives in device memory (upload initial_ring_state() once; restore it from a checkpoint).
struct RingState {
  int head;   // slot the next push writes
  int count;  // entries held (<= qlen <= qmax after a push)
  int qlen;   // effective length, in [qmin, qmax]
  int qmin, qmax;
  int have_ema;  // 0 until the first finite loss
  double loss_ema, prev_ema;
};

}  // namespace gq::kernels
