// The scalars of a training step that its kernels read from device memory
// (runtime/device_scalar.h), and the kernel that advances them at the start of every step.
// Why on the device: a CUDA graph replays the captured launches with the capture's arguments, so
// a step captured once sees each replay's step number, learning rate and batch only through
// memory; and because begin_step advances them in stream order, the host may issue steps ahead of
// the device without overwriting a value that an earlier step has yet to read (a host-written
// staging buffer could be).
#pragma once

#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

struct StepScalars {   // device memory
  std::uint64_t step;  // the step being taken: how many were taken before it
  std::uint64_t next;  // the step the next begin_step takes (the host sets it on a resume)
  float lr;            // the learning rate of `step`
};

struct StepSchedule {  // what begin_step reads; fixed for a run
  const float* lr;     // device: the learning rate of every step s < steps
  std::uint64_t steps;
  const std::int32_t* permutation;  // device: the epoch's sample order (rewritten per epoch)
  std::uint64_t steps_per_epoch;
  int global_batch;  // samples per step, all processes together
  int first;         // this process's first position in each batch
};

// step = next, next = step + 1, lr = schedule.lr[step] (the last entry past the table), and this
// process's b sample indices of the step's batch:
//   batch[i] = permutation[(step % steps_per_epoch) * global_batch + first + i], i < b.
// One launch of one block.
void begin_step(StepScalars* s, const StepSchedule& schedule, std::int32_t* batch, int b,
                stream_t stream = nullptr);

}  // namespace gq::kernels
