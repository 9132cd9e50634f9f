#include "runtime/launch_counters.h"

#include <atomic>

#if !GQ_WITH_CUDA
#include "runtime/cuemu/api.h"
#include "runtime/emulated_streams.h"
#endif

namespace gq {
namespace {
// The device's operation counters: process-wide like the device itself (the emulator keeps its
// launch count with its other device state; the copies and memsets of both builds live here).
struct Counters {
  std::atomic<std::uint64_t> launches{0}, copies{0}, memsets{0};
};
Counters& counters() {
  static Counters c;
  return c;
}
}  // namespace

LaunchCounters launch_counters() {
  Counters& c = counters();
#if GQ_WITH_CUDA
  const std::uint64_t launches = c.launches.load(std::memory_order_relaxed);
  const LaunchCounters issued{};
#else
  const std::uint64_t launches = cuemu::launch_count();
  const LaunchCounters issued = detail::pending_counts();  // counted when issued, as on a GPU
#endif
  return {launches + issued.launches, c.copies.load(std::memory_order_relaxed) + issued.copies,
          c.memsets.load(std::memory_order_relaxed) + issued.memsets};
}

namespace detail {
void count_launch() {
  counters().launches.fetch_add(1, std::memory_order_relaxed);
}
void count_copy() {
  counters().copies.fetch_add(1, std::memory_order_relaxed);
}
void count_memset() {
  counters().memsets.fetch_add(1, std::memory_order_relaxed);
}
void count_replay(const LaunchCounters& graph) {
  Counters& c = counters();
  c.launches.fetch_add(graph.launches, std::memory_order_relaxed);
  c.copies.fetch_add(graph.copies, std::memory_order_relaxed);
  c.memsets.fetch_add(graph.memsets, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace gq
