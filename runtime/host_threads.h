// Host thread policy for the emulator build.
#pragma once

#include <initializer_list>

namespace gq {

// Call first in main(). In the emulator build, when OMP_WAIT_POLICY is unset, re-executes the
// program once with OMP_WAIT_POLICY=passive (libgomp reads it before main runs, so setting it
// later has no effect). Why: after every oneDNN call its OpenMP threads otherwise spin for a while,
// taking a core from the emulator's workers; measured on this 2-core machine, mnist-cnn training
// ran at 210 img/s spinning and 851 img/s passive. No-op in the GPU build or when the variable is
// set (set it to `active` to keep spinning).
void prefer_passive_openmp(char** argv);

// Runs the handlers of these process-directed signals (SIGINT, SIGTERM, ...) on a thread of their
// own: blocks them in the calling thread, and so in every thread it starts afterwards, and starts
// one thread that takes them. Call before the program starts threads that compute (the emulator's
// workers, OpenMP's team); install the handlers with sigaction as usual.
// Why: a handler's frame is pushed below the stack pointer of whichever thread the kernel picks,
// and oneDNN 2.6's threaded sgemm does not survive that on the thread that runs it: a no-op
// handler run there now and then corrupted the heap ("corrupted size vs. prev_size"), crashed or
// hung the parallel region (tests/runtime/test_host_threads.cpp). Handlers on their own thread
// never interrupt library or emulated-kernel code (nor land on an emulator fiber's stack).
void handle_signals_on_own_thread(std::initializer_list<int> signals);

}  // namespace gq
