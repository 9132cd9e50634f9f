// Brackets the region Nsight Systems / Nsight Compute capture when run with
// --capture-range=cudaProfilerApi (nsys) or --profile-from-start off (ncu). No-ops on the emulator.
#pragma once

namespace gq {
void profiler_start();
void profiler_stop();
}  // namespace gq
