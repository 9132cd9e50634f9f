// begin_step: one block. Every thread reads `next` before the barrier; thread 0 then advances the
// scalars while the block copies the batch's indices (b ints: a few KiB at most).
#include "kernels/step_scalars.h"

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = kEmulatorShapes ? 1 : 256;

__global__ void __launch_bounds__(kBlock)
    begin_step_kernel(StepScalars* s, StepSchedule schedule, std::int32_t* __restrict__ batch,
                      int b) {
  const std::uint64_t step = s->next;
  __syncthreads();  // every thread has read `next` before thread 0 advances it
  if (threadIdx.x == 0) {
    s->step = step;
    s->next = step + 1;
    s->lr = schedule.lr[step < schedule.steps ? step : schedule.steps - 1];
  }
  const std::int32_t* src = schedule.permutation +
                            (step % schedule.steps_per_epoch) * schedule.global_batch +
                            schedule.first;
  for (int i = static_cast<int>(threadIdx.x); i < b; i += static_cast<int>(blockDim.x))
    batch[i] = src[i];
}

}  // namespace

void begin_step(StepScalars* s, const StepSchedule& schedule, std::int32_t* batch, int b,
                stream_t stream) {
  GQ_CHECK(s && schedule.lr && schedule.permutation && batch, "begin_step: null device pointer");
  GQ_CHECK(schedule.steps > 0 && schedule.steps_per_epoch > 0 && b > 0 && schedule.first >= 0 &&
               schedule.first + b <= schedule.global_batch,
           "begin_step: needs steps, steps_per_epoch, b > 0 and first + b <= global_batch (got "
           "{}, {}, {}, {} + {} vs {})",
           schedule.steps, schedule.steps_per_epoch, b, schedule.first, b, schedule.global_batch);
  launch(begin_step_kernel, 1, kBlock, 0, stream, s, schedule, batch, b);
}

}  // namespace gq::kernels
