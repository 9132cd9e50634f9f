// Bookkeeping of skipped steps on the device, so skipping needs no host round-trip.
#pragma once

#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// counters[0] = consecutive skipped steps (reset by an applied step), counters[1] = total skipped.
// applied: device int, 0 for a skipped step.
void track_skipped_steps(const std::int32_t* applied, std::int32_t* counters,
                         stream_t stream = nullptr);

}  // namespace gq::kernels
