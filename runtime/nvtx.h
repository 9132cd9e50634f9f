// NVTX ranges for Nsight Systems timelines: RAII push/pop. No-ops in the emulator build.
#pragma once

#include <string>

namespace gq {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  explicit NvtxRange(const std::string& name) : NvtxRange(name.c_str()) {}
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace gq

// Names the range after the enclosing function.
#define GQ_NVTX_FUNCTION() ::gq::NvtxRange gq_nvtx_function_range_(__func__)
