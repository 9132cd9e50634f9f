// Kernel launches, device copies and memsets issued since the process started: how many device
// operations a training step costs, whatever they compute (on a GPU each costs microseconds of
// launch overhead, so a step made of many small ones is launch-bound; docs/PERF.md "Launches per
// step"). Both builds count the same things: kernel launches through gq::launch (the emulator's
// own launch counter, or a counter in gq::launch under nvcc), and every copy (host to device,
// device to host, device to device) and memset through runtime/memory.h with a non-zero size.
// Not counted: calls into cuBLAS / cuDNN (OpenBLAS / oneDNN on the emulator), which the GPU's
// Grad Queue path does not make per cluster. Counters only grow; take differences around the
// work to measure. Relaxed atomics: one uncontended increment per operation.
// CUDA graphs (runtime/graph.h): work recorded in a capture is not counted then (it does not
// run); each replay counts what it runs, the same as issuing the captured sequence directly.
#pragma once

#include <cstdint>

namespace gq {

struct LaunchCounters {
  std::uint64_t launches = 0, copies = 0, memsets = 0;
  std::uint64_t total() const { return launches + copies + memsets; }
  friend LaunchCounters operator-(const LaunchCounters& a, const LaunchCounters& b) {
    return {a.launches - b.launches, a.copies - b.copies, a.memsets - b.memsets};
  }
};

LaunchCounters launch_counters();

namespace detail {
void count_launch();  // gq::launch under nvcc (the emulator counts in cuemu::launch)
void count_copy();    // runtime/memory.cpp
void count_memset();  // runtime/memory.cpp
// A GPU graph replay (runtime/graph.cpp); the emulator's replay counts each operation as it runs.
void count_replay(const LaunchCounters& graph);
}  // namespace detail

}  // namespace gq
