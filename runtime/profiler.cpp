#include "runtime/profiler.h"

#if GQ_WITH_CUDA
#include <cuda_profiler_api.h>

#include "runtime/cuda_check.h"
#endif

namespace gq {

#if GQ_WITH_CUDA
void profiler_start() {
  GQ_CUDA_CHECK(cudaProfilerStart());
}
void profiler_stop() {
  GQ_CUDA_CHECK(cudaProfilerStop());
}
#else
void profiler_start() {}
void profiler_stop() {}
#endif

}  // namespace gq
