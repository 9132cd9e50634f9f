#include "runtime/nvtx.h"

#include <chrono>

#if GQ_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace gq {

#if GQ_WITH_CUDA
NvtxRange::NvtxRange(const char* name) {
  nvtxRangePushA(name);
}
NvtxRange::~NvtxRange() {
  nvtxRangePop();
}
void set_range_timing(bool) {}
std::vector<RangeTime> range_times() {
  return {};
}
void clear_range_times() {}
#else
namespace {

using Clock = std::chrono::steady_clock;

// Per thread: ranges are opened and closed by the thread that issues the work (the emulator's
// workers open none). Off by default: an untimed range costs one thread-local load.
struct RangeTimer {
  bool on = false;
  std::vector<std::pair<std::size_t, Clock::time_point>> open;  // (entry in table, start)
  std::vector<RangeTime> table;
};
thread_local RangeTimer t_timer;

}  // namespace

NvtxRange::NvtxRange(const char* name) {
  RangeTimer& t = t_timer;
  if (!t.on) return;
  std::string path = t.open.empty() ? name : t.table[t.open.back().first].path + "/" + name;
  std::size_t entry = 0;
  while (entry < t.table.size() && t.table[entry].path != path) ++entry;
  if (entry == t.table.size()) t.table.push_back({std::move(path), 0.0, 0});
  t.open.emplace_back(entry, Clock::now());
}

NvtxRange::~NvtxRange() {
  RangeTimer& t = t_timer;
  if (!t.on || t.open.empty()) return;  // timing was switched on inside this range
  const auto [entry, start] = t.open.back();
  t.open.pop_back();
  t.table[entry].seconds += std::chrono::duration<double>(Clock::now() - start).count();
  t.table[entry].calls += 1;
}

void set_range_timing(bool on) {
  t_timer.on = on;
  if (!on) t_timer.open.clear();
}
std::vector<RangeTime> range_times() {
  return t_timer.table;
}
void clear_range_times() {
  t_timer.table.clear();
}
#endif

}  // namespace gq
