// A parameter group's apply flag decided on the device from the step counter: the group trains
// before a given step and is frozen from then on (airbench94's whitening bias: requires_grad =
// False after 3 epochs), with no host synchronisation, inside a captured step.
#pragma once

#include <cstdint>

#include "runtime/device_scalar.h"
#include "runtime/stream.h"

namespace gq::kernels {

// out[0] = 1 when step < until and (apply is null or *apply != 0), else 0. step is the number of
// steps taken before this one (read on the device when it is device memory). One thread.
void gate_before_step(DeviceScalar<std::uint64_t> step, std::uint64_t until,
                      const std::int32_t* apply, std::int32_t* out, stream_t stream = nullptr);

}  // namespace gq::kernels
