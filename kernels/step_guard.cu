// Skipped-step counters: one thread, two ints. Launch shape 1x1; memory traffic 12 bytes.
#include "kernels/step_guard.h"

#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

__global__ void track_skipped_steps_kernel(const std::int32_t* applied, std::int32_t* counters) {
  if (*applied) {
    counters[0] = 0;
  } else {
    ++counters[0];
    ++counters[1];
  }
}

}  // namespace

void track_skipped_steps(const std::int32_t* applied, std::int32_t* counters, stream_t stream) {
  launch(track_skipped_steps_kernel, 1, 1, 0, stream, applied, counters);
}

}  // namespace gq::kernels
