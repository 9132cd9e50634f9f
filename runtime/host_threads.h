// Host thread policy for the emulator build.
#pragma once

namespace gq {

// Call first in main(). In the emulator build, when OMP_WAIT_POLICY is unset, re-executes the
// program once with OMP_WAIT_POLICY=passive (libgomp reads it before main runs, so setting it
// later has no effect). Why: after every oneDNN call its OpenMP threads otherwise spin for a while,
// taking a core from the emulator's workers; measured on this 2-core machine, mnist-cnn training
// ran at 210 img/s spinning and 851 img/s passive. No-op in the GPU build or when the variable is
// set (set it to `active` to keep spinning).
void prefer_passive_openmp(char** argv);

}  // namespace gq
