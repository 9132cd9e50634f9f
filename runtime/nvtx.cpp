#include "runtime/nvtx.h"

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
#else
NvtxRange::NvtxRange(const char*) {}
NvtxRange::~NvtxRange() {}
#endif

}  // namespace gq
