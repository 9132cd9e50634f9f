// NVTX ranges for Nsight Systems timelines: RAII push/pop. In the emulator build the same ranges
// can time themselves instead (set_range_timing): the emulator runs each operation when it is
// issued, so the host time spent inside a range is its device time, and gq-bench prints where a
// training step's time goes from them. On the GPU that is Nsight Systems' job: ranges are not
// timed there and range_times() stays empty.
#pragma once

#include <string>
#include <vector>

namespace gq {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  explicit NvtxRange(const std::string& name) : NvtxRange(name.c_str()) {}
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

// Time spent in the ranges of the calling thread while timing was on, by path ("train_step/loss":
// the names of the enclosing ranges and its own, joined by '/'), in the order first entered.
struct RangeTime {
  std::string path;
  double seconds = 0;
  long calls = 0;
};
void set_range_timing(bool on);  // emulator build only; a no-op on the GPU
std::vector<RangeTime> range_times();
void clear_range_times();

}  // namespace gq

// Names the range after the enclosing function.
#define GQ_NVTX_FUNCTION() ::gq::NvtxRange gq_nvtx_function_range_(__func__)
